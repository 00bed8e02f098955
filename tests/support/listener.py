"""A local HTTP listener that records every request it gets: what a cloud provider's base URL
points at in the offline tests (it must see nothing in the local profile, the calls in hybrid),
and a provider that answers with an error or never answers at all."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Listener:
    """``status``/``body`` are what every request gets; ``hang_s`` > 0 holds each request that
    long first, or until the listener closes (a provider that times out). Binds 0.0.0.0 so containers reach it through
    host.docker.internal; serve only loopback and the bridge from a test."""

    status: int = 401
    body: bytes = b'{"error": {"message": "recorded by the test listener", "type": "invalid_request_error"}}'
    hang_s: float = 0.0
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    _server: Any = None
    _closing: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Listener:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                owner.seen.append(Seen(self.command, self.path, dict(self.headers), self.rfile.read(length)))
                if owner.hang_s and owner._closing.wait(owner.hang_s):
                    return  # closed while hanging: the client gave up long ago
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("0.0.0.0", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
