"""`invoke doctor` end to end, through the real docker CLI: with a real engine, with the daemon
unreachable, without the model plugin, and (fake `docker` on PATH, for `version`/`info` only)
as Docker Desktop for Linux, which no machine here can run."""

from __future__ import annotations

import os
import shutil
import socket
import stat
from pathlib import Path

import pytest
from conftest import Project, docker_config_with_compose

FIXTURES = Path(__file__).parent / "fixtures"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def docker_config_without_model_plugin(tmp_path: Path) -> Path:
    """A DOCKER_CONFIG holding only the Compose plugin, so `docker model` is truly absent."""
    return docker_config_with_compose(tmp_path / "docker-config")


def tasks(result) -> dict[str, dict]:
    return {t["name"]: t for t in result.json()["tasks"]}


@pytest.mark.docker
def test_healthy_engine_mock_profile(project: Project) -> None:
    result = project.call("doctor", "--profile", "mock", "--json", ULTRA_ENV_PORTS__BACKEND=str(free_port()))
    assert result.returncode == 0, result.stdout
    found = tasks(result)
    assert found["daemon"]["status"] == "ok" and "Docker Engine" in found["daemon"]["msg"]
    assert found["docker compose"]["status"] == "ok"
    assert found["Model Runner"]["status"] == "skipped"
    assert {t.get("area") for t in found.values()} >= {"Docker", "Compose", "Model Runner", "Ports"}


@pytest.mark.docker
def test_human_output_groups_by_area_with_symbols(project: Project) -> None:
    result = project.call("check", "--profile", "mock", ULTRA_ENV_PORTS__BACKEND=str(free_port()))
    lines = result.stdout.splitlines()
    assert "Docker" in lines and "Ports" in lines
    assert any(line.startswith("  ✓ daemon") for line in lines)
    assert lines[-1].startswith("recap: ok=")


@pytest.mark.docker
def test_missing_model_plugin_on_engine(project: Project, tmp_path: Path) -> None:
    result = project.call("doctor", "--json", DOCKER_CONFIG=str(docker_config_without_model_plugin(tmp_path)))
    assert result.returncode == 1
    plugin = tasks(result)["docker model plugin"]
    assert plugin["status"] == "failed"
    assert "sudo apt-get install docker-model-plugin" in plugin["fix"]


@pytest.mark.docker
def test_a_taken_port_names_its_holder(project: Project) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = project.call("doctor", "--profile", "mock", "--json", ULTRA_ENV_PORTS__BACKEND=str(port))
    check = tasks(result)[f"port {port}"]
    assert result.returncode == 1 and check["status"] == "failed"
    assert f"ULTRA_ENV_PORTS__BACKEND={port + 1}" in check["fix"]
    if shutil.which("ss"):
        assert "python" in check["msg"]


@pytest.mark.compose
def test_daemon_down(project: Project) -> None:
    result = project.call("doctor", "--profile", "mock", "--json", DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert result.returncode == 1
    daemon = tasks(result)["daemon"]
    assert daemon["status"] == "failed" and "sudo systemctl start docker" in daemon["fix"]


def test_docker_not_installed(project: Project, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    import sys

    result = project.call("doctor", "--profile", "mock", "--json", PATH=f"{empty}:{Path(sys.executable).parent}")
    assert result.returncode == 1
    cli = tasks(result)["docker CLI"]
    assert cli["status"] == "failed" and "install Docker" in cli["fix"]


@pytest.mark.compose
def test_docker_desktop_for_linux_is_probed_not_assumed(project: Project, tmp_path: Path) -> None:
    """Only `docker version`/`docker info` are played (Desktop's answers); the rest is the real CLI.
    Desktop for Linux runs Model Runner as Engine does (cmd/cli/desktop/context.go): what fails is
    what the probes show, here the missing plugin, with Engine's fix."""
    real = shutil.which("docker")
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    fake = fake_bin / "docker"
    fake.write_text(
        "#!/bin/sh\n"
        f'case "$1" in\n'
        f'  version) cat "{FIXTURES}/docker/version-desktop-4.48-linux.json" ;;\n'
        f'  info) echo \'{{"OperatingSystem": "Docker Desktop", "ClientInfo": {{"Plugins": []}}}}\' ;;\n'
        f'  *) exec "{real}" "$@" ;;\n'
        "esac\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    result = project.call("doctor", "--json", PATH=f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    found = tasks(result)
    assert "Docker Desktop 4.48.0" in found["daemon"]["msg"]
    assert "Docker Desktop for Linux" not in found
    plugin = found["docker model plugin"]
    assert plugin["status"] == "failed" and "sudo apt-get install docker-model-plugin" in plugin["fix"]
