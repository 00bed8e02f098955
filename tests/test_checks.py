"""Doctor's rules over facts built from captured/transcribed outputs: each problem named, with its fix."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ultra_env.checks.rules import evaluate
from ultra_env.config.settings import Settings
from ultra_env.config.sources import Flag, load
from ultra_env.engine.run import Status
from ultra_env.facts import model_runner as mr
from ultra_env.facts.docker import CliPlugin, parse_docker_info, parse_docker_version
from ultra_env.facts.gather import Facts
from ultra_env.facts.probe import Probe

FIXTURES = Path(__file__).parent / "fixtures"


def text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def settings(profile: str = "local", **environ: str) -> Settings:
    return load(Path("/nonexistent"), environ=environ, flags=[Flag("--profile", "profile", profile)]).settings


def info(compose: str | None = "v5.6.1", model: str | None = "v1.0.6", model_error: str | None = None) -> Probe:
    """The captured `docker info`, with the CLI plugins a scenario has (the capture has Compose only)."""
    base = parse_docker_info(text("docker/info-engine-20.10-linux.json"))
    plugins = {}
    if compose:
        plugins["compose"] = CliPlugin("compose", compose, "/usr/libexec/docker/cli-plugins/docker-compose", None)
    if model or model_error:
        plugins["model"] = CliPlugin("model", model, "/usr/libexec/docker/cli-plugins/docker-model", model_error)
    return Probe(value=replace(base, plugins=plugins))


def healthy(
    version_file: str = "docker/version-engine-20.10-linux.json",
    os_name: str = "Linux",
    status_file: str = "dmr/status-json-new-engine.json",
) -> Facts:
    return Facts(
        host_os=os_name,
        docker_version=Probe(value=parse_docker_version(text(version_file))),
        docker_info=info(),
        model_status=Probe(value=mr.parse_status_json(text(status_file))),
        model_list=Probe(value=mr.parse_list_json(text("dmr/list.json"))),
        host_api=Probe(value="http://localhost:12434"),
        project_ports=Probe(value=set()),
        context_host=Probe(value="unix:///var/run/docker.sock"),
        ports={8000: (True, None), 12434: (False, "model-runner (pid 7)")},
        disk=(Path("/var/lib/docker"), 50 * 10**9),
    )


DESKTOP_MAC = dict(
    version_file="docker/version-desktop-4.48-macos.json",
    os_name="macOS",
    status_file="dmr/status-json-new-desktop.json",
)


def by_name(results) -> dict:
    return {r.name: r for r in results}


def test_a_healthy_engine_machine_passes_everything() -> None:
    results = evaluate(healthy(), settings("local"))
    assert [r for r in results if r.status is Status.FAILED] == []
    names = by_name(results)
    assert names["model ai/smollm2:latest"].status is Status.OK
    assert names["runner"].msg.startswith("running (Docker Engine)")
    assert {r.area for r in results} == {"Docker", "Compose", "Model Runner", "Ports", "Disk", "Cloud keys"}


def test_a_healthy_desktop_machine_passes_everything() -> None:
    results = evaluate(healthy(**DESKTOP_MAC), settings("local"))
    assert [r for r in results if r.status is Status.FAILED] == []
    assert "Docker Desktop 4.48.0" in by_name(results)["daemon"].msg


def no_daemon(f: Facts) -> Facts:
    return replace(f, docker_version=Probe(value=parse_docker_version(text("docker/version-daemon-down.json"))))


CASES = {
    "docker missing": (
        lambda f: replace(f, docker_version=Probe(error="not found", missing=True)),
        "local",
        "docker CLI",
        "docker is not installed",
        "install Docker Engine",
    ),
    "daemon down on Linux": (no_daemon, "local", "daemon", "not reachable", "sudo systemctl start docker"),
    "daemon down on macOS": (
        lambda f: replace(no_daemon(f), host_os="macOS"),
        "local",
        "daemon",
        "not reachable",
        "open -a Docker",
    ),
    "Desktop too old on Windows": (
        lambda f: replace(
            f,
            host_os="Windows",
            docker_version=Probe(value=parse_docker_version(text("docker/version-desktop-4.25-windows.json"))),
        ),
        "local",
        "Docker Desktop version",
        "4.25.2 is older than 4.41.0",
        "update Docker Desktop",
    ),
    "Desktop too old on macOS": (
        lambda f: replace(
            f,
            host_os="macOS",
            docker_version=Probe(value=parse_docker_version(text("docker/version-desktop-4.25-windows.json"))),
        ),
        "local",
        "Docker Desktop version",
        "older than 4.40.0",
        "docker desktop enable model-runner --tcp 12434",
    ),
    "runner not running on Desktop for Linux": (
        lambda f: replace(
            f,
            docker_version=Probe(value=parse_docker_version(text("docker/version-desktop-4.48-linux.json"))),
            model_status=Probe(value=mr.parse_status_json(text("dmr/status-json-not-running.json"))),
        ),
        "local",
        "runner",
        "is not running",
        "docker model install-runner",
    ),
    "compose missing": (
        lambda f: replace(f, docker_info=info(compose=None)),
        "mock",
        "docker compose",
        "not found",
        "docker-compose-plugin",
    ),
    "plugin missing on Engine": (
        lambda f: replace(f, docker_info=info(model=None)),
        "local",
        "docker model plugin",
        "not installed",
        "sudo apt-get install docker-model-plugin",
    ),
    "plugin missing, seen by the old CLI (Desktop)": (
        lambda f: replace(
            healthy(**DESKTOP_MAC),
            docker_info=Probe(error="old CLI: no plugin list"),
            model_status=Probe(error="exit 1", output=text("docker/model-missing-cli20.txt")),
        ),
        "local",
        "docker model plugin",
        "not installed",
        "docker desktop enable model-runner --tcp 12434",
    ),
    "runner not running on Desktop": (
        lambda f: replace(
            healthy(**DESKTOP_MAC),
            model_status=Probe(value=mr.parse_status_json(text("dmr/status-json-not-running.json"))),
        ),
        "local",
        "runner",
        "is not running",
        "docker desktop enable model-runner --tcp 12434",
    ),
    "runner not running on Engine": (
        lambda f: replace(f, model_status=Probe(value=mr.parse_status_json(text("dmr/status-json-not-running.json")))),
        "local",
        "runner",
        "is not running",
        "docker model install-runner",
    ),
    "port 12434 taken by another program": (
        lambda f: replace(
            f,
            ports={8000: (True, None), 12434: (False, "nginx (pid 42)")},
            host_api=Probe(value="http://localhost:12434", error="404"),
        ),
        "local",
        "API from the host",
        "held by nginx (pid 42)",
        "free port 12434",
    ),
    "stack port taken": (
        lambda f: replace(f, ports={8000: (False, "python3 (pid 9)"), 12434: (False, None)}),
        "mock",
        "port 8000",
        "taken by python3 (pid 9)",
        "ULTRA_ENV_PORTS__BACKEND=8001",
    ),
    "not enough disk": (
        lambda f: replace(f, disk=(Path("/var/lib/docker"), 10 * 2**20), model_list=Probe(value=[])),
        "local",
        "model storage",
        "0.0 GB free",
        "free ",
    ),
    "no cloud key": (lambda f: f, "cloud", "cloud keys", "no key is set", "OPENAI_API_KEY"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_each_problem_fails_with_its_fix(case: str) -> None:
    change, profile, name, cause, fix = CASES[case]
    results = by_name(evaluate(change(healthy()), settings(profile)))
    assert results[name].status is Status.FAILED, results[name]
    assert cause in results[name].msg
    assert fix in results[name].fix


def test_desktop_for_linux_is_probed_not_assumed() -> None:
    """Desktop for Linux runs Model Runner as a plain Engine would (reference section 1): with the
    plugin and a running runner, nothing fails."""
    linux = parse_docker_version(text("docker/version-desktop-4.48-linux.json"))
    results = evaluate(replace(healthy(), docker_version=Probe(value=linux)), settings("local"))
    assert [r for r in results if r.status is Status.FAILED] == []
    assert "Docker Desktop 4.48.0" in by_name(results)["daemon"].msg


def test_host_tcp_off_is_a_warning_because_the_cli_still_works() -> None:
    facts = replace(
        healthy(**DESKTOP_MAC),
        ports={8000: (True, None), 12434: (True, None)},
        host_api=Probe(value="http://localhost:12434", error="ConnectError"),
    )
    result = by_name(evaluate(facts, settings("local")))["API from the host"]
    assert result.status is Status.WARN and "host-side TCP is off" in result.msg and "docker model CLI" in result.msg
    assert result.fix == "docker desktop enable model-runner --tcp 12434"


def test_the_host_port_comes_from_host_url() -> None:
    facts = replace(
        healthy(**DESKTOP_MAC),
        ports={8000: (True, None), 13555: (False, "nginx (pid 42)")},
        host_api=Probe(value="http://localhost:13555", error="404"),
    )
    s = settings("local", ULTRA_ENV_MODEL_RUNNER__HOST_URL="http://localhost:13555")
    result = by_name(evaluate(facts, s))["API from the host"]
    assert result.status is Status.FAILED and "port 13555 is held by nginx" in result.msg
    tcp = by_name(evaluate(replace(facts, ports={8000: (True, None), 13555: (True, None)}), s))["API from the host"]
    assert tcp.fix == "docker desktop enable model-runner --tcp 13555"


def test_a_missing_model_disk_need_counts_only_models_to_pull() -> None:
    s = settings(
        "local", ULTRA_ENV_MODELS='[{"name": "ai/smollm2", "size_mb": 300}, {"name": "ai/gemma3", "size_mb": 2000}]'
    )
    results = by_name(evaluate(healthy(), s))
    assert results["model ai/gemma3:latest"].status is Status.WARN
    assert "invoke models.pull --model ai/gemma3:latest" in results["model ai/gemma3:latest"].fix
    assert "about 2.1 GB" in results["model storage"].msg


def test_old_compose_is_a_warning_with_fallback() -> None:
    results = by_name(evaluate(replace(healthy(), docker_info=info(compose="v2.36.0")), settings("local")))
    assert results["docker compose"].status is Status.WARN
    assert "explicit URLs" in results["docker compose"].msg


def test_own_stack_holding_its_port_is_fine() -> None:
    facts = replace(
        healthy(),
        ports={8000: (False, "docker-proxy (pid 3)"), 12434: (False, None)},
        project_ports=Probe(value={8000}),
    )
    assert by_name(evaluate(facts, settings("mock")))["port 8000"].status is Status.OK


def test_cloud_profile_skips_model_runner_checks_and_checks_key_shapes() -> None:
    s = settings("cloud", OPENAI_API_KEY="sk-abc123", ANTHROPIC_API_KEY="wrong-shape")
    results = evaluate(replace(healthy(), model_status=None, model_list=None, host_api=None), s)
    names = by_name(results)
    assert names["Model Runner"].status is Status.SKIPPED
    assert names["openai"].status is Status.OK
    assert names["anthropic"].status is Status.WARN and "'sk-ant-'" in names["anthropic"].msg
    assert names["google"].status is Status.WARN
    assert all("abc123" not in r.msg and "wrong-shape" not in r.msg for r in results)


def test_remote_context_is_a_warning() -> None:
    facts = replace(healthy(), context_host=Probe(value="ssh://me@build-box"))
    result = by_name(evaluate(facts, settings("mock")))["context"]
    assert result.status is Status.WARN and result.fix == "docker context use default"


def test_old_or_broken_model_plugin() -> None:
    old = by_name(evaluate(replace(healthy(), docker_info=info(model="v0.1.20")), settings("local")))
    assert old["docker model plugin"].status is Status.WARN and "0.1.31" in old["docker model plugin"].msg
    broken = by_name(
        evaluate(replace(healthy(), docker_info=info(model=None, model_error="exec format error")), settings("local"))
    )
    assert broken["docker model plugin"].status is Status.FAILED
    assert "exec format error" in broken["docker model plugin"].msg


def test_backend_in_error_is_a_warning() -> None:
    status = mr.RunnerStatus(True, {"llama.cpp": "Running: ok", "vllm": "Error: no GPU"}, "Docker Engine")
    results = by_name(evaluate(replace(healthy(), model_status=Probe(value=status)), settings("local")))
    assert results["backend vllm"].status is Status.WARN


def test_runner_shows_its_server_version() -> None:
    facts = replace(healthy(), model_version=Probe(value=mr.parse_version(text("dmr/version-new.txt"))))
    assert "server v1.1.0" in by_name(evaluate(facts, settings("local")))["runner"].msg
    down = replace(healthy(), model_version=Probe(value=mr.parse_version(text("dmr/version-new-server-down.txt"))))
    assert "server" not in by_name(evaluate(down, settings("local")))["runner"].msg
