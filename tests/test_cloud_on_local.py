"""The cloud adapters on the local runner (issue 22): with ``features.cloud_on_local``, OpenAI's and
Anthropic's own adapters (request building, streaming, response parsing) ask the local model through
Model Runner's OpenAI route (/engines/v1) and Anthropic route (/anthropic/v1/messages), played by the
DMR stand-in from upstream's pkg/anthropic over the real llama.cpp. No key is set; every cloud base
URL points at a listener that records connections, and none come: offline, proved as
test_backend_stack proves the local profile offline. One prompt through the three routes gives one
response format (text, tokens in and out, finish reason, timing)."""

from __future__ import annotations

import httpx
import pytest
from conftest import GEMMA, Project, StandIn, cloud_env
from support.listener import Listener

pytestmark = [pytest.mark.compose, pytest.mark.llm]
ROUTES = {"local", "openai@local", "anthropic@local"}
ON = {"ULTRA_ENV_FEATURES__CLOUD_ON_LOCAL": "true"}


@pytest.fixture
def ready(project: Project, dmr: StandIn, cloud: Listener) -> Project:
    project.env.update({**dmr.env, **cloud_env(cloud), **ON})
    assert project.invoke("models.pull").returncode == 0
    return project


def test_one_prompt_through_the_three_routes_gives_one_format_offline(ready: Project, cloud: Listener) -> None:
    """Streamed side by side (llm.compare): text, finish reason, time and first-token time from each.
    Token counts come from the plain answers below: llama-cpp-python, behind the stand-in, ignores
    stream_options.include_usage, which the real llama-server honours."""
    result = ready.invoke("llm.compare", "Name three colours.", "--json", "--max-tokens", "16")
    assert result.returncode == 0, result.output[-3000:]
    rows = {row["provider"]: row for row in result.json()["results"]}
    assert set(rows) == ROUTES, rows
    shapes = set()
    for provider, row in rows.items():
        assert row["ok"] and row["model"] == GEMMA, row
        response = row["response"]
        assert response["model"] == GEMMA, (provider, response["model"])  # the model asked, not a .gguf path
        assert response["text"] and response["finish_reason"] in ("stop", "length"), (provider, response)
        assert response["latency_s"] > 0 and response["ttft_s"] > 0 and response["chunks"] > 0, (provider, response)
        shapes.add(tuple(sorted(response)))
    assert len(shapes) == 1, shapes  # the same fields, whichever route answered
    assert cloud.seen == [], "no call left this machine"


@pytest.mark.parametrize("provider", sorted(ROUTES))
def test_each_route_answers_with_tokens_in_and_out_and_streams_with_no_key(
    ready: Project, cloud: Listener, provider: str
) -> None:
    plain = ready.invoke("llm.ask", "Hi", "--provider", provider, "--json", "--max-tokens", "16")
    assert plain.returncode == 0, plain.output[-3000:]
    answer = plain.json()
    response = answer["response"]
    assert (answer["provider"], response["model"]) == (provider, GEMMA), answer
    assert response["usage"]["prompt_tokens"] > 0 and response["usage"]["completion_tokens"] > 0, response
    assert response["finish_reason"] in ("stop", "length") and response["latency_s"] > 0, response
    streamed = ready.invoke("llm.ask", "Hi", "--provider", provider, "--stream", "--max-tokens", "16")
    assert streamed.returncode == 0 and streamed.stdout.strip(), streamed.output[-3000:]
    assert cloud.seen == []


def test_the_setting_needs_local_models(project: Project) -> None:
    result = project.invoke("config", "--profile", "cloud", **ON)
    assert result.returncode == 2 and "features.cloud_on_local" in result.output and "local_llm" in result.output


@pytest.mark.shared_stack
@pytest.mark.docker
def test_the_backend_asks_the_three_routes_offline(stack: Project, dmr: StandIn, cloud: Listener) -> None:
    setup = stack.invoke("setup", "--local-llm", "--json", timeout=900, **dmr.env, **ON)
    assert setup.returncode == 0, setup.stdout[-4000:]
    port = stack.env["ULTRA_ENV_PORTS__BACKEND"]
    answer = httpx.post(f"http://127.0.0.1:{port}/api/analyze", json={"prompt": "Hello", "max_tokens": 8}, timeout=120)
    results = {r["provider"]: r for r in answer.json()["results"]}
    assert set(results) == ROUTES, results
    for provider, result in results.items():
        assert result["error"] is None and result["model"] == GEMMA, (provider, result)
    fields = {tuple(sorted(r)) for r in results.values()}
    assert len(fields) == 1, fields
    assert cloud.seen == []


@pytest.mark.parametrize(
    ("llm_url", "root"),
    [
        ("http://model-runner.docker.internal/engines/v1/", "http://model-runner.docker.internal"),  # Compose models:
        ("http://host.docker.internal:12434/engines/v1", "http://host.docker.internal:12434"),  # explicit URLs
        ("http://host.docker.internal:12434/v1/", "http://host.docker.internal:12434"),  # a runner's /v1/ endpoint
    ],
)
def test_the_backend_builds_the_adapters_on_the_runner_compose_gave_it(llm_url: str, root: str) -> None:
    from ultra_env.backend.settings import from_env
    from ultra_env.backend.targets import targets

    env = {"USE_MODEL_RUNNER": "true", "LLM_URL": llm_url, "LLM_MODEL": GEMMA, "CLOUD_ON_LOCAL": "true"}
    found = {t.provider.name: t for t in targets(from_env(env))}
    assert set(found) == ROUTES and {t.model for t in found.values()} == {GEMMA}
    assert found["openai@local"].provider.base_url == f"{root}/engines/v1"
    assert found["anthropic@local"].provider.base_url == f"{root}/anthropic"
    assert set(t.provider.name for t in targets(from_env({**env, "USE_MODEL_RUNNER": "false"}))) == set()
