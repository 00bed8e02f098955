"""Facts from the docker CLI itself: ``docker version``, ``docker info``, the context, the ports a
project publishes; each command beside its parser."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ultra_env import proc
from ultra_env.facts.probe import Probe, probe

T = TypeVar("T")
_DESKTOP = re.compile(r"Docker Desktop\s+(\d+\.\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class DockerVersion:
    client: str | None
    context: str | None
    server: str | None  # the Engine's version; None when the daemon did not answer
    platform: str | None  # "Docker Desktop 4.48.0 (207573)" on Desktop, "" or "Docker Engine - Community" elsewhere
    server_os: str | None
    kernel: str | None

    @property
    def desktop(self) -> bool:
        return bool(self.platform and self.platform.startswith("Docker Desktop"))

    @property
    def desktop_version(self) -> str | None:
        match = _DESKTOP.search(self.platform or "")
        return match.group(1) if match else None


def parse_docker_version(stdout: str) -> DockerVersion:
    """Parse ``docker version --format '{{json .}}'`` (``Server`` is null when the daemon is down)."""
    data = json.loads(stdout)
    client = data.get("Client") or {}
    server = data.get("Server") or {}
    engine: dict[str, Any] = next((c for c in server.get("Components") or [] if c.get("Name") == "Engine"), {})
    details = engine.get("Details") or {}
    return DockerVersion(
        client=client.get("Version"),
        context=client.get("Context"),
        server=server.get("Version") or engine.get("Version"),
        platform=(server.get("Platform") or {}).get("Name") if server else None,
        server_os=details.get("Os") or server.get("Os"),
        kernel=details.get("KernelVersion") or server.get("KernelVersion"),
    )


@dataclass(frozen=True)
class CliPlugin:
    name: str
    version: str | None
    path: str | None
    error: str | None


@dataclass(frozen=True)
class DockerInfo:
    operating_system: str | None  # "Docker Desktop" on Desktop; empty when the daemon is down
    server_version: str | None
    root_dir: str | None
    plugins: dict[str, CliPlugin]  # the CLI's own plugins: known even with the daemon down
    mem_total: int | None = None  # bytes of memory the engine has (Desktop: its VM's)

    @property
    def desktop(self) -> bool:
        return self.operating_system == "Docker Desktop"


def parse_docker_info(stdout: str) -> DockerInfo:
    """Parse ``docker info --format '{{json .}}'``; ``ClientInfo.Plugins`` lists CLI plugins."""
    data = json.loads(stdout)
    client = data.get("ClientInfo") or {}
    plugins = {
        p["Name"]: CliPlugin(p["Name"], p.get("Version"), p.get("Path"), p.get("Err"))
        for p in client.get("Plugins") or []
        if p.get("Name")
    }
    return DockerInfo(
        operating_system=data.get("OperatingSystem") or None,
        server_version=data.get("ServerVersion") or None,
        root_dir=data.get("DockerRootDir") or None,
        plugins=plugins,
        mem_total=int(data["MemTotal"]) if isinstance(data.get("MemTotal"), int) and data["MemTotal"] > 0 else None,
    )


DOCKER = "docker"


def docker_version(timeout: float) -> Probe[DockerVersion]:
    return _client_half("version", parse_docker_version, timeout)


def docker_info(timeout: float) -> Probe[DockerInfo]:
    return _client_half("info", parse_docker_info, timeout)


def _client_half(command: str, parse: Callable[[str], T], timeout: float) -> Probe[T]:
    """``docker version`` and ``docker info``: with the daemon down, the client half (version,
    plugins, context) still prints and the exit is 1: its facts are kept."""
    return probe(
        [DOCKER, command, "--format", "{{json .}}"],
        parse,
        timeout=timeout,
        accept=lambda done: done.stdout.strip().startswith("{"),
    )


def project_ports(project: str, timeout: float) -> Probe[set[int]]:
    """Host ports already published by this Compose project's containers."""

    def parse(stdout: str) -> set[int]:
        return {int(port) for port in re.findall(r":(\d+)->", stdout)}

    return probe(
        [DOCKER, "ps", "--filter", f"label=com.docker.compose.project={project}", "--format", "{{.Ports}}"],
        parse,
        timeout=timeout,
    )


def compose_error(output: str) -> str:
    """Compose's own complaint in its output: the first line that is not a warning."""
    lines = [line for line in output.splitlines() if line.strip()]
    return next((line for line in lines if "level=warning" not in line), lines[0] if lines else "")


def compose_config(root: Path, files: tuple[Path, ...], timeout: float) -> Probe[bool]:
    """``docker compose config -q`` on these files in the project, with its ``.env``, as ``up`` reads them."""
    named = [arg for path in files for arg in ("-f", str(path))]
    try:
        done = proc.run([DOCKER, "compose", "--project-directory", str(root), *named, "config", "-q"], timeout=timeout)
    except proc.ProcError as exc:
        return Probe(error=str(exc), missing=isinstance(exc, proc.CommandNotFound))
    if done.ok:
        return Probe(value=True, output=done.output)
    return Probe(error=compose_error(done.output) or f"exit {done.returncode}", output=done.output)


def context_host(timeout: float) -> Probe[str]:
    """The engine address of the Docker context in use (unix:// and npipe:// are local)."""
    return probe(
        [DOCKER, "context", "inspect", "--format", "{{json .Endpoints.docker.Host}}"], json.loads, timeout=timeout
    )


def plugin_probe(info: Probe[DockerInfo], name: str) -> Probe[str]:
    if info.value is None:
        return Probe(error=info.error or "docker info failed", missing=info.missing)
    found = info.value.plugins.get(name)
    if found is None:
        return Probe(error=f"no docker CLI plugin named {name!r}", missing=True)
    if found.error:
        return Probe(error=found.error, output=found.path or "")
    return Probe(value=(found.version or "").lstrip("v") or None, output=found.path or "")
