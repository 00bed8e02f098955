"""``python3 -m ultra_env.backend.worker``: runs the analyses queued with ``"background": true``.

It claims the oldest queued row (``FOR UPDATE SKIP LOCKED``: several workers never take the same
one), asks its models, stores the answers, and touches a heartbeat file that its healthcheck
reads. A stop signal ends it between two analyses.

A job that cannot be run or whose answers cannot be stored is marked ``failed`` (each model's
entry saying why) and the worker goes on to the next; a job left ``running`` by a worker that
died is taken again once its lease is over, and failed after ``store.MAX_ATTEMPTS`` takes.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from threading import Event
from typing import Any

from ultra_env.backend import analysis
from ultra_env.backend.redaction import Redactor
from ultra_env.backend.settings import BackendConfig, SettingError, from_env
from ultra_env.backend.store import MAX_ATTEMPTS, Store, StoreError
from ultra_env.backend.targets import select, targets
from ultra_env.llm.providers.registry import Target

HEARTBEAT = Path(os.environ.get("WORKER_HEARTBEAT", "/tmp/worker-heartbeat"))
IDLE_S = 1.0
LOG = logging.getLogger("ultra_env.backend.worker")


def lease_s(config: BackendConfig) -> float:
    """How long a claimed job may run before another worker may take it: well past its models' timeout."""
    return 3 * config.timeout_s + 60


def failed(job: dict[str, Any], kind: str, message: str) -> list[dict[str, Any]]:
    """A failed job's results: one entry per model asked, each with the reason."""
    models = job.get("models") if isinstance(job.get("models"), list) else []
    return [
        {"provider": None, "model": str(name), "text": "", "error": {"kind": kind, "message": message}}
        for name in (models or ["?"])
    ]


def run_job(job: dict[str, Any], available: list[Target], config: BackendConfig, redact: Redactor) -> list[dict]:
    prompt, models, max_tokens = job["prompt"], job["models"], job["max_tokens"]
    if not isinstance(prompt, str) or not isinstance(models, list) or not isinstance(max_tokens, int):
        raise ValueError("the queued row is not an analysis (prompt, models, max_tokens)")
    chosen, unknown = select(available, [str(m) for m in models])
    results = analysis.run(chosen, prompt, max_tokens=max_tokens, timeout=config.timeout_s, redact=redact)
    return results + [
        {
            "provider": None,
            "model": name,
            "text": "",
            "error": {"kind": "unknown_model", "message": "not enabled when the worker ran it"},
        }
        for name in unknown
    ]


def handle(job: dict[str, Any], store: Store, available: list[Target], config: BackendConfig, redact: Redactor) -> None:
    """One claimed job to its end: done, or failed with the reason; never raises but StoreError
    (the database is gone: the lease gives the job to a later claim)."""
    if job.get("attempts", 1) > MAX_ATTEMPTS:
        message = f"a worker stopped while running it, {MAX_ATTEMPTS} times"
        store.finish(job["id"], failed(job, "worker_died", message), status="failed")
        LOG.warning("analysis %s: failed (%s)", job["id"], message)
        return
    try:
        results = run_job(job, available, config, redact)
    except Exception as exc:  # a bad job must not take the worker down
        LOG.warning("analysis %s: failed (%s)", job["id"], redact(f"{type(exc).__name__}: {exc}"))
        reason = f"the worker could not run it ({type(exc).__name__})"
        store.finish(job["id"], failed(job, "internal", reason), status="failed")
        return
    try:
        store.finish(job["id"], results)
    except StoreError as exc:
        LOG.warning("analysis %s: answers not stored: %s", job["id"], redact(str(exc)))
        store.finish(job["id"], failed(job, "not_stored", f"the answers could not be stored: {exc}"), status="failed")
        return
    LOG.info("analysis %s: %d answers", job["id"], sum(r.get("error") is None for r in results))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="worker: %(message)s")
    try:
        config = from_env(os.environ)
    except SettingError as exc:
        sys.exit(f"worker: {exc}")
    redact = Redactor(config.secrets)
    if not config.database_url:
        sys.exit("worker: DATABASE_URL is not set: queued analyses live in the database")
    store = Store(config.database_url)
    available = targets(config)
    stopping = Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    LOG.info("waiting for queued analyses (%d models enabled)", len(available))
    while not stopping.is_set():
        HEARTBEAT.touch()
        try:
            job = store.claim(lease_s(config))
            if job is None:
                stopping.wait(IDLE_S)
                continue
            handle(job, store, available, config, redact)
        except StoreError as exc:
            LOG.warning("%s", redact(str(exc)))
            stopping.wait(IDLE_S * 5)


if __name__ == "__main__":
    main()
