"""Stand-in for Ultra's backend: `python3 -m ultra.backend` serves HTTP on 0.0.0.0:8000.

GET /health reports the profile and LLM settings the container received, and whether the Model
Runner answers; GET /env-names lists environment variable names. No secret value is ever sent.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
PROBE_TIMEOUT = 3.0


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def probe(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/models", timeout=PROBE_TIMEOUT) as response:
            return {"reachable": True, "status": response.status, "error": None}
    except urllib.error.HTTPError as error:
        return {"reachable": False, "status": error.code, "error": f"HTTP {error.code}"}
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return {
            "reachable": False,
            "status": None,
            "error": str(reason)[:200] or type(error).__name__,
        }


def llm_state() -> dict[str, Any]:
    use = truthy(os.environ.get("USE_MODEL_RUNNER"))
    url = os.environ.get("MODEL_RUNNER_URL") or None
    state: dict[str, Any] = {
        "use_model_runner": use,
        "url": url,
        "model": os.environ.get("DEFAULT_LOCAL_MODEL") or None,
        "reachable": False,
        "status": None,
        "error": None,
    }
    if use and url:
        state.update(probe(url))
    return state


def health() -> dict[str, Any]:
    return {
        "status": "ok",
        "profile": os.environ.get("ULTRA_PROFILE"),
        "llm": llm_state(),
        "mock_llm": truthy(os.environ.get("ENABLE_MOCK_LLM")),
        "database_url_set": bool(os.environ.get("DATABASE_URL")),
        "redis_url_set": bool(os.environ.get("REDIS_URL")),
    }


def secret_values() -> list[str]:
    return [
        value
        for name, value in os.environ.items()
        if value and any(marker in name.upper() for marker in SECRET_MARKERS)
    ]


def redact(data: Any, secrets: list[str]) -> Any:
    if isinstance(data, str):
        for secret in secrets:
            data = data.replace(secret, "***")
        return data
    if isinstance(data, dict):
        return {key: redact(value, secrets) for key, value in data.items()}
    if isinstance(data, list):
        return [redact(item, secrets) for item in data]
    return data


class Handler(BaseHTTPRequestHandler):
    server_version = "ultra-backend-standin/1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self.send_json(200, health())
        elif path == "/env-names":
            self.send_json(200, sorted(os.environ))
        else:
            self.send_json(404, {"error": "not found", "path": path})

    def send_json(self, code: int, data: Any) -> None:
        body = json.dumps(redact(data, secret_values())).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"backend: {self.address_string()} {format % args}\n")


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = ThreadingHTTPServer(("0.0.0.0", 8000), Handler)
    print("backend: serving on 0.0.0.0:8000", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
