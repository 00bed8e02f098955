"""ultra-env against what the real Model Runner does (reference sections 3-6 and 9, each behaviour
played by the stand-in from the upstream file it names): errors before a pull's stream, gated
Hugging Face models, tags beyond a model's first, no host TCP, context sizes applied and read
back, refused runtime flags, and files written under the old name rule."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import GEMMA, Project, StandIn

pytestmark = [pytest.mark.compose, pytest.mark.llm]
DEAD_API = {"ULTRA_ENV_MODEL_RUNNER__HOST_URL": "http://127.0.0.1:9"}  # nothing listens: no host TCP


def by_name(result) -> dict[str, dict]:
    return {t["name"]: t for t in result.json()["tasks"]}


def creates(dmr: StandIn) -> int:
    log = dmr.home / "server.log"
    return log.read_text().count('"POST /models/create') if log.exists() else 0


@pytest.fixture
def runner(project: Project, dmr: StandIn) -> Project:
    project.env.update(dmr.env)
    return project


@pytest.mark.parametrize(
    ("status", "cause", "fix", "attempts"),
    [
        (400, "is not a reference Model Runner accepts", "namespace/name[:tag]", 1),
        (404, "no model ai/gemma3:270M-Q4_K_M in its registry", "tags are case-sensitive", 1),
        (422, "in a format newer than this Model Runner", "docker model reinstall-runner", 1),
        (500, "Model Runner failed to pull", "docker model logs", 1),  # not retried: the CLI retries 502/503/504 only
        (503, "answered 503", None, 4),
    ],
)
def test_errors_before_the_pull_stream(
    runner: Project, dmr: StandIn, status: int, cause: str, fix: str | None, attempts: int
) -> None:
    dmr.update(inject={"create_http_error": {"status": status, "message": "Model not found"}})
    result = runner.invoke("models.pull", "--json")
    task = by_name(result)[f"pull {GEMMA}"]
    assert result.returncode == 1 and task["status"] == "failed"
    assert cause in task["msg"] and (fix is None or fix in task["fix"])
    assert creates(dmr) == attempts


def test_a_gated_hugging_face_model_needs_hf_token_which_is_never_shown(runner: Project, dmr: StandIn, gguf) -> None:
    from dmr_standin import state

    gated = "hf.co/Org/Gated-GGUF:Q4_K_M"
    state.add_to_registry(
        dmr.home,
        state.registry_entry(
            gated,
            gguf,
            quantization="Q4_K_M",
            parameters="268.10 M",
            architecture="gemma3",
            context_size=None,
            model_id="sha256:" + "1" * 64,
            gated=True,
        ),
    )
    token = "hf_PLANTEDtokenVALUE0042"
    dmr.update(hf_token=token)
    refused = runner.invoke("models.pull", "--model", gated, "--json")
    task = by_name(refused)["pull huggingface.co/org/gated-gguf:Q4_K_M"]
    assert refused.returncode == 1 and "is gated" in task["msg"] and "HF_TOKEN" in task["fix"]

    runner.write(".env", f"HF_TOKEN={token}\n")
    for extra in ({}, DEAD_API):  # through the API (token in the body), then the CLI (token in its environment)
        pulled = runner.invoke("models.pull", "--model", gated, **extra)
        assert pulled.returncode == 0, pulled.output
        assert token not in pulled.output
        assert runner.invoke("models.rm", gated, "--yes", **extra).returncode == 0


@pytest.mark.shared_stack
def test_every_tag_of_a_model_counts_not_only_its_first(stack: Project, dmr: StandIn) -> None:
    """`/engines/v1/models` lists one tag per model: presence is decided from `GET /models`."""
    from dmr_standin import state

    assert stack.invoke("setup", "--local-llm", timeout=900, **dmr.env).returncode == 0
    second = "ai/gemma3:second-Tag"
    state.add_tag(dmr.home, GEMMA, second)
    env = {**dmr.env, "ULTRA_ENV_MODELS": json.dumps([{"name": second, "context_size": 2048}])}
    assert by_name(stack.invoke("doctor", "--json", **env))[f"model {second}"]["status"] == "ok"
    health = stack.invoke("health", "--json", **env)
    tasks = by_name(health)
    assert tasks["models served"]["status"] == "ok", health.stdout
    assert tasks["chat completion"]["status"] == "ok" and tasks["chat completion"]["data"]["model"] == second


@pytest.mark.shared_stack
def test_without_host_tcp_the_docker_model_cli_does_the_work(stack: Project, dmr: StandIn) -> None:
    """The API does not answer on the host (here: an old-format plugin, whose status names only the
    container endpoint and which panics on `status --json`); the CLI reaches the runner anyway."""
    dmr.update(format="old")
    env = {**dmr.env, **DEAD_API}
    pulled = stack.invoke("models.pull", **env)
    assert pulled.returncode == 0, pulled.output
    assert f"pulling {GEMMA}: 253.1 of 253.1 MB 100.0%" in pulled.stdout  # progress from the CLI's own lines
    assert pulled.stdout.count("does not answer") == 1  # said once, as runner_verdicts words it on Engine
    assert "ultra-env uses the docker model CLI instead" in pulled.stdout
    listed = stack.invoke("models.list", "--json", **env)
    assert [m["name"] for m in listed.json()] == [GEMMA]
    assert "ultra-env uses the docker model CLI instead" in listed.stderr

    setup = stack.invoke("setup", "--local-llm", "--json", timeout=900, **env)
    tasks = by_name(setup)
    assert setup.returncode == 0, setup.stdout
    assert tasks["Model Runner API"]["status"] == "warn" and tasks[f"pull {GEMMA}"]["msg"] == "present"
    assert tasks["chat completion"]["status"] == "skipped"
    assert tasks["API from inside the stack"]["status"] == "ok"

    removed = stack.invoke("models.rm", GEMMA, "--yes", "--json", **env)
    assert by_name(removed)[f"remove {GEMMA}"]["msg"] == "removed (through the docker model CLI)"
    assert stack.invoke("models.list", "--json", **env).json() == []


@pytest.mark.shared_stack
def test_context_size_is_applied_where_compose_does_not_and_read_back(stack: Project, dmr: StandIn) -> None:
    env = {**dmr.env, "ULTRA_ENV_MODEL_RUNNER__COMPOSE_MODELS": "off"}  # no models: rendered
    first = stack.invoke("setup", "--local-llm", "--json", timeout=900, **env)
    tasks = by_name(first)
    assert first.returncode == 0, first.stdout
    assert (tasks[f"configure {GEMMA}"]["status"], tasks[f"configure {GEMMA}"]["msg"]) == (
        "changed",
        "applied context size 2048",
    )
    assert tasks[f"context size {GEMMA}"]["status"] == "ok"
    again = stack.invoke("setup", "--local-llm", "--json", timeout=900, **env)
    assert again.json()["recap"]["changed"] == 0, again.stdout

    unload = subprocess.run(
        ["docker", "model", "unload", "--all"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **dmr.env},
    )
    assert unload.returncode == 0, unload.stderr
    lost = by_name(stack.invoke("health", "--json", **env))[f"context size {GEMMA}"]
    assert lost["status"] == "warn" and "the configuration says 2048" in lost["msg"]
    assert "invoke setup" in lost["fix"]
    healed = by_name(stack.invoke("setup", "--local-llm", "--json", timeout=900, **env))
    assert healed[f"configure {GEMMA}"]["status"] == "changed" and healed[f"context size {GEMMA}"]["status"] == "ok"


@pytest.mark.parametrize("flags", [["--log-file", "x.log"], ["--grammar", "../etc/passwd"], ["--model=m"]])
def test_a_runtime_flag_model_runner_refuses_stops_everything(project: Project, flags: list[str]) -> None:
    models = json.dumps([{"name": GEMMA, "runtime_flags": flags}])
    for command in (["setup", "--local-llm"], ["render", "--local-llm"], ["doctor", "--local-llm"]):
        result = project.invoke(*command, ULTRA_ENV_MODELS=models)
        assert result.returncode == 2, result.output
        line = next(line for line in result.stdout.splitlines() if "runtime_flags" in line)
        assert "models.0.runtime_flags: " in line and ("is not allowed for backend" in line or "paths" in line)
        assert project.written() == []


def test_files_written_under_the_old_lower_case_rule_do_not_break_the_next_run(project: Project) -> None:
    """Until now a model's tag was lower-cased: the old toolkit wrote exactly what a lower-case name
    renders. The next run treats those files as its own and brings them to the tag as written."""
    lower = GEMMA.lower()
    old = project.invoke("render", "--local-llm", ULTRA_ENV_MODELS=json.dumps([{"name": lower}]))
    assert old.returncode == 0, old.output
    assert f"DEFAULT_LOCAL_MODEL={lower}" in project.read(".env")
    new = project.invoke("render", "--local-llm", "--json", ULTRA_ENV_MODELS=json.dumps([{"name": GEMMA}]))
    tasks = by_name(new)
    assert new.returncode == 0, new.stdout
    assert tasks["docker-compose.yml"]["status"] == "changed" and tasks[".env"]["status"] == "changed"
    assert f"DEFAULT_LOCAL_MODEL={GEMMA}" in project.read(".env")
    assert f'model: "{GEMMA}"' in project.read("docker-compose.yml")
