"""Analyses in PostgreSQL: the stack's database holds real data, kept across profile switches,
``down`` and ``up`` (it lives in the ``postgres-data`` volume).

One connection, reopened when it breaks, guarded by a lock: analyses are few and each one waits
on models for far longer than on its row.

Any text is kept as it came, NUL and lone surrogates included (a prompt may hold them, and so may
a model's answer): PostgreSQL's ``text`` refuses NUL and ``jsonb`` refuses both, so the prompt and
the results are ``json`` columns holding JSON with those characters escaped (``\\u0000``), which
PostgreSQL keeps verbatim and which reads back as the same Python strings. A database made by an
older backend (``prompt text``, ``results jsonb``) is converted in place, once.

Queued analyses are claimed with a lease: a row left ``running`` by a worker that died is taken
again once its lease is over, and one that has been taken ``MAX_ATTEMPTS`` times is failed.
"""

from __future__ import annotations

import json
import threading
from typing import Any

SCHEMA = """
SELECT pg_advisory_lock(7207);
CREATE TABLE IF NOT EXISTS analyses (
    id          BIGSERIAL PRIMARY KEY,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    profile     TEXT NOT NULL,
    prompt      JSON NOT NULL,
    models      JSONB NOT NULL,
    max_tokens  INTEGER NOT NULL,
    status      TEXT NOT NULL DEFAULT 'done',
    results     JSON
);
ALTER TABLE analyses ADD COLUMN IF NOT EXISTS claimed_at TIMESTAMPTZ;
ALTER TABLE analyses ADD COLUMN IF NOT EXISTS attempts INTEGER NOT NULL DEFAULT 0;
DO $$ BEGIN
    IF (SELECT data_type FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'analyses' AND column_name = 'prompt') = 'text' THEN
        ALTER TABLE analyses ALTER COLUMN prompt TYPE JSON USING to_json(prompt);
    END IF;
    IF (SELECT data_type FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'analyses' AND column_name = 'results') = 'jsonb' THEN
        ALTER TABLE analyses ALTER COLUMN results TYPE JSON USING results::json;
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS analyses_queued ON analyses (id) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS analyses_running ON analyses (id) WHERE status = 'running';
SELECT pg_advisory_unlock(7207);
"""
COLUMNS = "id, created_at, profile, prompt, models, max_tokens, status, results"
MAX_ATTEMPTS = 3


def _json(value: Any) -> str:
    """JSON that PostgreSQL's json type keeps whatever the strings hold: ASCII, every NUL and
    surrogate escaped."""
    return json.dumps(value, ensure_ascii=True, allow_nan=False)


class StoreError(Exception):
    """The database cannot be reached or refused a statement (the message holds no credentials)."""


def _row(row: tuple) -> dict[str, Any]:
    id_, created, profile, prompt, models, max_tokens, status, results = row
    return {
        "id": id_,
        "created_at": created.isoformat(),
        "profile": profile,
        "prompt": prompt,
        "models": models,
        "max_tokens": max_tokens,
        "status": status,
        "results": results,
    }


class Store:
    def __init__(self, url: str, connect_timeout: float = 5.0) -> None:
        self._url = url
        self._timeout = connect_timeout
        self._conn: Any = None
        self._lock = threading.Lock()

    def _execute(self, sql: str, params: tuple = (), *, fetch: str | None = None) -> Any:
        import psycopg

        with self._lock:
            for attempt in (1, 2):  # once more on a fresh connection: the database may have restarted
                try:
                    if self._conn is None or self._conn.closed:
                        conn = psycopg.connect(self._url, autocommit=True, connect_timeout=int(self._timeout))
                        try:
                            conn.execute(SCHEMA)  # idempotent: the table exists whenever a connection does
                        except BaseException:
                            conn.close()  # and with it the schema's advisory lock
                            raise
                        self._conn = conn
                    with self._conn.cursor() as cursor:
                        cursor.execute(sql, params)
                        if fetch == "one":
                            return cursor.fetchone()
                        if fetch == "all":
                            return cursor.fetchall()
                        return None
                except psycopg.OperationalError as exc:
                    self._conn = None
                    if attempt == 2:
                        raise StoreError(f"the database is not reachable ({type(exc).__name__})") from None
                except psycopg.Error as exc:
                    raise StoreError(f"the database refused a statement ({type(exc).__name__})") from None
                except (ValueError, TypeError) as exc:  # a value psycopg cannot send (a surrogate in a text column)
                    raise StoreError(f"the database could not be sent a value ({type(exc).__name__})") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def ping(self) -> None:
        self._execute("SELECT 1", fetch="one")

    def save(
        self,
        profile: str,
        prompt: str,
        models: list[str],
        max_tokens: int,
        results: list[dict] | None,
        *,
        status: str = "done",
    ) -> int:
        row = self._execute(
            "INSERT INTO analyses (profile, prompt, models, max_tokens, status, results) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (profile, _json(prompt), _json(models), max_tokens, status, None if results is None else _json(results)),
            fetch="one",
        )
        return int(row[0])

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self._execute(f"SELECT {COLUMNS} FROM analyses ORDER BY id DESC LIMIT %s", (limit,), fetch="all")
        return [_row(r) for r in rows]

    def get(self, analysis_id: int) -> dict[str, Any] | None:
        row = self._execute(f"SELECT {COLUMNS} FROM analyses WHERE id = %s", (analysis_id,), fetch="one")
        return None if row is None else _row(row)

    def claim(self, lease_s: float) -> dict[str, Any] | None:
        """The oldest queued analysis, or one whose worker has held it past ``lease_s`` (it died),
        marked running (for the worker; one claimer wins each row). ``attempts`` says how many
        times it has been taken."""
        row = self._execute(
            "UPDATE analyses SET status = 'running', claimed_at = now(), attempts = attempts + 1 "
            "WHERE id = (SELECT id FROM analyses WHERE status = 'queued' OR (status = 'running' "
            "AND coalesce(claimed_at, created_at) < now() - make_interval(secs => %s)) "
            f"ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING {COLUMNS}, attempts",
            (lease_s,),
            fetch="one",
        )
        if row is None:
            return None
        return {**_row(row[:-1]), "attempts": row[-1]}

    def finish(self, analysis_id: int, results: list[dict], status: str = "done") -> None:
        self._execute(
            "UPDATE analyses SET status = %s, results = %s WHERE id = %s", (status, _json(results), analysis_id)
        )
