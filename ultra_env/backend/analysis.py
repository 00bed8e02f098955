"""One prompt to many models at once: each answer in its own entry, a failure in its own entry too.

Providers are synchronous (httpx); each model runs in a thread of its own, so one analysis takes
about as long as its slowest model, not the sum.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ultra_env.backend.redaction import Redact, Redactor
from ultra_env.llm.providers.base import ChatRequest, ChatResponse, ProviderError
from ultra_env.llm.providers.registry import Target

Emit = Callable[[str, dict[str, Any]], None]


def entry(
    target: Target, response: ChatResponse | None, error: ProviderError | Exception | None, redact: Redact
) -> dict[str, Any]:
    """One model's result in the API's shape (times in seconds)."""
    out: dict[str, Any] = {
        "provider": target.provider.name,
        "model": target.model,
        "text": "",
        "latency_s": None,
        "first_token_s": None,
        "tokens_in": None,
        "tokens_out": None,
        "finish_reason": None,
        "error": None,
    }
    if response is not None:
        usage = response.usage
        out.update(
            text=redact(response.text),
            latency_s=round(response.latency_s, 4),
            first_token_s=None if response.ttft_s is None else round(response.ttft_s, 4),
            tokens_in=usage.prompt_tokens if usage else None,
            tokens_out=usage.completion_tokens if usage else response.completion_tokens or None,
            finish_reason=response.finish_reason,
        )
    if error is not None:
        kind = error.kind if isinstance(error, ProviderError) else "internal"
        message = error.message if isinstance(error, ProviderError) else type(error).__name__
        out["error"] = {"kind": kind, "message": redact(message)}
    return out


def ask(
    target: Target,
    prompt: str,
    *,
    max_tokens: int,
    timeout: float,
    redact: Redact,
    on_text: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    request = ChatRequest(
        [{"role": "user", "content": prompt}], target.model, max_tokens=max_tokens, stream=True, timeout=timeout
    )
    try:
        return entry(target, target.provider.chat(request, on_text), None, redact)
    except ProviderError as exc:
        return entry(target, None, exc, redact)
    except Exception as exc:  # a provider's bug must not take the other answers down
        return entry(target, None, exc, redact)


def run(targets: list[Target], prompt: str, *, max_tokens: int, timeout: float, redact: Redact) -> list[dict]:
    """Every target at once; the results in the targets' order."""
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        futures = [pool.submit(ask, t, prompt, max_tokens=max_tokens, timeout=timeout, redact=redact) for t in targets]
        return [future.result() for future in futures]


def stream(
    targets: list[Target], prompt: str, *, max_tokens: int, timeout: float, redact: Redactor, emit: Emit
) -> None:
    """The same as events as they happen, each passed to ``emit`` (from the models' threads):
    ``("token", {"id", "provider", "model", "text"})`` while a model writes, ``("result", {"id", **entry})``
    when it is done. Returns when every model is done. Each model's pieces are masked as a stream:
    a secret split across pieces never shows, and the pieces joined are the result's text."""

    def one(target: Target) -> None:
        mask = redact.stream()
        tag = {"id": target.label, "provider": target.provider.name, "model": target.model}

        def token(piece: str) -> None:
            shown = mask.feed(piece)
            if shown:
                emit("token", {**tag, "text": shown})

        result = ask(target, prompt, max_tokens=max_tokens, timeout=timeout, redact=redact, on_text=token)
        rest = mask.end()
        if rest:
            emit("token", {**tag, "text": rest})
        emit("result", {"id": target.label, **result})

    threads = [threading.Thread(target=one, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
