"""`invoke setup --local-llm` end to end: real engine, real Compose running the DMR stand-in's
`docker-model` plugin for `models:`, and the real Gemma 3 270M behind llama.cpp."""

from __future__ import annotations

import json

import pytest

from conftest import GEMMA, Project, StandIn

pytestmark = [pytest.mark.docker, pytest.mark.llm]
TAG = "ai/gemma3:270m-q4_k_m"


def by_name(result) -> dict[str, dict]:
    return {t["name"]: t for t in result.json()["tasks"]}


def invocations(dmr: StandIn) -> list[list[str]]:
    path = dmr.home / "invocations.jsonl"
    return [json.loads(line)["argv"] for line in path.read_text().splitlines()] if path.exists() else []


def test_setup_local_llm_end_to_end(stack: Project, dmr: StandIn) -> None:
    first = stack.invoke("setup", "--local-llm", "--json", timeout=900, **dmr.env)
    tasks = by_name(first)
    assert first.returncode == 0, json.dumps(first.json(), indent=1)
    assert tasks[f"pull {TAG}"]["status"] == "changed"
    assert "models:" in stack.read("docker-compose.yml")
    completion = tasks["chat completion"]
    assert completion["status"] == "ok"
    assert completion["data"]["completion_tokens"] > 0 and completion["data"]["prompt_tokens"] > 0
    assert completion["data"]["ttft_s"] > 0 and completion["data"]["tokens_per_s"] > 0
    assert tasks["API from inside the stack"]["status"] == "ok"
    assert "172.17.0.1" in tasks["API from inside the stack"]["msg"]  # the endpoint Compose injected
    assert tasks["backend /health"]["status"] == "ok"
    assert "its LLM endpoint answers" in tasks["backend /health"]["msg"]
    calls = invocations(dmr)
    assert any(argv[-3:] == ["--context-size", "2048", TAG] for argv in calls), calls  # Compose configured it

    second = stack.invoke("setup", "--local-llm", "--json", timeout=900, **dmr.env)
    assert second.returncode == 0
    assert second.json()["recap"]["changed"] == 0, second.stdout
    assert by_name(second)[f"pull {TAG}"] == {"name": f"pull {TAG}", "status": "ok", "msg": "present", "fix": None}
