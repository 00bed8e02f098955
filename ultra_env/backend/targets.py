"""The models the backend asks, as providers of ultra-env's one provider layer, and the mock."""

from __future__ import annotations

import time
from collections.abc import Callable

from ultra_env.backend.settings import MOCK_MODEL, BackendConfig
from ultra_env.llm.providers.base import ChatRequest, ChatResponse, Usage
from ultra_env.llm.providers.openai_compat import OpenAICompatible
from ultra_env.llm.providers.registry import Target, cloud_on_local, cloud_provider

LOCAL = "local"
TEAM = "team"
MOCK = "mock"


class MockProvider:
    """The mock LLM of the mock profile: an answer made from the prompt, at once, free and offline,
    streamed word by word like a real one (what Ultra's CI runs against)."""

    name = MOCK

    def chat(self, request: ChatRequest, on_text: Callable[[str], None] | None = None) -> ChatResponse:
        start = time.perf_counter()
        prompt = " ".join(m.get("content", "") for m in request.messages if m.get("role") == "user")
        words = ["Mock", "answer", "to:", *prompt.split()][: request.max_tokens]
        ttft = None
        for index, word in enumerate(words):
            if on_text is not None:
                on_text(("" if index == 0 else " ") + word)
            ttft = ttft if ttft is not None else time.perf_counter() - start
        finish = "length" if len(words) == request.max_tokens else "stop"
        return ChatResponse(
            MOCK,
            request.model,
            " ".join(words),
            finish,
            Usage(len(prompt.split()), len(words)),
            time.perf_counter() - start,
            ttft if request.stream else None,
            len(words) if request.stream else 0,
        )

    def list_models(self, timeout: float) -> list[str]:
        return [MOCK_MODEL]


def targets(config: BackendConfig) -> list[Target]:
    """Every enabled model, in a stable order: local, team, cloud, mock. Local ones share one provider per URL."""
    found: list[Target] = []
    local: dict[str, OpenAICompatible] = {}
    for model in config.local:
        # DMR's llama.cpp server sends token usage at the end of a stream when asked (stream_options).
        provider = local.setdefault(model.url, OpenAICompatible(LOCAL, model.url, retries=0, stream_usage=True))
        found.append(Target(provider, model.model))
    if config.cloud_on_local and config.local:
        found += cloud_on_local(config.local[0].url, config.local[0].model)
    if config.team is not None:
        team = OpenAICompatible(TEAM, config.team.url, config.team.key or None, retries=0, stream_usage=True)
        found += [Target(team, model) for model in config.team.models]
    for cloud in config.cloud:
        found.append(Target(cloud_provider(cloud.provider, cloud.key, cloud.base_url), cloud.model))
    if config.mock:
        found.append(Target(MockProvider(), MOCK_MODEL))
    return found


def select(available: list[Target], wanted: list[str] | None) -> tuple[list[Target], list[str]]:
    """The targets ``wanted`` names (by ``provider:model`` or by model), and the names that match none."""
    if not wanted:
        return available, []
    chosen, unknown = [], []
    for name in wanted:
        match = [t for t in available if name in (t.label, t.model)]
        if not match:
            unknown.append(name)
        chosen += [t for t in match if t not in chosen]
    return chosen, unknown
