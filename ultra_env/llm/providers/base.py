"""One request shape, one response shape, one error type for every provider, local or cloud.

Times are seconds everywhere. An error is raised as ProviderError, never returned as text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from ultra_env.errors import UltraError


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, str]]
    model: str
    max_tokens: int = 64
    temperature: float = 0.0
    stream: bool = False
    timeout: float = 60.0


@dataclass(frozen=True)
class Usage:
    """What an answer cost, in tokens: the prompt sent, the completion received."""

    prompt_tokens: int
    completion_tokens: int

    def to_dict(self) -> dict[str, int]:
        total = self.prompt_tokens + self.completion_tokens
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens, "total_tokens": total}


@dataclass
class ChatResponse:
    provider: str
    model: str
    text: str
    finish_reason: str | None
    usage: Usage | None
    latency_s: float
    ttft_s: float | None = None  # streaming only: time to the first content token
    chunks: int = 0  # streaming only: content deltas received
    server_tokens_per_s: float | None = None  # decode speed the server itself reports, where it does

    @property
    def completion_tokens(self) -> int:
        return self.usage.completion_tokens if self.usage else self.chunks

    @property
    def tokens_per_s(self) -> float | None:
        """Decode speed: tokens after the first over the time after the first (whole call when not streaming)."""
        tokens = self.completion_tokens
        if self.ttft_s is not None:
            span = self.latency_s - self.ttft_s
            return (tokens - 1) / span if tokens > 1 and span > 0 else None
        return tokens / self.latency_s if tokens and self.latency_s > 0 else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["usage"] = None if self.usage is None else self.usage.to_dict()
        out["tokens_per_s"] = self.tokens_per_s
        return out


# quota: the account is out of credit, or past a spend or daily limit; retrying soon will not help.
ErrorKind = Literal[
    "auth", "rate_limit", "quota", "not_found", "bad_request", "timeout", "connection", "server", "bad_response"
]
TRANSIENT_KINDS: frozenset[ErrorKind] = frozenset({"connection", "timeout", "server", "rate_limit"})


@dataclass
class ProviderError(UltraError):
    provider: str
    kind: ErrorKind
    message: str
    status: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        UltraError.__init__(self, f"{self.provider}: {self.kind}: {self.message}")

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT_KINDS


def kind_for_status(status: int) -> ErrorKind:
    if status in (401, 403):
        return "auth"
    if status == 402:
        return "quota"
    if status == 404:
        return "not_found"
    if status == 429:
        return "rate_limit"
    if status >= 500:
        return "server"
    return "bad_request"


class Provider(Protocol):
    """What every provider offers. ``transport`` (an httpx transport) is for tests only: it is how
    recorded payloads stand in for cloud APIs that cannot be reached from here."""

    name: str

    def chat(self, request: ChatRequest, on_text: Callable[[str], None] | None = None) -> ChatResponse:
        """``on_text`` receives each piece of text as it streams in (``request.stream`` only)."""

    def list_models(self, timeout: float) -> list[str]: ...


def model_named(reported: Any, asked: str) -> str:
    """The model an answer names: the server's name, except where that is a file (Model Runner's
    llama.cpp names the bundle's .gguf path, capture api-probe.txt, on its OpenAI and Anthropic
    routes alike): then the name that was asked."""
    text = str(reported or "")
    return asked if not text or text.startswith("/") or text.endswith(".gguf") else text
