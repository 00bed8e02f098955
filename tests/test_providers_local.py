"""The provider layer against the real model: Docker Model Runner's OpenAI-compatible API (the
stand-in, served by real llama.cpp) and a plain OpenAI-compatible endpoint (llama.cpp itself)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import GEMMA, StandIn

from ultra_env.llm.providers.base import ChatRequest, ProviderError
from ultra_env.llm.providers.openai_compat import OpenAICompatible
from ultra_env.operations import dmr as dmr_client

pytestmark = pytest.mark.llm
PROMPT = [{"role": "user", "content": "Count to five."}]


@pytest.fixture
def local(dmr: StandIn) -> OpenAICompatible:
    dmr_client.Api(dmr.url).pull(GEMMA, lambda progress: None)
    return OpenAICompatible("local", f"{dmr.url}/engines/v1")


@pytest.fixture
def llama(gguf: Path) -> Iterator:
    from dmr_standin.llama import start_llama

    handle = start_llama(gguf, alias="gemma-direct")
    yield handle
    handle.stop()


def test_plain_completion_through_model_runner(local: OpenAICompatible) -> None:
    response = local.chat(ChatRequest(PROMPT, GEMMA, max_tokens=8))
    assert response.provider == "local" and response.model == GEMMA
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens == 8
    assert response.finish_reason == "length"
    assert response.ttft_s is None and response.latency_s > 0 and response.tokens_per_s > 0
    assert isinstance(response.text, str)


def test_streamed_completion_reports_first_token_and_pieces(local: OpenAICompatible) -> None:
    pieces: list[str] = []
    response = local.chat(ChatRequest(PROMPT, GEMMA, max_tokens=12, stream=True), pieces.append)
    assert response.finish_reason in ("length", "stop")
    assert 0 < response.ttft_s < response.latency_s
    assert response.chunks == len(pieces) > 0 and "".join(pieces) == response.text
    assert response.tokens_per_s > 0


def test_a_wrong_model_is_an_error_not_an_answer(local: OpenAICompatible) -> None:
    with pytest.raises(ProviderError) as caught:
        local.chat(ChatRequest(PROMPT, "ai/not-pulled:latest", max_tokens=4))
    assert caught.value.kind == "not_found" and caught.value.status == 404


def test_runner_not_running_is_a_server_error(local: OpenAICompatible, dmr: StandIn) -> None:
    dmr.update(running=False)
    with pytest.raises(ProviderError) as caught:
        local.chat(ChatRequest(PROMPT, GEMMA, max_tokens=4))
    assert caught.value.kind == "server" and caught.value.status == 503


def test_a_generic_openai_compatible_endpoint(llama) -> None:
    provider = OpenAICompatible("team-gpu", f"{llama.url}/v1")
    assert "gemma-direct" in provider.list_models(timeout=10)
    response = provider.chat(ChatRequest(PROMPT, "gemma-direct", max_tokens=6))
    assert response.usage.completion_tokens == 6 and response.finish_reason == "length"


def test_a_timeout_is_typed_and_in_seconds(llama) -> None:
    provider = OpenAICompatible("team-gpu", f"{llama.url}/v1")
    with pytest.raises(ProviderError) as caught:
        provider.chat(ChatRequest(PROMPT, "gemma-direct", max_tokens=200, timeout=0.05))
    assert caught.value.kind == "timeout" and caught.value.transient


def test_a_server_that_dies_mid_stream(llama) -> None:
    provider = OpenAICompatible("team-gpu", f"{llama.url}/v1")
    pieces: list[str] = []

    def die_after_first(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 1:
            llama.process.kill()

    with pytest.raises(ProviderError) as caught:
        provider.chat(ChatRequest(PROMPT, "gemma-direct", max_tokens=200, stream=True), die_after_first)
    assert caught.value.kind == "connection" and caught.value.details["partial"] is True
    assert len(pieces) >= 1  # what arrived was shown, and nothing was retried on top of it


def test_a_refused_connection_is_transient_and_typed() -> None:
    provider = OpenAICompatible("nowhere", "http://127.0.0.1:9/v1")
    with pytest.raises(ProviderError) as caught:
        provider.chat(ChatRequest(PROMPT, "m", max_tokens=1, timeout=2))
    assert caught.value.kind == "connection" and caught.value.transient


def test_health_completion_stays_within_its_budget() -> None:
    """A server that never answers: the health check gives up after its budget, not a multiple of it
    (the provider does not retry on top of the check's own retries)."""
    import socket
    import time

    from ultra_env.checks.health import _completion
    from ultra_env.http import Retry
    from ultra_env.llm.providers.openai_compat import OpenAICompatible

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    try:
        root = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        runner = OpenAICompatible("docker-model-runner", f"{root}/engines/v1", retries=0)  # as health makes it
        result = _completion(runner, GEMMA, Retry(within_s=2.0, backoff=lambda n: 0.2), "invoke models.pull")
        elapsed = time.monotonic() - start
    finally:
        silent.close()
    assert result.status.value == "failed" and "timeout" in result.msg
    assert elapsed < 2.0 + 1.5  # one budget (+ the last attempt's floor), not three
