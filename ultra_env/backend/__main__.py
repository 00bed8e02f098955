"""``python3 -m ultra_env.backend``: the backend on 0.0.0.0:8000 (``PORT`` to change it)."""

from __future__ import annotations

import os

import uvicorn

from ultra_env.backend.app import create_app


def main() -> None:
    uvicorn.run(
        create_app(),
        host=os.environ.get("HOST", "0.0.0.0"),
        port=int(os.environ.get("PORT", "8000")),
        log_level=os.environ.get("LOG_LEVEL", "info"),
        access_log=True,
    )


if __name__ == "__main__":
    main()
