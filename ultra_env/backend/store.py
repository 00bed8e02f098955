"""Analyses in PostgreSQL: the stack's database holds real data, kept across profile switches,
``down`` and ``up`` (it lives in the ``postgres-data`` volume).

One connection, reopened when it breaks, guarded by a lock: analyses are few and each one waits
on models for far longer than on its row.
"""

from __future__ import annotations

import json
import threading
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS analyses (
    id          BIGSERIAL PRIMARY KEY,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    profile     TEXT NOT NULL,
    prompt      TEXT NOT NULL,
    models      JSONB NOT NULL,
    max_tokens  INTEGER NOT NULL,
    status      TEXT NOT NULL DEFAULT 'done',
    results     JSONB
);
CREATE INDEX IF NOT EXISTS analyses_queued ON analyses (id) WHERE status = 'queued';
"""
COLUMNS = "id, created_at, profile, prompt, models, max_tokens, status, results"


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
                        conn.execute(SCHEMA)  # idempotent: the table exists whenever a connection does
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
        raise AssertionError("unreachable")

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
            (profile, prompt, json.dumps(models), max_tokens, status, None if results is None else json.dumps(results)),
            fetch="one",
        )
        return int(row[0])

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self._execute(f"SELECT {COLUMNS} FROM analyses ORDER BY id DESC LIMIT %s", (limit,), fetch="all")
        return [_row(r) for r in rows]

    def get(self, analysis_id: int) -> dict[str, Any] | None:
        row = self._execute(f"SELECT {COLUMNS} FROM analyses WHERE id = %s", (analysis_id,), fetch="one")
        return None if row is None else _row(row)

    def claim(self) -> dict[str, Any] | None:
        """The oldest queued analysis, marked running (for the worker; one claimer wins each row)."""
        row = self._execute(
            f"UPDATE analyses SET status = 'running' WHERE id = (SELECT id FROM analyses WHERE status = 'queued' "
            f"ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING {COLUMNS}",
            fetch="one",
        )
        return None if row is None else _row(row)

    def finish(self, analysis_id: int, results: list[dict]) -> None:
        self._execute(
            "UPDATE analyses SET status = 'done', results = %s WHERE id = %s", (json.dumps(results), analysis_id)
        )
