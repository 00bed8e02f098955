"""Anthropic's Messages API (``POST /v1/messages``), plain and streamed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from ultra_env import http
from ultra_env.providers.base import ChatRequest, ChatResponse, ProviderError, Usage, kind_for_status

RETRIES = 2
VERSION = "2023-06-01"
KINDS = {
    "authentication_error": "auth", "permission_error": "auth", "not_found_error": "not_found",
    "rate_limit_error": "rate_limit", "overloaded_error": "server", "api_error": "server",
    "invalid_request_error": "bad_request",
}
FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
          "refusal": "content_filter"}


class Anthropic:
    name = "anthropic"

    def __init__(self, api_key: str, *, base_url: str = "https://api.anthropic.com", transport: Any = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self._headers = {"x-api-key": api_key, "anthropic-version": VERSION, "content-type": "application/json"}
        self._transport = transport

    def _client(self, timeout: float) -> Any:
        return http.client(timeout, transport=self._transport) if self._transport else http.client(timeout)

    def list_models(self, timeout: float) -> list[str]:
        import httpx

        try:
            with self._client(timeout) as client:
                response = client.get(f"{self.base_url}/v1/models", params={"limit": 1000}, headers=self._headers)
        except httpx.HTTPError as exc:
            raise self._error(exc) from None
        if response.status_code != 200:
            raise self._status_error(response.status_code, response.text, response.headers)
        try:
            return [str(item["id"]) for item in response.json()["data"]]
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

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        system = [m["content"] for m in request.messages if m.get("role") == "system"]
        body: dict[str, Any] = {
            "model": request.model, "max_tokens": request.max_tokens, "temperature": request.temperature,
            "stream": request.stream,
            "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages
                         if m.get("role") != "system"],
        }
        if system:
            body["system"] = "\n\n".join(system)
        return body

    def _error(self, exc: Exception) -> ProviderError:
        import httpx

        if isinstance(exc, httpx.TimeoutException):
            return ProviderError(self.name, "timeout", f"no answer in time ({type(exc).__name__})")
        return ProviderError(self.name, "connection", self._redact(f"{type(exc).__name__}: {exc}"))

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _api_error(self, payload: Any, status: int | None) -> ProviderError | None:
        """The ProviderError an ``{"type": "error", "error": {...}}`` payload describes, if it is one."""
        error = payload.get("error") if isinstance(payload, dict) else None
        if not isinstance(error, dict):
            return None
        kind = KINDS.get(str(error.get("type")), kind_for_status(status) if status else "server")
        details = {"type": error.get("type")}
        if payload.get("request_id"):
            details["request_id"] = payload["request_id"]
        return ProviderError(self.name, kind, self._redact(str(error.get("message") or error.get("type"))),
                             status=status, details=details)

    def _status_error(self, status: int, body: str, headers: Any) -> ProviderError:
        try:
            error = self._api_error(json.loads(body), status)
        except ValueError:
            error = None
        if error is None:
            error = ProviderError(self.name, kind_for_status(status),
                                  self._redact(body.strip()[:200]) or f"HTTP {status}", status=status)
        retry_after = headers.get("retry-after")
        if retry_after:
            try:
                error.details["retry_after_s"] = float(retry_after)
            except ValueError:
                pass
        return error

    def _plain(self, request: ChatRequest) -> ChatResponse:
        import httpx

        start = time.perf_counter()
        try:
            with self._client(request.timeout) as client:
                response = client.post(f"{self.base_url}/v1/messages", json=self._body(request),
                                       headers=self._headers)
        except httpx.HTTPError as exc:
            raise self._error(exc) from None
        latency = time.perf_counter() - start
        if response.status_code != 200:
            raise self._status_error(response.status_code, response.text, response.headers)
        try:
            data = response.json()
            text = "".join(block["text"] for block in data["content"] if block.get("type") == "text")
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ProviderError(self.name, "bad_response", "the answer is not a message") from None
        usage = data.get("usage") or None
        stop = data.get("stop_reason")
        return ChatResponse(
            provider=self.name, model=str(data.get("model") or request.model), text=text,
            finish_reason=FINISH.get(stop, stop),
            usage=Usage(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))) if usage else None,
            latency_s=latency,
        )

    def _stream(self, request: ChatRequest, on_text: Callable[[str], None] | None) -> ChatResponse:
        import httpx

        start = time.perf_counter()
        ttft: float | None = None
        parts: list[str] = []
        chunks = 0
        finish: str | None = None
        prompt_tokens = completion_tokens = 0
        model = request.model
        done = False
        try:
            with self._client(request.timeout) as client, client.stream(
                "POST", f"{self.base_url}/v1/messages", json=self._body(request), headers=self._headers,
            ) as response:
                if response.status_code != 200:
                    raise self._status_error(response.status_code, response.read().decode("utf-8", "replace"),
                                             response.headers)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    event = json.loads(line[5:])
                    kind = event.get("type")
                    if kind == "message_start":
                        message = event.get("message") or {}
                        model = message.get("model") or model
                        usage = message.get("usage") or {}
                        prompt_tokens = int(usage.get("input_tokens", 0))
                        completion_tokens = int(usage.get("output_tokens", 0))
                    elif kind == "content_block_delta" and (event.get("delta") or {}).get("type") == "text_delta":
                        text = event["delta"].get("text") or ""
                        if text:
                            if ttft is None:
                                ttft = time.perf_counter() - start
                            parts.append(text)
                            chunks += 1
                            if on_text is not None:
                                on_text(text)
                    elif kind == "message_delta":
                        stop = (event.get("delta") or {}).get("stop_reason")
                        finish = FINISH.get(stop, stop) or finish
                        completion_tokens = int((event.get("usage") or {}).get("output_tokens", completion_tokens))
                    elif kind == "message_stop":
                        done = True
                        break
                    elif kind == "error":
                        error = self._api_error(event, None) or ProviderError(self.name, "server", "error event")
                        error.details["partial"] = bool(parts)
                        raise error
        except httpx.HTTPError as exc:
            error = self._error(exc)
            error.details["partial"] = bool(parts)
            raise error from None
        except ValueError:
            raise ProviderError(self.name, "bad_response", "unreadable stream event") from None
        if not done:
            raise ProviderError(self.name, "connection", "the stream ended before the answer did",
                                details={"partial": bool(parts)})
        usage = Usage(prompt_tokens, completion_tokens) if prompt_tokens or completion_tokens else None
        return ChatResponse(self.name, str(model), "".join(parts), finish, usage,
                            time.perf_counter() - start, ttft, chunks)
