"""The one way this project makes an HTTP call (httpx, imported on first use)."""

from __future__ import annotations

import functools
from typing import Any


def prewarm() -> None:
    """Import httpx and load the CA bundle in the background (≈0.1 s of CPU) while this process waits
    on something else."""
    import threading

    threading.Thread(target=_tls, daemon=True).start()


@functools.lru_cache(maxsize=1)
def _tls() -> Any:
    """One TLS context for the whole run: httpx builds one per client otherwise (≈20 ms each)."""
    import ssl

    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class HttpError(Exception):
    """The request got no HTTP answer (refused, unresolvable host, timeout, broken stream)."""


def client(timeout: float, *, proxies: bool = False, **kwargs: Any) -> Any:
    """An httpx client. Proxy variables are honoured only when ``proxies`` (cloud hosts, which a
    corporate network may only reach through one); never for Model Runner or other local calls."""
    import httpx

    if not proxies:  # cloud calls keep httpx's own TLS setup, which honours SSL_CERT_FILE (corporate CAs)
        kwargs.setdefault("verify", _tls())
    return httpx.Client(timeout=timeout, trust_env=proxies, **kwargs)


def get(url: str, *, timeout: float) -> Any:
    """GET ``url``; returns the httpx Response (any status) or raises HttpError."""
    import httpx

    try:
        with client(timeout) as http:
            return http.get(url)
    except httpx.HTTPError as exc:
        raise HttpError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None


def post(url: str, *, json: Any, timeout: float) -> Any:
    """POST a JSON body to ``url``; returns the httpx Response (any status) or raises HttpError."""
    import httpx

    try:
        with client(timeout) as http:
            return http.post(url, json=json)
    except httpx.HTTPError as exc:
        raise HttpError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
