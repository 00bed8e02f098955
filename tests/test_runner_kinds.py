"""ultra-env against the kinds of Model Runner users have (issue 19), each played by the stand-in
from the captures of the real runner: a standalone runner that listens on the host's loopback
only (kind "Docker Engine (Manual Install)", capture cli-docker-model-plugin.txt, whose
`status --json` hands containers http://127.0.0.1:PORT/v1/), the same runner reachable from the
bridge, and a stack that is not up when health is asked."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from conftest import Project, StandIn

pytestmark = [pytest.mark.docker, pytest.mark.llm]


def by_name(result) -> dict[str, dict]:
    return {t["name"]: t for t in result.json()["tasks"]}


def standalone(dmr: StandIn, host: str) -> StandIn:
    """The stand-in's API served again on ``host`` as a manual install: what the real standalone
    runner prints for ``status --json`` (capture cli-docker-model-plugin.txt, line 28)."""
    from dmr_standin import server

    dmr.stop()
    dmr.handle = server.start(dmr.home, 0, host=host)
    port = dmr.handle.port
    dmr.url = dmr.handle.url
    dmr.update(
        kind="Docker Engine (Manual Install)",
        endpoint=f"http://127.0.0.1:{port}/v1/",
        endpoint_host=f"http://127.0.0.1:{port}/v1/",
    )
    return dmr


@pytest.fixture
def loopback_runner(dmr: StandIn) -> Iterator[StandIn]:
    yield standalone(dmr, "127.0.0.1")


def test_a_runner_on_loopback_only_stops_setup_before_any_change(stack: Project, loopback_runner: StandIn) -> None:
    result = stack.invoke("setup", "--local-llm", "--json", **loopback_runner.env)
    assert result.returncode == 1, result.output
    tasks = by_name(result)
    reach = tasks["runner from containers"]
    assert reach["status"] == "failed", reach
    assert f"listens on 127.0.0.1 port {loopback_runner.handle.port} only" in reach["msg"]
    assert "container_url" in reach["fix"] and "0.0.0.0" in reach["fix"]
    assert tasks["render files"]["status"] == "skipped"
    assert stack.written() == []


def test_doctor_says_so_too(project: Project, loopback_runner: StandIn) -> None:
    result = project.invoke("doctor", "--json", **loopback_runner.env)
    reach = by_name(result)["runner from containers"]
    assert result.returncode == 1 and reach["status"] == "failed", reach


@pytest.mark.shared_stack
def test_a_standalone_runner_reachable_from_the_bridge_gets_explicit_urls_and_answers(
    stack: Project, dmr: StandIn
) -> None:
    runner = standalone(dmr, "0.0.0.0")
    result = stack.invoke("setup", "--local-llm", "--json", timeout=900, **runner.env)
    assert result.returncode == 0, result.stdout[-4000:]
    tasks = by_name(result)
    assert tasks["runner from containers"]["status"] == "ok"
    verdict = tasks["compose models:"]
    assert verdict["status"] == "warn" and "127.0.0.1" in verdict["msg"], verdict
    compose_file = stack.read("docker-compose.yml")
    assert "\nmodels:" not in compose_file  # Compose would have injected the loopback endpoint verbatim
    assert f"host.docker.internal:{runner.handle.port}" in compose_file
    analysis = tasks["backend /api/analyze"]
    assert analysis["status"] == "ok", analysis
    again = stack.invoke("setup", "--local-llm", "--json", timeout=900, **runner.env)
    changes = [t for t in again.json()["tasks"] if t["status"] == "changed"]
    assert again.returncode == 0 and changes == [], changes


def test_health_with_no_stack_fails_at_once_with_the_fix(stack: Project, dmr: StandIn) -> None:
    assert stack.invoke("render", **dmr.env).returncode == 0
    # Health would wait up to its timeout (600 s here) for a backend that is not there; the test's
    # own timeout only turns such a wait into a failure.
    result = stack.invoke("health", "--json", ULTRA_ENV_TIMEOUTS__HEALTH="600", timeout=300, **dmr.env)
    assert result.returncode == 1
    down = by_name(result)["stack"]
    assert down["status"] == "failed" and "not up" in down["msg"] and "invoke up" in down["fix"]
    names = [t["name"] for t in result.json()["tasks"]]
    assert "backend /api/health" not in names and "API from inside the stack" not in names


def test_a_default_registry_is_asked_not_guessed(project: Project, dmr: StandIn) -> None:
    """A runner with DEFAULT_REGISTRY stores `ai/x` as `REGISTRY/ai/x` (capture
    default-registry-bare-names.txt): present is what `GET /models/{name}` says, not a tag match."""
    from conftest import GEMMA

    dmr.update(default_registry="localhost:5001")
    stored = f"localhost:5001/{GEMMA}"
    first = by_name(project.invoke("models.pull", "--json", **dmr.env))[f"pull {GEMMA}"]
    assert first["status"] == "changed", first
    second = project.invoke("models.pull", "--json", **dmr.env)
    task = by_name(second)[f"pull {GEMMA}"]
    assert second.json()["recap"]["changed"] == 0 and task["status"] == "ok", task
    assert stored in task["msg"]
    doctor = by_name(project.invoke("doctor", "--json", **dmr.env))
    assert doctor[f"model {GEMMA}"]["status"] == "ok", doctor[f"model {GEMMA}"]
    answer = project.invoke("llm.ask", "Say hi.", "--max-tokens", "16", **dmr.env)
    assert answer.returncode == 0, answer.output
    removed = by_name(project.invoke("models.rm", GEMMA, "--yes", "--json", **dmr.env))[f"remove {GEMMA}"]
    assert removed["status"] == "changed", removed
    assert project.invoke("models.list", "--json", **dmr.env).json() == []


@pytest.mark.shared_stack
def test_a_deferred_llama_cpp_is_installed_by_setup_while_online(stack: Project, dmr: StandIn) -> None:
    """Desktop on macOS/Windows since v1.2.6: llama.cpp is `Not Installed` until its first use
    downloads it (stand-in dmr_standin/backends.py, after llamacpp.go and download.go)."""
    dmr.update(llamacpp_deferred=True)
    doctor = by_name(stack.invoke("doctor", "--json", **dmr.env))["backend llama.cpp"]
    assert doctor["status"] == "warn" and "offline" in doctor["msg"] and "invoke setup" in doctor["fix"]
    result = stack.invoke("setup", "--local-llm", "--json", timeout=900, **dmr.env)
    assert result.returncode == 0, result.stdout[-3000:]
    installed = by_name(result)["install llama.cpp"]
    assert installed["status"] == "changed" and "Running" in installed["msg"], installed
    again = by_name(stack.invoke("setup", "--local-llm", "--json", timeout=900, **dmr.env))["install llama.cpp"]
    assert again["status"] == "ok", again


def test_offline_the_install_fails_with_its_cause_before_anything_is_pulled(stack: Project, dmr: StandIn) -> None:
    dmr.update(llamacpp_deferred=True, llamacpp_download_error="offline")
    result = stack.invoke("setup", "--local-llm", "--json", timeout=900, **dmr.env)
    assert result.returncode == 1
    tasks = by_name(result)
    installed = tasks["install llama.cpp"]
    assert installed["status"] == "failed" and "failed to install" in installed["msg"], installed
    assert "internet" in installed["fix"]
    assert not any(name.startswith("pull ") for name in tasks)


def test_doctor_fix_asks_first_and_without_a_terminal_changes_nothing(project: Project, dmr: StandIn) -> None:
    from conftest import GEMMA

    dmr.update(llamacpp_deferred=True)
    result = project.invoke("doctor", "--fix", "--json", **dmr.env)
    assert result.returncode == 2, result.stdout[-2000:]
    refused = by_name(result)["fixes"]
    assert refused["status"] == "failed" and "install llama.cpp" in refused["msg"] and f"pull {GEMMA}" in refused["msg"]
    assert refused["fix"] == "invoke doctor --fix --yes"
    assert by_name(project.invoke("doctor", "--json", **dmr.env))[f"model {GEMMA}"]["status"] == "warn"


def test_doctor_fix_yes_installs_llama_cpp_and_pulls_then_has_nothing_left(project: Project, dmr: StandIn) -> None:
    from conftest import GEMMA

    dmr.update(llamacpp_deferred=True)
    fixed = project.invoke("doctor", "--fix", "--yes", "--json", **dmr.env)
    tasks = by_name(fixed)
    assert tasks["install llama.cpp"]["status"] == "changed", tasks["install llama.cpp"]
    assert tasks[f"pull {GEMMA}"]["status"] == "changed", tasks[f"pull {GEMMA}"]
    assert tasks[f"model {GEMMA}"]["status"] == "ok"  # doctor's checks, asked again after the fixes
    assert "backend llama.cpp" not in tasks  # no longer a warning
    again = project.invoke("doctor", "--fix", "--yes", "--json", **dmr.env)
    assert again.json()["recap"]["changed"] == 0, again.stdout[-2000:]


@pytest.mark.shared_stack
def test_a_status_that_fails_only_as_compose_runs_it_gets_explicit_urls(stack: Project, dmr: StandIn) -> None:
    """On Engine the real CLI first finds or installs the runner container unless
    MODEL_RUNNER_NO_AUTO_INSTALL is set, and fails `unable to initialize standalone model runner`
    while the API answers (stand-in `standalone_error`, after install-runner.go): ultra-env's own
    probes pass, Compose's `up` would not."""
    dmr.update(standalone_error=True)
    result = stack.invoke("setup", "--local-llm", "--json", timeout=900, **dmr.env)
    assert result.returncode == 0, result.stdout[-3000:]
    verdict = by_name(result)["compose models:"]
    assert verdict["status"] == "warn" and "unable to initialize standalone model runner" in verdict["msg"]
    assert "\nmodels:" not in stack.read("docker-compose.yml")
    assert by_name(result)["backend /api/analyze"]["status"] == "ok"
    assert by_name(result)[f"load {json.loads(dmr.env['ULTRA_ENV_MODELS'])[0]['name']}"]["msg"].startswith("loaded in")


