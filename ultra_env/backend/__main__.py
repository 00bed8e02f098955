"""``python3 -m ultra_env.backend [--host H] [--port P]``: the backend, on 127.0.0.1:8000.

Loopback unless asked: ``--host 0.0.0.0`` (or ``HOST``) serves every interface, which is what its
image does inside the stack's container (Compose publishes the port on the host's 127.0.0.1 only).
A variable it cannot use ends it at once with one line naming it (exit 2), never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ultra_env.backend.redaction import Redactor
from ultra_env.backend.settings import SettingError, from_env, whole


class Masked(logging.Filter):
    """Every record of the server's own logs (the access log's request lines among them) masked."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        if isinstance(record.args, tuple):  # kept apart: the access log's formatter reads them one by one
            record.args = tuple(self.redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python3 -m ultra_env.backend", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST") or "127.0.0.1", help="the address to listen on")
    parser.add_argument("--port", default=os.environ.get("PORT") or "8000", help="the port to listen on")
    args = parser.parse_args(argv)
    import uvicorn

    level = (os.environ.get("LOG_LEVEL") or "info").strip().lower()
    try:
        port = whole("PORT", args.port, 8000, least=1, most=65535)
        from_env(os.environ)  # the settings, checked before anything starts
        if level not in uvicorn.config.LOG_LEVELS:
            raise SettingError(f"LOG_LEVEL={level[:20]!r} is not one of {', '.join(uvicorn.config.LOG_LEVELS)}")
    except SettingError as exc:
        sys.stderr.write(f"backend: {exc}\n")
        sys.exit(2)

    from ultra_env.backend.app import create_app

    config = uvicorn.Config(
        create_app(),
        host=args.host,
        port=port,
        log_level=level,
        access_log=True,
        server_header=False,
    )
    masked = Masked(Redactor(from_env(os.environ).secrets))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "ultra_env.backend"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(masked)
        logging.getLogger(name).addFilter(masked)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
