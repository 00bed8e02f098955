"""Google's Gemini API (``generateContent`` and ``streamGenerateContent?alt=sse``). The key goes in the
``x-goog-api-key`` header, never in the URL, so it cannot reach logs or error messages."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from ultra_env import http
from ultra_env.providers.base import ChatRequest, ChatResponse, ProviderError, Usage, kind_for_status

RETRIES = 2
KINDS = {
    "INVALID_ARGUMENT": "bad_request", "FAILED_PRECONDITION": "bad_request", "UNAUTHENTICATED": "auth",
    "PERMISSION_DENIED": "auth", "NOT_FOUND": "not_found", "RESOURCE_EXHAUSTED": "rate_limit",
    "UNAVAILABLE": "server", "INTERNAL": "server", "DEADLINE_EXCEEDED": "timeout",
}
ROLES = {"assistant": "model"}
FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
          "BLOCKLIST": "content_filter", "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter"}


class Google:
    name = "google"

    def __init__(self, api_key: str, *, base_url: str = "https://generativelanguage.googleapis.com",
                 transport: Any = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self._headers = {"x-goog-api-key": api_key}
        self._transport = transport

    def _client(self, timeout: float) -> Any:
        return http.client(timeout, transport=self._transport) if self._transport else http.client(timeout)

    def list_models(self, timeout: float) -> list[str]:
        import httpx

        try:
            with self._client(timeout) as client:
                response = client.get(f"{self.base_url}/v1beta/models", params={"pageSize": 1000},
                                      headers=self._headers)
        except httpx.HTTPError as exc:
            raise self._error(exc) from None
        if response.status_code != 200:
            raise self._status_error(response.status_code, response.text)
        try:
            return [str(item["name"]).removeprefix("models/") for item in response.json()["models"]]
        except (ValueError, KeyError, TypeError):
            raise ProviderError(self.name, "bad_response", "the answer is not a model list") from None

    def chat(self, request: ChatRequest, on_text: Callable[[str], None] | None = None) -> ChatResponse:
        for attempt in range(RETRIES + 1):
            try:
                return self._stream(request, on_text) if request.stream else self._plain(request)
            except ProviderError as exc:
                if not exc.transient or attempt == RETRIES or exc.details.get("partial"):
                    raise
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    def _url(self, request: ChatRequest) -> str:
        model = request.model.removeprefix("models/")
        if request.stream:
            return f"{self.base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse"
        return f"{self.base_url}/v1beta/models/{model}:generateContent"

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        system = [{"text": m["content"]} for m in request.messages if m.get("role") == "system"]
        body: dict[str, Any] = {
            "contents": [{"role": ROLES.get(m["role"], m["role"]), "parts": [{"text": m["content"]}]}
                         for m in request.messages if m.get("role") != "system"],
            "generationConfig": {"maxOutputTokens": request.max_tokens, "temperature": request.temperature},
        }
        if system:
            body["systemInstruction"] = {"parts": system}
        return body

    def _error(self, exc: Exception) -> ProviderError:
        import httpx

        if isinstance(exc, httpx.TimeoutException):
            return ProviderError(self.name, "timeout", f"no answer in time ({type(exc).__name__})")
        return ProviderError(self.name, "connection", self._redact(f"{type(exc).__name__}: {exc}"))

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _api_error(self, payload: Any, status: int | None) -> ProviderError | None:
        """The ProviderError a ``{"error": {"code", "message", "status", "details"}}`` payload describes."""
        error = payload.get("error") if isinstance(payload, dict) else None
        if not isinstance(error, dict):
            return None
        status = status or (error.get("code") if isinstance(error.get("code"), int) else None)
        message = str(error.get("message") or error.get("status") or f"HTTP {status}")
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
        kind = KINDS.get(str(error.get("status")), kind_for_status(status) if status else "server")
        if any(d.get("reason") == "API_KEY_INVALID" for d in details) or "API key not valid" in message:
            kind = "auth"
        extra: dict[str, Any] = {"status": error.get("status")}
        for detail in details:
            delay = str(detail.get("retryDelay") or "")
            if delay.endswith("s"):
                try:
                    extra["retry_after_s"] = float(delay[:-1])
                except ValueError:
                    pass
        return ProviderError(self.name, kind, self._redact(message), status=status, details=extra)

    def _status_error(self, status: int, body: str) -> ProviderError:
        try:
            error = self._api_error(json.loads(body), status)
        except ValueError:
            error = None
        return error or ProviderError(self.name, kind_for_status(status),
                                      self._redact(body.strip()[:200]) or f"HTTP {status}", status=status)

    def _blocked(self, data: dict[str, Any]) -> ProviderError | None:
        reason = (data.get("promptFeedback") or {}).get("blockReason")
        if data.get("candidates") or not reason:
            return None
        return ProviderError(self.name, "bad_request", f"the prompt was blocked ({reason})",
                             details={"block_reason": reason})

    @staticmethod
    def _text(candidate: dict[str, Any]) -> str:
        parts = (candidate.get("content") or {}).get("parts") or []
        return "".join(str(p.get("text") or "") for p in parts if not p.get("thought"))

    @staticmethod
    def _usage(data: dict[str, Any]) -> Usage | None:
        usage = data.get("usageMetadata") or None
        if not usage:
            return None
        return Usage(int(usage.get("promptTokenCount", 0)), int(usage.get("candidatesTokenCount", 0)))

    def _plain(self, request: ChatRequest) -> ChatResponse:
        import httpx

        start = time.perf_counter()
        try:
            with self._client(request.timeout) as client:
                response = client.post(self._url(request), json=self._body(request), headers=self._headers)
        except httpx.HTTPError as exc:
            raise self._error(exc) from None
        latency = time.perf_counter() - start
        if response.status_code != 200:
            raise self._status_error(response.status_code, response.text)
        try:
            data = response.json()
            blocked = self._blocked(data)
            if blocked:
                raise blocked
            candidate = data["candidates"][0]
            text = self._text(candidate)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise ProviderError(self.name, "bad_response", "the answer is not generated content") from None
        finish = candidate.get("finishReason")
        return ChatResponse(
            provider=self.name, model=str(data.get("modelVersion") or request.model), text=text,
            finish_reason=FINISH.get(finish, finish), usage=self._usage(data), latency_s=latency,
        )

    def _stream(self, request: ChatRequest, on_text: Callable[[str], None] | None) -> ChatResponse:
        import httpx

        start = time.perf_counter()
        ttft: float | None = None
        parts: list[str] = []
        chunks = 0
        finish: str | None = None
        usage: Usage | None = None
        model = request.model
        try:
            with self._client(request.timeout) as client, client.stream(
                "POST", self._url(request), json=self._body(request), headers=self._headers,
            ) as response:
                if response.status_code != 200:
                    raise self._status_error(response.status_code, response.read().decode("utf-8", "replace"))
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    event = json.loads(line[5:])
                    error = self._api_error(event, None) or self._blocked(event)
                    if error:
                        error.details["partial"] = bool(parts)
                        raise error
                    model = event.get("modelVersion") or model
                    usage = self._usage(event) or usage
                    for candidate in (event.get("candidates") or [])[:1]:
                        text = self._text(candidate)
                        if text:
                            if ttft is None:
                                ttft = time.perf_counter() - start
                            parts.append(text)
                            chunks += 1
                            if on_text is not None:
                                on_text(text)
                        reason = candidate.get("finishReason")
                        finish = FINISH.get(reason, reason) or finish
        except httpx.HTTPError as exc:
            error = self._error(exc)
            error.details["partial"] = bool(parts)
            raise error from None
        except (ValueError, AttributeError):
            raise ProviderError(self.name, "bad_response", "unreadable stream event") from None
        if finish is None:
            raise ProviderError(self.name, "connection", "the stream ended before the answer did",
                                details={"partial": bool(parts)})
        return ChatResponse(self.name, str(model), "".join(parts), finish, usage,
                            time.perf_counter() - start, ttft, chunks)