def test_up_refuses_in_seconds_when_compose_would_fail_on_the_status(stack: Project, dmr: StandIn) -> None:
    rendered = stack.invoke("render", **dmr.env)
    assert rendered.returncode == 0 and "\nmodels:" in stack.read("docker-compose.yml"), rendered.output
    dmr.update(standalone_error=True)
    result = stack.invoke("up", "--json", **dmr.env)
    assert result.returncode == 1
    up = by_name(result)["stack up"]
    assert up["status"] == "failed" and "as Compose runs it" in up["msg"] and "unable to initialize" in up["msg"]
    assert "compose_models" in up["fix"]
    assert stack.invoke("status", "--json", **dmr.env).json().get("services", []) == []  # nothing was created


@pytest.mark.shared_stack
def test_an_engine_runner_on_another_port_than_12434_gets_its_own_port(stack: Project, dmr: StandIn) -> None:
    """On Engine `status --json` names port 12434 whatever port the runner listens on (status.go
    156-162; stand-in `cli_default_port`): Compose would inject that; the user's host_url says where
    the runner is, and the services get that port."""
    dmr.update(cli_default_port=True)
    result = stack.invoke("setup", "--local-llm", "--json", timeout=900, **dmr.env)
    assert result.returncode == 0, result.stdout[-3000:]
    verdict = by_name(result)["compose models:"]
    assert verdict["status"] == "warn" and "names port 12434" in verdict["msg"], verdict
    port = dmr.url.rsplit(":", 1)[1]
    assert f":{port}/" in stack.read("docker-compose.yml") and ":12434" not in stack.read("docker-compose.yml")
    assert by_name(result)["backend /api/analyze"]["status"] == "ok"
