"""What ``GET /api/health`` reports: each enabled provider (reachable, model, probe latency), the
database and the cache. Probe results are kept for a few seconds, so that a healthcheck every
few seconds does not become a stream of calls to the cloud."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from ultra_env.backend.store import Store, StoreError
from ultra_env.llm.providers.base import ProviderError
from ultra_env.llm.providers.registry import Target

PROBE_TIMEOUT_S = 5.0
KEEP_S = 10.0


def probe_target(target: Target) -> dict[str, Any]:
    """Does the provider answer? Any answer but a server error counts (a refused key is reported
    apart, in ``error``: the provider is there, the key is the problem)."""
    start = time.perf_counter()
    try:
        target.provider.list_models(PROBE_TIMEOUT_S)
        reachable, error = True, None
    except ProviderError as exc:
        reachable = exc.kind not in ("connection", "timeout", "server")
        error = {"kind": exc.kind, "message": exc.message}
    except Exception as exc:  # a provider's bug is its own problem, not health's
        reachable, error = False, {"kind": "internal", "message": type(exc).__name__}
    return {
        "provider": target.provider.name,
        "model": target.model,
        "reachable": reachable,
        "latency_s": round(time.perf_counter() - start, 4),
        "error": error,
    }


def redis_ping(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when Redis answers PING (after AUTH when the URL has a password), else why not."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "localhost", parts.port or 6379), timeout=timeout) as sock:
            commands = b""
            if parts.password:
                password = unquote(parts.password).encode()
                commands += b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(password), password)
            sock.sendall(commands + b"*1\r\n$4\r\nPING\r\n")
            answer = b""
            while b"PONG" not in answer and b"-" not in answer[:1] and len(answer) < 512:
                chunk = sock.recv(512)
                if not chunk:
                    break
                answer += chunk
    except OSError as exc:
        return f"not reachable ({type(exc).__name__})"
    return None if b"PONG" in answer else "refused the password" if answer.startswith(b"-") else "no answer"


@dataclass
class Health:
    targets: list[Target]
    required: tuple[str, ...]
    store: Store | None
    redis_url: str | None
    _cache: tuple[float, list[dict[str, Any]]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _probing: threading.Lock = field(default_factory=threading.Lock)

    def _fresh(self) -> list[dict[str, Any]] | None:
        with self._lock:
            if self._cache is not None and time.monotonic() - self._cache[0] < KEEP_S:
                return self._cache[1]
        return None

    def providers(self) -> list[dict[str, Any]]:
        """The probes' results, at most KEEP_S old; one probe at a time (many health requests at
        once wait for the one under way instead of each probing every provider)."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        with self._probing:
            fresh = self._fresh()
            if fresh is not None:
                return fresh
            with ThreadPoolExecutor(max_workers=max(1, len(self.targets))) as pool:
                found = list(pool.map(probe_target, self.targets))
            with self._lock:
                self._cache = (time.monotonic(), found)
        return found

    def report(self, profile: str) -> tuple[bool, dict[str, Any]]:
        providers = self.providers()
        problems = []
        for name in self.required:
            mine = [p for p in providers if p["provider"] == name]
            if not any(p["reachable"] for p in mine):
                problems.append(f"{name} does not answer")
        database = None
        if self.store is None:
            problems.append("no database configured (DATABASE_URL)")
        else:
            try:
                self.store.ping()
            except StoreError as exc:
                database = str(exc)
                problems.append(f"database: {exc}")
        cache = redis_ping(self.redis_url) if self.redis_url else None
        if cache:
            problems.append(f"redis: {cache}")
        body = {
            "status": "ok" if not problems else "unavailable",
            "profile": profile,
            "required": list(self.required),
            "providers": providers,
            "database": {"ok": database is None, "error": database},
            "redis": {"ok": cache is None, "error": cache} if self.redis_url else None,
            "problems": problems,
        }
        return not problems, body
