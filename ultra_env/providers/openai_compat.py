"""Any OpenAI-compatible chat API: Docker Model Runner (``…/engines/v1``), llama.cpp, vLLM,
Ollama, LM Studio, a team server, or OpenAI itself."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from ultra_env import http
from ultra_env.providers.base import ChatRequest, ChatResponse, ProviderError, Usage, kind_for_status

RETRIES = 2


class OpenAICompatible:
    def __init__(self, name: str, base_url: str, api_key: str | None = None, *, transport: Any = None) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._transport = transport

    def _client(self, timeout: float) -> Any:
        return http.client(timeout, transport=self._transport) if self._transport else http.client(timeout)

    def list_models(self, timeout: float) -> list[str]:
        import httpx

        try:
            with self._client(timeout) as client:
                response = client.get(f"{self.base_url}/models", headers=self._headers)
        except httpx.HTTPError as exc:
            raise self._error(exc) from None
        if response.status_code != 200:
            raise self._status_error(response.status_code, response.text)
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
        return {"model": request.model, "messages": request.messages, "max_tokens": request.max_tokens,
                "temperature": request.temperature, "stream": request.stream}

    def _error(self, exc: Exception) -> ProviderError:
        import httpx

        if isinstance(exc, httpx.TimeoutException):
            return ProviderError(self.name, "timeout", f"no answer in time ({type(exc).__name__})")
        return ProviderError(self.name, "connection", f"{type(exc).__name__}: {exc}")

    def _status_error(self, status: int, body: str) -> ProviderError:
        try:
            error = json.loads(body).get("error", {})
            message = error.get("message") if isinstance(error, dict) else str(error)
        except (ValueError, AttributeError):
            message = None
        return ProviderError(self.name, kind_for_status(status), message or body.strip()[:200] or f"HTTP {status}",
                             status=status)

    def _plain(self, request: ChatRequest) -> ChatResponse:
        import httpx

        start = time.perf_counter()
        try:
            with self._client(request.timeout) as client:
                response = client.post(f"{self.base_url}/chat/completions", json=self._body(request),
                                       headers=self._headers)
        except httpx.HTTPError as exc:
            raise self._error(exc) from None
        latency = time.perf_counter() - start
        if response.status_code != 200:
            raise self._status_error(response.status_code, response.text)
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise ProviderError(self.name, "bad_response", "the answer is not a chat completion") from None
        usage = data.get("usage") or None
        return ChatResponse(
            provider=self.name, model=str(data.get("model") or request.model), text=text,
            finish_reason=choice.get("finish_reason"),
            usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))) if usage else None,
            latency_s=latency, server_tokens_per_s=server_speed(data),
        )

    def _stream(self, request: ChatRequest, on_text: Callable[[str], None] | None) -> ChatResponse:
        import httpx

        start = time.perf_counter()
        ttft: float | None = None
        parts: list[str] = []
        chunks = 0
        finish: str | None = None
        usage: Usage | None = None
        server_rate: float | None = None
        model = request.model
        done = False
        try:
            with self._client(request.timeout) as client, client.stream(
                "POST", f"{self.base_url}/chat/completions", json=self._body(request), headers=self._headers,
            ) as response:
                if response.status_code != 200:
                    raise self._status_error(response.status_code, response.read().decode("utf-8", "replace"))
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        done = True
                        break
                    event = json.loads(payload)
                    model = event.get("model") or model
                    server_rate = server_speed(event) or server_rate
                    if event.get("usage"):
                        usage = Usage(int(event["usage"].get("prompt_tokens", 0)),
                                      int(event["usage"].get("completion_tokens", 0)))
                    for choice in event.get("choices") or []:
                        content = (choice.get("delta") or {}).get("content")
                        if content:
                            if ttft is None:
                                ttft = time.perf_counter() - start
                            parts.append(content)
                            chunks += 1
                            if on_text is not None:
                                on_text(content)
                        finish = choice.get("finish_reason") or finish
        except httpx.HTTPError as exc:
            error = self._error(exc)
            error.details["partial"] = bool(parts)
            raise error from None
        except ValueError:
            raise ProviderError(self.name, "bad_response", "unreadable stream event") from None
        if not done and finish is None:
            raise ProviderError(self.name, "connection", "the stream ended before the answer did",
                                details={"partial": bool(parts)})
        return ChatResponse(self.name, str(model), "".join(parts), finish, usage,
                            time.perf_counter() - start, ttft, chunks, server_rate)


def server_speed(body: dict[str, Any]) -> float | None:
    """llama.cpp's own decode speed (``timings.predicted_per_second``), which DMR passes through."""
    timings = body.get("timings")
    if isinstance(timings, dict) and isinstance(timings.get("predicted_per_second"), (int, float)):
        return float(timings["predicted_per_second"])
    return None
