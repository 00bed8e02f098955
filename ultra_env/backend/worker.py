"""``python3 -m ultra_env.backend.worker``: runs the analyses queued with ``"background": true``.

It claims the oldest queued row (``FOR UPDATE SKIP LOCKED``: several workers never take the same
one), asks its models, stores the answers, and touches a heartbeat file that its healthcheck
reads. A stop signal ends it between two analyses.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from threading import Event

from ultra_env.backend import analysis
from ultra_env.backend.app import redactor
from ultra_env.backend.settings import from_env
from ultra_env.backend.store import Store, StoreError
from ultra_env.backend.targets import select, targets

HEARTBEAT = Path(os.environ.get("WORKER_HEARTBEAT", "/tmp/worker-heartbeat"))
IDLE_S = 1.0
LOG = logging.getLogger("ultra_env.backend.worker")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="worker: %(message)s")
    config = from_env(os.environ)
    redact = redactor(config.secrets)
    if not config.database_url:
        raise SystemExit("worker: DATABASE_URL is not set: queued analyses live in the database")
    store = Store(config.database_url)
    available = targets(config)
    stopping = Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    LOG.info("waiting for queued analyses (%d models enabled)", len(available))
    while not stopping.is_set():
        HEARTBEAT.touch()
        try:
            job = store.claim()
        except StoreError as exc:
            LOG.warning("%s", redact(str(exc)))
            stopping.wait(IDLE_S * 5)
            continue
        if job is None:
            stopping.wait(IDLE_S)
            continue
        chosen, unknown = select(available, job["models"])
        results = analysis.run(
            chosen, job["prompt"], max_tokens=job["max_tokens"], timeout=config.timeout_s, redact=redact
        )
        results += [
            {
                "provider": None,
                "model": name,
                "error": {"kind": "unknown_model", "message": "not enabled when the worker ran it"},
            }
            for name in unknown
        ]
        store.finish(job["id"], results)
        LOG.info("analysis %s: %d answers", job["id"], sum(r.get("error") is None for r in results))


if __name__ == "__main__":
    main()
