"""The one way this project makes an HTTP call: ``request`` and ``stream`` (httpx, imported on first
use), which turn every transport failure into ``HttpError``; and ``Retry``, the one retry policy."""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ultra_env import trace
from ultra_env.errors import UltraError

if TYPE_CHECKING:
    import ssl

    import httpx

T = TypeVar("T")


def prewarm() -> None:
    """Import httpx and load the CA bundle in the background (≈0.1 s of CPU) while this process waits
    on something else."""
    threading.Thread(target=_tls, daemon=True).start()


@functools.lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """One TLS context for the whole run: httpx builds one per client otherwise (≈20 ms each).
    ssl and certifi are imported here (≈12 ms), by ``prewarm``'s thread while the run waits.
    SSL_CERT_FILE / SSL_CERT_DIR name the CAs to trust instead (a team server's own CA), as OpenSSL
    and httpx read them."""
    import os
    import ssl

    import certifi

    cafile, capath = os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None
    return ssl.create_default_context(cafile=cafile or (None if capath else certifi.where()), capath=capath)


class NotYet(UltraError):
    """Not ready yet (a service still starting, a model still loading): what a ``Retry`` is told to
    try again, where no other error says so."""


def raised(*kinds: type[Exception]) -> Callable[[Exception], bool]:
    """A ``retry_if`` that tries again after the errors of these kinds only."""
    return lambda exc: isinstance(exc, kinds)


class HttpError(UltraError):
    """The request got no HTTP answer (refused, unresolvable host, timeout, broken stream)."""

    def __init__(self, cause: str, *, timed_out: bool = False) -> None:
        super().__init__(cause)
        self.timed_out = timed_out


def client(timeout: float, *, proxies: bool = False, **kwargs: Any) -> httpx.Client:
    """An httpx client. Proxy variables are honoured only when ``proxies`` (cloud hosts, which a
    corporate network may only reach through one); never for Model Runner or other local calls."""
    import httpx  # heavy (≈60 ms): only when a call is made

    if not proxies:  # cloud calls keep httpx's own TLS setup, which honours SSL_CERT_FILE (corporate CAs)
        kwargs.setdefault("verify", _tls())
    return httpx.Client(timeout=timeout, trust_env=proxies, **kwargs)


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    import httpx

    try:
        yield
    except httpx.HTTPError as exc:
        said = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise HttpError(said, timed_out=isinstance(exc, httpx.TimeoutException)) from None


def request(
    method: str, url: str, *, timeout: float, proxies: bool = False, transport: Any = None, **kwargs: Any
) -> httpx.Response:
    """One request; the Response whatever its status, or HttpError."""
    start = time.monotonic()
    try:
        with _mapped(), client(timeout, proxies=proxies, transport=transport) as http:
            response = http.request(method, url, **kwargs)
    except HttpError as exc:
        trace.request(method, url, time.monotonic() - start, exc.cause)
        raise
    trace.request(method, url, time.monotonic() - start, str(response.status_code))
    return response


@contextlib.contextmanager
def stream(
    method: str,
    url: str,
    *,
    timeout: float,
    read_timeout: float | None = None,
    proxies: bool = False,
    transport: Any = None,
    **kwargs: Any,
) -> Iterator[httpx.Response]:
    """A streamed response, read inside the ``with``; a transport failure while reading is HttpError too."""
    import httpx

    limits = httpx.Timeout(timeout, read=read_timeout) if read_timeout is not None else timeout
    start, said = time.monotonic(), "no answer"
    try:
        with (
            _mapped(),
            client(timeout, proxies=proxies, transport=transport) as http,
            http.stream(method, url, timeout=limits, **kwargs) as response,
        ):
            said = f"{response.status_code}, streamed"
            yield response
    except HttpError as exc:
        said = exc.cause
        raise
    finally:
        trace.request(method, url, time.monotonic() - start, said)


def get(url: str, *, timeout: float) -> httpx.Response:
    return request("GET", url, timeout=timeout)


def post(url: str, *, json: Any, timeout: float) -> httpx.Response:
    return request("POST", url, json=json, timeout=timeout)


@dataclass(frozen=True)
class Retry:
    """The one retry policy: up to ``attempts`` tries, or until ``within_s`` seconds have passed
    (each try is told how many are left, to use as its own timeout), ``backoff(n)`` seconds after
    the n-th failure unless the failure says how long to wait. Only the errors ``retry_if`` names
    are tried again: any other (a bug included) goes up at once."""

    attempts: int | None = None
    within_s: float | None = None
    backoff: Callable[[int], float] = lambda n: 1.0

    def run(
        self,
        attempt: Callable[[float], T],
        *,
        retry_if: Callable[[Exception], bool],
        wait_hint: Callable[[Exception], float | None] = lambda e: None,
    ) -> T:
        deadline = None if self.within_s is None else time.monotonic() + self.within_s
        tried = 0
        while True:
            tried += 1
            left = math.inf if deadline is None else max(deadline - time.monotonic(), 0.5)
            try:
                return attempt(left)
            except Exception as exc:
                hinted = wait_hint(exc) if retry_if(exc) else None
                wait = self.backoff(tried) if hinted is None else hinted
                out_of_tries = self.attempts is not None and tried >= self.attempts
                out_of_time = deadline is not None and time.monotonic() + wait > deadline
                if not retry_if(exc) or out_of_tries or out_of_time:
                    raise
                time.sleep(wait)
