"""Anthropic's Messages API (``POST /v1/messages``), plain and streamed."""

from __future__ import annotations

import json
from typing import Any

from ultra_env.llm.providers.base import (
    ChatRequest,
    ChatResponse,
    ErrorKind,
    ProviderError,
    Usage,
    kind_for_status,
    model_named,
)
from ultra_env.llm.providers.http_api import HttpProvider, Stream

VERSION = "2023-06-01"
KINDS: dict[str, ErrorKind] = {
    "authentication_error": "auth",
    "permission_error": "auth",
    "not_found_error": "not_found",
    "rate_limit_error": "rate_limit",
    "overloaded_error": "server",
    "api_error": "server",
    "invalid_request_error": "bad_request",
    "billing_error": "quota",
}
# A 429 rate_limit_error with this code is the tier's monthly spend cap: no retry helps until next month.
SPEND_CAP = "enforced_spend_limit_reached"
FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


class Anthropic(HttpProvider):
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://api.anthropic.com",
        transport: Any = None,
        name: str = "anthropic",
        proxies: bool = True,
    ) -> None:
        super().__init__(
            name,
            base_url,
            {"x-api-key": api_key, "anthropic-version": VERSION, "content-type": "application/json"},
            secret=api_key,
            transport=transport,
            proxies=proxies,
        )

    def list_models(self, timeout: float) -> list[str]:
        return self._get_json(
            "/v1/models", timeout, lambda data: [str(item["id"]) for item in data["data"]], params={"limit": 1000}
        )

    def _url(self, request: ChatRequest) -> str:
        return f"{self.base_url}/v1/messages"

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        system = [m["content"] for m in request.messages if m.get("role") == "system"]
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": request.stream,
            "messages": [
                {"role": m["role"], "content": m["content"]} for m in request.messages if m.get("role") != "system"
            ],
        }
        if system:
            body["system"] = "\n\n".join(system)
        return body

    def _api_error(self, payload: Any, status: int | None) -> ProviderError | None:
        """The ProviderError an ``{"type": "error", "error": {...}}`` payload describes, if it is one."""
        error = payload.get("error") if isinstance(payload, dict) else None
        if not isinstance(error, dict):
            return None
        kind = KINDS.get(str(error.get("type")), kind_for_status(status) if status else "server")
        more = error.get("details")
        code = more.get("error_code") if isinstance(more, dict) else None
        if code == SPEND_CAP:
            kind = "quota"
        details = {"type": error.get("type")}
        if code:
            details["error_code"] = code
        if payload.get("request_id"):
            details["request_id"] = payload["request_id"]
        return ProviderError(
            self.name,
            kind,
            self._redact(str(error.get("message") or error.get("type"))),
            status=status,
            details=details,
        )

    def _answer(self, data: Any, request: ChatRequest, latency_s: float) -> ChatResponse:
        text = "".join(block["text"] for block in data["content"] if block.get("type") == "text")
        stop = data.get("stop_reason")
        return ChatResponse(
            provider=self.name,
            model=model_named(data.get("model"), request.model),
            text=text,
            finish_reason=FINISH.get(stop, stop),
            usage=_usage(data.get("usage")),
            latency_s=latency_s,
        )

    def _event(self, data: str, stream: Stream) -> bool:
        event = json.loads(data)
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            stream.model = model_named(message.get("model"), stream.model)
            stream.usage = _usage(message.get("usage"))
        elif kind == "content_block_delta" and (event.get("delta") or {}).get("type") == "text_delta":
            stream.text(event["delta"].get("text") or "")
        elif kind == "message_delta":
            stop = (event.get("delta") or {}).get("stop_reason")
            if stop:
                stream.finish = FINISH.get(stop, stop)
            so_far = stream.usage or Usage(0, 0)
            output = int((event.get("usage") or {}).get("output_tokens", so_far.completion_tokens))
            stream.usage = Usage(so_far.prompt_tokens, output) if so_far.prompt_tokens or output else None
        elif kind == "message_stop":
            stream.done = True
            return True
        elif kind == "error":
            error = self._api_error(event, None) or ProviderError(self.name, "server", "error event")
            error.details["partial"] = bool(stream.parts)
            raise error
        return False


def _usage(usage: Any) -> Usage | None:
    return Usage(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))) if usage else None
