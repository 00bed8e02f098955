"""Any OpenAI-compatible chat API: Docker Model Runner (``…/engines/v1``), llama.cpp, vLLM,
Ollama, LM Studio, a team server, or OpenAI itself."""

from __future__ import annotations

import json
from typing import Any

from ultra_env.llm.providers.base import ChatRequest, ChatResponse, ProviderError, Usage, kind_for_status, model_named
from ultra_env.llm.providers.http_api import RETRIES, HttpProvider, Stream

# OpenAI's 429s that say the account is out of credit or past a spend limit, not that it is too fast.
QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "credit_balance_exhausted",
        "organization_spend_limit_exceeded",
        "project_spend_limit_exceeded",
        "organization_usage_limit_exceeded",
    }
)


class OpenAICompatible(HttpProvider):
    """``stream_usage`` asks for token usage at the end of a stream (``stream_options``); off unless
    the server is known to take it, since some OpenAI-compatible servers reject fields they do not know."""

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str | None = None,
        *,
        stream_usage: bool = False,
        transport: Any = None,
        proxies: bool = False,
        retries: int = RETRIES,
    ) -> None:
        super().__init__(
            name,
            base_url,
            {"Authorization": f"Bearer {api_key}"} if api_key else {},
            secret=api_key,
            transport=transport,
            proxies=proxies,
            retries=retries,
        )
        self.stream_usage = stream_usage

    def list_models(self, timeout: float) -> list[str]:
        return self._get_json("/models", timeout, lambda data: [str(item["id"]) for item in data["data"]])

    def _url(self, request: ChatRequest) -> str:
        return f"{self.base_url}/chat/completions"

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body = {
            "model": request.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": request.stream,
        }
        if request.stream and self.stream_usage:
            body["stream_options"] = {"include_usage": True}
        return body

    def _api_error(self, payload: Any, status: int | None) -> ProviderError | None:
        """``{"error": {"message", "type", "code"}}``, or ``{"error": "text"}`` from some servers."""
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, str):
            error = {"message": error}
        if not isinstance(error, dict) or not error.get("message"):
            return None
        quota = error.get("type") == "insufficient_quota" or str(error.get("code")) in QUOTA_CODES
        kind = "quota" if quota else kind_for_status(status) if status else "server"
        return ProviderError(self.name, kind, self._redact(str(error["message"])), status=status)

    def _answer(self, data: Any, request: ChatRequest, latency_s: float) -> ChatResponse:
        choice = data["choices"][0]
        return ChatResponse(
            provider=self.name,
            model=model_named(data.get("model"), request.model),
            text=choice["message"].get("content") or "",
            finish_reason=choice.get("finish_reason"),
            usage=_usage(data.get("usage")),
            latency_s=latency_s,
            server_tokens_per_s=server_speed(data),
        )

    def _event(self, data: str, stream: Stream) -> bool:
        if data == "[DONE]":
            stream.done = True
            return True
        event = json.loads(data)
        stream.model = model_named(event.get("model"), stream.model)
        stream.server_tokens_per_s = server_speed(event) or stream.server_tokens_per_s
        stream.usage = _usage(event.get("usage")) or stream.usage
        for choice in event.get("choices") or []:
            stream.text((choice.get("delta") or {}).get("content") or "")
            stream.finish = choice.get("finish_reason") or stream.finish
        stream.done = stream.finish is not None
        return False


def _usage(usage: Any) -> Usage | None:
    if not usage:
        return None
    return Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))


def server_speed(body: dict[str, Any]) -> float | None:
    """llama.cpp's own decode speed (``timings.predicted_per_second``), which DMR passes through."""
    timings = body.get("timings")
    if isinstance(timings, dict) and isinstance(timings.get("predicted_per_second"), (int, float)):
        return float(timings["predicted_per_second"])
    return None
