"""Fact parsers on captured and transcribed outputs (see tests/fixtures/README.md for each origin)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ultra_env.facts import model_runner as mr
from ultra_env.facts.docker import parse_docker_info, parse_docker_version
from ultra_env.facts.host import host_os
from ultra_env.facts.model_runner import api_root
from ultra_env.facts.probe import Probe
from ultra_env.facts.versions import at_least, parse

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "desktop", "desktop_version", "server", "client_os"),
    [
        ("docker/version-engine-20.10-linux.json", False, None, "20.10.24+dfsg1", "linux"),
        ("docker/version-desktop-4.48-macos.json", True, "4.48.0", "28.5.1", "darwin"),
        ("docker/version-desktop-4.25-windows.json", True, "4.25.2", "master", "windows"),
        ("docker/version-desktop-4.41-wsl2.json", True, "4.41.2", "28.1.1", "linux"),
        ("docker/version-daemon-down.json", False, None, None, "linux"),
    ],
)
def test_docker_version(
    name: str, desktop: bool, desktop_version: str | None, server: str | None, client_os: str
) -> None:
    version = parse_docker_version(fixture(name))
    assert (version.desktop, version.desktop_version, version.server) == (desktop, desktop_version, server)
    assert version.client and version.context
    assert json.loads(fixture(name))["Client"]["Os"] == client_os


def test_docker_info_lists_cli_plugins() -> None:
    info = parse_docker_info(fixture("docker/info-engine-20.10-linux.json"))
    assert info.plugins["compose"].version == "v5.6.1"
    assert info.plugins["compose"].path.endswith("cli-plugins/docker-compose")
    assert "model" not in info.plugins
    assert (info.desktop, info.server_version, info.root_dir) == (False, "20.10.24+dfsg1", "/var/lib/docker")
    down = parse_docker_info(fixture("docker/info-daemon-down.json"))
    assert down.server_version is None and "compose" in down.plugins


@pytest.mark.parametrize("name", ["docker/model-missing-cli28.txt", "docker/model-missing-cli20.txt"])
def test_both_plugin_missing_wordings(name: str) -> None:
    assert mr.plugin_missing(fixture(name))


def test_a_failing_plugin_is_not_a_missing_one() -> None:
    assert not mr.plugin_missing(fixture("dmr/status-text-not-running.txt"))
    assert not mr.plugin_missing("Failed to get Docker Model Runner status: connection refused")


@pytest.mark.parametrize(
    ("name", "running", "kind", "endpoint", "endpoint_host"),
    [
        (
            "dmr/status-json-new-desktop.json",
            True,
            "Docker Desktop",
            "http://model-runner.docker.internal/v1/",
            "http://localhost/exp/vDD4.40/v1/",
        ),
        (
            "dmr/status-json-new-engine.json",
            True,
            "Docker Engine",
            "http://172.17.0.1:12434/engines/v1/",
            "http://localhost:12434/engines/v1/",
        ),
        ("dmr/status-json-old.json", True, None, "http://model-runner.docker.internal/engines/v1/", None),
        ("dmr/status-json-not-running.json", False, "Docker Desktop", "", ""),
    ],
)
def test_status_json_old_and_new(name, running, kind, endpoint, endpoint_host) -> None:
    status = mr.parse_status_json(fixture(name))
    assert (status.running, status.kind, status.endpoint, status.endpoint_host) == (
        running,
        kind,
        endpoint,
        endpoint_host,
    )


def test_status_json_backends_and_problems() -> None:
    status = mr.parse_status_json('{"running":true,"backends":{"llama.cpp":"Running: x","vllm":"Error: no GPU"}}')
    assert status.backend_problems() == {"vllm": "Error: no GPU"}


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"endpoint": "x"}'])
def test_status_json_rejects_what_is_not_a_status(text: str) -> None:
    with pytest.raises(ValueError):
        mr.parse_status_json(text)


@pytest.mark.parametrize(
    ("name", "code", "running", "backends"),
    [
        (
            "dmr/status-text-new.txt",
            0,
            True,
            {"llama.cpp": "Running llama.cpp latest-cpu version: c55bce4", "vllm": "Not Installed"},
        ),
        ("dmr/status-text-old.txt", 0, True, {"llama.cpp": "running llama.cpp version: c55bce4"}),
        ("dmr/status-text-not-running.txt", 1, False, {}),
    ],
)
def test_status_text_old_and_new(name: str, code: int, running: bool, backends: dict) -> None:
    status = mr.parse_status_text(fixture(name), code)
    assert (status.running, status.backends) == (running, backends)


@pytest.mark.parametrize(
    ("name", "client", "server", "kind"),
    [
        ("dmr/version-new.txt", "v1.1.5", "v1.1.0", "Docker Engine"),
        ("dmr/version-new-server-down.txt", "v1.1.5", None, None),
        ("dmr/version-old.txt", "v1.0.2-16-gd7bb1fa", None, "Docker Desktop"),
    ],
)
def test_plugin_version_old_and_new(name: str, client: str, server: str | None, kind: str | None) -> None:
    version = mr.parse_version(fixture(name))
    assert (version.client, version.server, version.engine_kind) == (client, server, kind)


def test_list_json_and_normalised_lookup() -> None:
    models = mr.parse_list_json(fixture("dmr/list.json"))
    assert [m.parameters for m in models] == ["361.82 M", "1.24 B"]
    assert models[0].context_size == 8192 and models[1].context_size is None
    assert models[0].has("smollm2") and models[0].has("ai/smollm2:360M-Q4_K_M")
    assert models[1].has("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_S")
    assert not models[0].has("ai/smollm2:135M-Q4_0")


@pytest.mark.parametrize(
    ("status_file", "expected"),
    [
        ("dmr/status-json-new-engine.json", "http://localhost:12434"),
        ("dmr/status-json-new-desktop.json", "http://localhost:12434"),  # socket-only endpointHost
        ("dmr/status-json-old.json", "http://localhost:12434"),
    ],
)
def test_api_root_uses_tcp_endpoint_host_only(status_file: str, expected: str) -> None:
    status = Probe(value=mr.parse_status_json(fixture(status_file)))
    assert api_root(status, "http://localhost:12434/") == expected
    custom = Probe(value=mr.RunnerStatus(True, endpoint_host="http://127.0.0.1:13434/engines/v1/"))
    assert api_root(custom, "http://localhost:12434") == "http://127.0.0.1:13434"


@pytest.mark.parametrize(
    ("system", "release", "expected"),
    [
        ("Darwin", "24.1.0", "macOS"),
        ("Windows", "10", "Windows"),
        ("Linux", "5.15.167.4-microsoft-standard-WSL2", "WSL2"),
        ("Linux", "6.1.0-18-amd64", "Linux"),
    ],
)
def test_host_os(system: str, release: str, expected: str) -> None:
    assert host_os(system, release) == expected


@pytest.mark.parametrize(
    ("version", "minimum", "expected"),
    [
        ("v2.38.0", "2.38.0", True),
        ("2.37.9-desktop.1", "2.38", False),
        ("v5.6.1", "2.38.0", True),
        ("4.9.0", "4.40.0", False),
        (None, "1.0", None),
        ("master", "1.0", None),
    ],
)
def test_version_comparison(version, minimum, expected) -> None:
    assert at_least(version, minimum) is expected
    assert parse("v1.2") == (1, 2, 0)
