"""What every provider that speaks HTTP shares: the client, the key kept out of messages, errors
mapped to kinds, retries (honouring ``Retry-After``), the plain and streamed POST, and GET-JSON.

A provider builds its request body and reads its own answers, stream events and error payloads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from ultra_env import http
from ultra_env.llm.providers.base import ChatRequest, ChatResponse, ProviderError, Usage, kind_for_status

RETRIES = 2
MAX_WAIT_S = 5.0  # the longest a retry waits, whatever Retry-After asks
T = TypeVar("T")


@dataclass
class Stream:
    """What a streamed answer has brought so far. ``done`` is set by the provider once the answer
    is known to be complete; a stream that ends before that is an error."""

    model: str
    on_text: Callable[[str], None] | None
    start: float = field(default_factory=time.perf_counter)
    parts: list[str] = field(default_factory=list)
    ttft_s: float | None = None
    finish: str | None = None
    usage: Usage | None = None
    server_tokens_per_s: float | None = None
    done: bool = False

    def text(self, piece: str) -> None:
        if not piece:
            return
        if self.ttft_s is None:
            self.ttft_s = time.perf_counter() - self.start
        self.parts.append(piece)
        if self.on_text is not None:
            self.on_text(piece)

    def response(self, provider: str) -> ChatResponse:
        return ChatResponse(
            provider,
            str(self.model),
            "".join(self.parts),
            self.finish,
            self.usage,
            time.perf_counter() - self.start,
            self.ttft_s,
            len(self.parts),
            self.server_tokens_per_s,
        )


class HttpProvider:
    """``secret`` is masked as ``***`` in every message; ``transport`` (an httpx transport) is for tests."""

    def __init__(
        self,
        name: str,
        base_url: str,
        headers: dict[str, str],
        *,
        secret: str | None = None,
        transport: Any = None,
        proxies: bool = False,
        retries: int = RETRIES,
    ) -> None:
        self.name = name
        self._proxies = proxies
        self.retries = retries  # 0 when the caller retries itself, so that waits do not multiply
        self.base_url = base_url.rstrip("/")
        self._headers = headers
        self._secret = secret
        self._transport = transport

    # --- what each provider supplies ---

    def _url(self, request: ChatRequest) -> str:
        raise NotImplementedError

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        raise NotImplementedError

    def _answer(self, data: Any, request: ChatRequest, latency_s: float) -> ChatResponse:
        """The ChatResponse a plain (not streamed) answer's JSON describes."""
        raise NotImplementedError

    def _event(self, data: str, stream: Stream) -> bool:
        """Take in one ``data:`` payload of a stream; True to stop reading."""
        raise NotImplementedError

    def _api_error(self, payload: Any, status: int | None) -> ProviderError | None:
        """The ProviderError an error payload describes, or None when it is not one this API sends."""
        return None

    # --- shared ---

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def _transport_error(self, exc: http.HttpError) -> ProviderError:
        if exc.timed_out:
            return ProviderError(self.name, "timeout", f"no answer in time ({exc.cause.split(':')[0]})")
        return ProviderError(self.name, "connection", self._redact(exc.cause))

    def _status_error(self, response: Any) -> ProviderError:
        status = response.status_code
        body = response.read().decode("utf-8", "replace")
        try:
            error = self._api_error(json.loads(body), status)
        except ValueError:
            error = None
        if error is None:
            error = ProviderError(
                self.name, kind_for_status(status), self._redact(body.strip()[:200]) or f"HTTP {status}", status=status
            )
        wait = retry_after_s(response.headers.get("retry-after"))
        if wait is not None:
            error.details.setdefault("retry_after_s", wait)
        return error

    def chat(self, request: ChatRequest, on_text: Callable[[str], None] | None = None) -> ChatResponse:
        """``on_text`` receives each piece of text as it streams in (``request.stream`` only).
        ``request.timeout`` bounds the whole answer, its retries included."""

        def worth_retrying(exc: Exception) -> bool:
            return isinstance(exc, ProviderError) and exc.transient and not exc.details.get("partial")

        def server_says(exc: Exception) -> float | None:
            wait = exc.details.get("retry_after_s") if isinstance(exc, ProviderError) else None
            return None if wait is None else min(wait, MAX_WAIT_S)

        policy = http.Retry(attempts=self.retries + 1, within_s=request.timeout, backoff=lambda n: 0.5 * n)
        return policy.run(
            lambda left: self._stream(request, on_text, left) if request.stream else self._plain(request, left),
            retry_if=worth_retrying,
            wait_hint=server_says,
        )

    def _plain(self, request: ChatRequest, timeout: float) -> ChatResponse:
        start = time.perf_counter()
        response = self._answered("POST", self._url(request), timeout, json=self._body(request))
        latency = time.perf_counter() - start
        try:
            return self._answer(response.json(), request, latency)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise ProviderError(self.name, "bad_response", "unreadable answer") from None

    def _answered(self, method: str, url: str, timeout: float, **kwargs: Any) -> Any:
        """The 200 response to one request, or the ProviderError its failure means."""
        try:
            response = http.request(
                method,
                url,
                headers=self._headers,
                timeout=timeout,
                transport=self._transport,
                proxies=self._proxies,
                **kwargs,
            )
        except http.HttpError as exc:
            raise self._transport_error(exc) from None
        if response.status_code != 200:
            raise self._status_error(response)
        return response

    def _stream(self, request: ChatRequest, on_text: Callable[[str], None] | None, timeout: float) -> ChatResponse:
        stream = Stream(request.model, on_text)
        try:
            with http.stream(
                "POST",
                self._url(request),
                json=self._body(request),
                headers=self._headers,
                timeout=timeout,
                transport=self._transport,
                proxies=self._proxies,
            ) as response:
                if response.status_code != 200:
                    raise self._status_error(response)
                for line in response.iter_lines():
                    if line.startswith("data:") and self._event(line[5:].strip(), stream):
                        break
        except http.HttpError as exc:
            error = self._transport_error(exc)
            error.details["partial"] = bool(stream.parts)
            raise error from None
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise ProviderError(self.name, "bad_response", "unreadable stream event") from None
        if not stream.done:
            raise ProviderError(
                self.name,
                "connection",
                "the stream ended before the answer did",
                details={"partial": bool(stream.parts)},
            )
        return stream.response(self.name)

    def _get_json(self, path: str, timeout: float, read: Callable[[Any], T], params: dict[str, Any] | None = None) -> T:
        """GET ``base_url + path`` and return what ``read`` makes of its JSON."""
        response = self._answered("GET", f"{self.base_url}{path}", timeout, params=params)
        try:
            return read(response.json())
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise ProviderError(self.name, "bad_response", f"unreadable answer to GET {path}") from None


def retry_after_s(value: str | None) -> float | None:
    """A ``Retry-After`` header (seconds, or an HTTP date) in seconds from now; None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
