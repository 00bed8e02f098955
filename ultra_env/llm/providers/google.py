"""Google's Gemini API (``generateContent`` and ``streamGenerateContent?alt=sse``). The key goes in the
``x-goog-api-key`` header, never in the URL, so it cannot reach logs or error messages."""

from __future__ import annotations

import json
from typing import Any

from ultra_env.llm.providers.base import ChatRequest, ChatResponse, ErrorKind, ProviderError, Usage, kind_for_status
from ultra_env.llm.providers.http_api import HttpProvider, Stream

KINDS: dict[str, ErrorKind] = {
    "INVALID_ARGUMENT": "bad_request",
    "FAILED_PRECONDITION": "bad_request",
    "UNAUTHENTICATED": "auth",
    "PERMISSION_DENIED": "auth",
    "NOT_FOUND": "not_found",
    "RESOURCE_EXHAUSTED": "rate_limit",
    "UNAVAILABLE": "server",
    "INTERNAL": "server",
    "DEADLINE_EXCEEDED": "timeout",
}
ROLES = {"assistant": "model"}
FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
}


class Google(HttpProvider):
    def __init__(
        self, api_key: str, *, base_url: str = "https://generativelanguage.googleapis.com", transport: Any = None
    ) -> None:
        super().__init__(
            "google", base_url, {"x-goog-api-key": api_key}, secret=api_key, transport=transport, proxies=True
        )

    def list_models(self, timeout: float) -> list[str]:
        return self._get_json(
            "/v1beta/models",
            timeout,
            params={"pageSize": 1000},
            read=lambda data: [str(item["name"]).removeprefix("models/") for item in data["models"]],
        )

    def _url(self, request: ChatRequest) -> str:
        model = request.model.removeprefix("models/")
        if request.stream:
            return f"{self.base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse"
        return f"{self.base_url}/v1beta/models/{model}:generateContent"

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        system = [{"text": m["content"]} for m in request.messages if m.get("role") == "system"]
        body: dict[str, Any] = {
            "contents": [
                {"role": ROLES.get(m["role"], m["role"]), "parts": [{"text": m["content"]}]}
                for m in request.messages
                if m.get("role") != "system"
            ],
            "generationConfig": {"maxOutputTokens": request.max_tokens, "temperature": request.temperature},
        }
        if system:
            body["systemInstruction"] = {"parts": system}
        return body

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
        if kind == "rate_limit" and _daily_quota(details):
            kind = "quota"
        extra: dict[str, Any] = {"status": error.get("status")}
        for detail in details:
            delay = str(detail.get("retryDelay") or "")
            if delay.endswith("s"):
                try:
                    extra["retry_after_s"] = float(delay[:-1])
                except ValueError:
                    pass
        return ProviderError(self.name, kind, self._redact(message), status=status, details=extra)

    def _blocked(self, data: dict[str, Any]) -> ProviderError | None:
        reason = (data.get("promptFeedback") or {}).get("blockReason")
        if data.get("candidates") or not reason:
            return None
        return ProviderError(
            self.name, "bad_request", f"the prompt was blocked ({reason})", details={"block_reason": reason}
        )

    def _answer(self, data: Any, request: ChatRequest, latency_s: float) -> ChatResponse:
        blocked = self._blocked(data)
        if blocked:
            raise blocked
        candidate = data["candidates"][0]
        finish = candidate.get("finishReason")
        return ChatResponse(
            provider=self.name,
            model=str(data.get("modelVersion") or request.model),
            text=_text(candidate),
            finish_reason=FINISH.get(finish, finish),
            usage=_usage(data),
            latency_s=latency_s,
        )

    def _event(self, data: str, stream: Stream) -> bool:
        event = json.loads(data)
        error = self._api_error(event, None) or self._blocked(event)
        if error:
            error.details["partial"] = bool(stream.parts)
            raise error
        stream.model = event.get("modelVersion") or stream.model
        stream.usage = _usage(event) or stream.usage
        for candidate in (event.get("candidates") or [])[:1]:
            stream.text(_text(candidate))
            reason = candidate.get("finishReason")
            stream.finish = FINISH.get(reason, reason) or stream.finish
        stream.done = stream.finish is not None
        return False


def _daily_quota(details: list[dict[str, Any]]) -> bool:
    """Whether a QuotaFailure names a daily quota (``GenerateRequestsPerDayPerProjectPerModel-FreeTier``):
    Gemini words a per-minute and a per-day 429 alike, and only this says that waiting seconds will not help."""
    violations = [v for d in details for v in d.get("violations") or [] if isinstance(v, dict)]
    return any("PerDay" in str(v.get("quotaId")) for v in violations)


def _text(candidate: dict[str, Any]) -> str:
    parts = (candidate.get("content") or {}).get("parts") or []
    return "".join(str(p.get("text") or "") for p in parts if not p.get("thought"))


def _usage(data: dict[str, Any]) -> Usage | None:
    usage = data.get("usageMetadata") or None
    if not usage:
        return None
    return Usage(int(usage.get("promptTokenCount", 0)), int(usage.get("candidatesTokenCount", 0)))
