"""`invoke llm.ask` and `invoke llm.compare` against the local model (stand-in DMR, real llama.cpp)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import GEMMA, REPO, Project, StandIn

pytestmark = [pytest.mark.compose, pytest.mark.llm]
TAG = GEMMA  # normalised, the tag keeps its case


@pytest.fixture
def ready(project: Project, dmr: StandIn) -> Project:
    project.env.update(dmr.env)
    assert project.invoke("models.pull").returncode == 0
    return project


def test_compare_local_model_json(ready: Project) -> None:
    result = ready.invoke("llm.compare", "Name three colours.", "--json", "--max-tokens", "8")
    assert result.returncode == 0, result.output
    (row,) = result.json()["results"]
    assert (row["provider"], row["model"], row["ok"]) == ("local", TAG, True)
    response = row["response"]
    assert response["chunks"] > 0 and response["ttft_s"] > 0 and response["tokens_per_s"] > 0
    assert response["finish_reason"] in ("length", "stop")
    assert response["chunks"] <= 8  # a streamed piece a token, at most --max-tokens of them


def test_compare_table_shows_a_failing_provider_in_its_row(ready: Project) -> None:
    endpoints = json.dumps({"broken": {"base_url": "http://127.0.0.1:9/v1", "model": "x"}})
    result = ready.invoke(
        "llm.compare", "Hi", "--profile", "hybrid", "--max-tokens", "8", ULTRA_ENV_ENDPOINTS=endpoints
    )
    assert result.returncode == 1  # one provider failed
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["PROVIDER", "MODEL", "LATENCY"]
    local = next(line for line in lines if line.startswith("local"))
    broken = next(line for line in lines if line.startswith("broken"))
    assert "ERROR" not in local and "s " in local
    assert "ERROR connection" in broken


def test_ask_streams_the_answer_and_reports_its_numbers(ready: Project) -> None:
    result = ready.invoke("llm.ask", "Say hi.", "--stream", "--max-tokens", "16")
    assert result.returncode == 0
    assert result.stderr.startswith(f"— local:{TAG} · ") and "first token" in result.stderr
    as_json = ready.invoke("llm.ask", "Say hi.", "--json", "--max-tokens", "8").json()
    assert as_json["ok"] and 0 < as_json["response"]["usage"]["completion_tokens"] <= 8


@pytest.mark.parametrize("task", ["llm.ask", "llm.compare"])
@pytest.mark.parametrize("bad", ["0", "-1", "many", "32769", "9" * 30])
def test_a_max_tokens_that_is_not_a_count_is_refused_before_any_call(project: Project, task: str, bad: str) -> None:
    result = project.invoke(task, "Hi", "--max-tokens", bad, "--profile", "local")
    assert result.returncode == 2, result.output
    assert "--max-tokens takes" in result.stdout and f"fix: example: invoke {task} --max-tokens 64" in result.stdout
    assert "9" * 30 not in result.output


def test_asking_a_provider_the_profile_does_not_enable_is_refused(ready: Project) -> None:
    result = ready.invoke("llm.ask", "Hi", "--provider", "openai", OPENAI_API_KEY="sk-PLANTED-never-sent")
    assert result.returncode == 2 and "no enabled provider matches openai in the local profile" in result.stdout
    assert "sk-PLANTED" not in result.output


def test_the_local_profile_never_connects_to_a_cloud_host(ready: Project, tmp_path) -> None:
    """With cloud keys present, the local profile still opens no connection beyond loopback."""
    trace = tmp_path / "connect.trace"
    keys = {"OPENAI_API_KEY": "sk-PLANTED-1", "ANTHROPIC_API_KEY": "sk-ant-PLANTED-2", "GOOGLE_API_KEY": "AIzaPLANTED"}
    done = subprocess.run(
        [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=connect",
            "-o",
            str(trace),
            sys.executable,
            "-m",
            "invoke",
            "-r",
            str(REPO),
            "llm.compare",
            "Hi",
            "--json",
            "--max-tokens",
            "8",
        ],
        env={**ready.env, **keys},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ready.root,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert [r["provider"] for r in json.loads(done.stdout)["results"]] == ["local"]
    inet = [line for line in trace.read_text().splitlines() if "AF_INET" in line]
    assert inet and all("127.0.0.1" in line or "::1" in line for line in inet), inet[:5]


def test_models_bench_json(ready: Project) -> None:
    result = ready.invoke("models.bench", "--requests", "3", "--concurrency", "1,2", "--max-tokens", "8", "--json")
    assert result.returncode == 0, result.output
    rows = result.json()["results"]
    assert [(r["provider"], r["concurrency"], r["requests"], r["errors"]) for r in rows] == [
        ("local", 1, 3, 0),
        ("local", 2, 3, 0),
    ]
    for row in rows:
        assert 0 < row["ttft_p50_s"] <= row["ttft_p95_s"] <= row["latency_p95_s"]
        assert row["decode_tokens_per_s"] > 0 and row["throughput_tokens_per_s"] > 0
    table = ready.invoke("models.bench", "--requests", "1", "--concurrency", "1", "--max-tokens", "4")
    assert table.stdout.splitlines()[0].split()[:3] == ["PROVIDER", "MODEL", "CONC"]


@pytest.mark.parametrize("args", [["--concurrency", "0"], ["--concurrency", "a,b"], ["--requests", "0"]])
def test_models_bench_refuses_bad_numbers(ready: Project, args: list[str]) -> None:
    result = ready.invoke("models.bench", *args)
    assert result.returncode == 2 and "fix:" in result.stdout
