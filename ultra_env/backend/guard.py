"""Who may drive the backend: a local web tool's answer to web pages that try.

The backend holds the developer's cloud keys and every prompt and answer, and it has no login:
what protects it is that only the developer's own programs reach it. A web page in the
developer's browser reaches it too (the browser is on the same machine), in two ways this
module refuses, as Jupyter and Ollama came to refuse them:

- **DNS rebinding**: a page on ``evil.example`` points its name at 127.0.0.1; the browser then
  sends its requests here, as same-origin, with ``Host: evil.example``. Only the names this
  backend is known by are served: IP literals (an address cannot be rebound: the browser dials
  it with no lookup), ``localhost`` and ``*.localhost``, the Compose service name (``backend``),
  this container's own host name, and ``ALLOWED_HOSTS`` (``*`` turns the check off).
- **Cross-site requests**: a page on another origin posts a form or a ``fetch`` with
  ``Content-Type: text/plain`` (no preflight). A request whose ``Sec-Fetch-Site`` says another
  site sent it, or whose ``Origin`` is not this backend's own (nor in ``ALLOWED_ORIGINS``), is
  refused before any route runs, except a top-level navigation to the page; and the routes that
  act take only ``application/json``, which no page can send across origins without a preflight
  that this backend never grants (unless ``ALLOWED_ORIGINS`` names the page's origin).

Programs that are not browsers (curl, the healthcheck, ``invoke health``) send no ``Origin`` and
no ``Sec-Fetch-*``, and are served. Every response carries the headers a local web tool should:
no framing (``frame-ancestors 'none'``), no sniffing, no referrer, no caching, same-origin only.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from ultra_env.backend.settings import BackendConfig

LOG = logging.getLogger("ultra_env.backend")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    (b"cache-control", b"no-store"),
]
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
CROSS_ORIGIN = "requests that another site's page sends are refused (ALLOWED_ORIGINS names the origins allowed)"


def hostname(host: str) -> str:
    """The name in a ``Host`` header (or an origin's netloc), lower case, without port or trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8000
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Guard:
    """The ASGI middleware: the Host and cross-site checks, then the app, every response with the headers."""

    def __init__(self, app: ASGIApp, config: BackendConfig) -> None:
        self.app = app
        self.any_host = config.any_host
        own = {socket.gethostname().lower()} if socket.gethostname() else set()
        self.names = {*config.allowed_hosts, *own}
        self.origins = set(config.allowed_origins)

    def host_ok(self, host: str) -> bool:
        if self.any_host or not host:  # HTTP/1.0 sends none; no browser leaves it out
            return True
        name = hostname(host)
        return is_ip(name) or name == "localhost" or name.endswith(".localhost") or name in self.names

    def origin_ok(self, origin: str, scheme: str, host: str) -> bool:
        """The backend's own origin (the one the browser used to reach it), or one that was allowed."""
        parts = urlsplit(origin)
        return origin != "null" and parts.scheme == scheme and parts.netloc == host.strip().lower()

    def refusal(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[int, str, str] | None:
        host = headers.get(b"host", b"").decode("latin-1")
        if not self.host_ok(host):
            return (
                403,
                "forbidden_host",
                "this backend answers only to its own names (localhost, an IP address, its Compose service "
                "name); a page whose name points here (DNS rebinding) is refused: add a name you use to "
                "ALLOWED_HOSTS",
            )
        origin = headers.get(b"origin", b"").decode("latin-1").strip().lower().rstrip("/")
        if origin and (origin in self.origins or "*" in self.origins):  # ALLOWED_ORIGINS=*: any page (your call)
            return None
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").strip().lower()
        mode = headers.get(b"sec-fetch-mode", b"").decode("latin-1").strip().lower()
        page = scope["method"] in ("GET", "HEAD") and scope["path"] == "/"  # a link to the page is followed
        foreign_origin = bool(origin) and not self.origin_ok(origin, scope.get("scheme", "http"), host)
        foreign_site = site in ("cross-site", "same-site")
        navigation = page and mode == "navigate"
        if (foreign_origin and (scope["method"] in WRITES or not page)) or (foreign_site and not navigation):
            return 403, "cross_origin", CROSS_ORIGIN
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        csp = (PAGE_CSP if scope["path"] == "/" else API_CSP).encode()
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":  # ours win over the app's (no-store over no-cache)
                started = True
                mine = [*HEADERS, (b"content-security-policy", csp)]
                names = {k for k, _ in mine}
                message["headers"] = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names] + mine
            await send(message)

        async def answer(status: int, kind: str, message: str) -> None:
            body = json.dumps({"error": {"kind": kind, "message": message}}).encode()
            start = {"type": "http.response.start", "status": status}
            start["headers"] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send_with_headers(start)
            await send_with_headers({"type": "http.response.body", "body": body})

        refused = self.refusal(scope, headers)
        if refused is not None:
            await answer(*refused)
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:  # the app's handler logged it, masked: the server must not log it again, unmasked
            LOG.error("request ended by %s", type(exc).__name__)
            if not started:
                await answer(500, "internal", "the backend failed on this request; its log has the details")
