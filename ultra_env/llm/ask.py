"""Asking models: one answer (``llm.ask``) or the same prompt to every enabled provider (``llm.compare``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ultra_env import concurrently
from ultra_env.llm.providers.base import ChatRequest, ChatResponse, ProviderError
from ultra_env.llm.providers.registry import Target

MAX_TOKENS = 256


@dataclass(frozen=True)
class Outcome:
    """A provider's answer, or its error; never both, never an error dressed as an answer."""

    target: Target
    response: ChatResponse | None = None
    error: ProviderError | None = None

    def to_dict(self) -> dict:
        out: dict = {"provider": self.target.provider.name, "model": self.target.model, "ok": self.error is None}
        if self.response is not None:
            out["response"] = self.response.to_dict()
        if self.error is not None:
            out["error"] = {"kind": self.error.kind, "message": self.error.message, "status": self.error.status}
        return out


def request_for(prompt: str, model: str, *, stream: bool, timeout: float, max_tokens: int = MAX_TOKENS) -> ChatRequest:
    return ChatRequest(
        [{"role": "user", "content": prompt}], model, max_tokens=max_tokens, stream=stream, timeout=timeout
    )


def ask(
    target: Target,
    prompt: str,
    *,
    stream: bool,
    timeout: float,
    max_tokens: int = MAX_TOKENS,
    on_text: Callable[[str], None] | None = None,
) -> Outcome:
    request = request_for(prompt, target.model, stream=stream, timeout=timeout, max_tokens=max_tokens)
    try:
        response = target.provider.chat(request, on_text)
    except ProviderError as exc:
        return Outcome(target, error=exc)
    return Outcome(target, response=response)


def compare(targets: list[Target], prompt: str, *, timeout: float, max_tokens: int = MAX_TOKENS) -> list[Outcome]:
    """Every target at once; one failing does not stop the others. Streaming, to measure first tokens."""
    return concurrently.each(lambda t: ask(t, prompt, stream=True, timeout=timeout, max_tokens=max_tokens), targets)
