"""Running the fact probes: concurrently, each with its own timeout, never raising."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ultra_env import proc
from ultra_env.facts import host
from ultra_env.facts import model_runner as mr
if TYPE_CHECKING:
    from ultra_env.config.settings import Settings

from ultra_env.facts.docker import CliPlugin, DockerInfo, DockerVersion, parse_docker_info, parse_docker_version

DOCKER = "docker"

@dataclass(frozen=True)
class Probe:
    """A fact's value, or why it could not be had (``error``), with the raw output kept for checks."""

    value: Any = None
    error: str | None = None
    output: str = ""
    missing: bool = False  # the command itself does not exist

    @property
    def ok(self) -> bool:
        return self.error is None

def probe(argv: list[str], parse: Callable[[str], Any], *, timeout: float,
          env: dict[str, str] | None = None, accept: Callable[[proc.Completed], bool] | None = None) -> Probe:
    try:
        done = proc.run(argv, timeout=timeout, env=env)
    except proc.CommandNotFound as exc:
        return Probe(error=str(exc), missing=True)
    except proc.ProcError as exc:
        return Probe(error=str(exc))
    if not (accept(done) if accept else done.ok):
        return Probe(error=done.output.splitlines()[0] if done.output else f"exit {done.returncode}",
                     output=done.output)
    try:
        return Probe(value=parse(done.stdout), output=done.output)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return Probe(error=f"unexpected output ({exc.__class__.__name__}: {exc})", output=done.output)

def docker_version(timeout: float) -> Probe:
    # With the daemon down, the client half still prints and the exit is 1: keep the client facts.
    return probe([DOCKER, "version", "--format", "{{json .}}"], parse_docker_version, timeout=timeout,
                 accept=lambda done: done.stdout.strip().startswith("{"))

def docker_info(timeout: float) -> Probe:
    # Like `docker version`, the client half (plugins, context) prints with the daemon down.
    return probe([DOCKER, "info", "--format", "{{json .}}"], parse_docker_info, timeout=timeout,
                 accept=lambda done: done.stdout.strip().startswith("{"))


NO_AUTO_INSTALL = {"MODEL_RUNNER_NO_AUTO_INSTALL": "1"}


def model_status(timeout: float, api: str | None = None) -> Probe:
    """``docker model status --json``; when it prints no JSON (a CLI too old for ``--json``, or
    one that panics on it), plain ``status``, and when that says nothing either, ``GET {api}/models``
    (the CLI's own liveness check). ``value.source`` says which one told."""
    found = probe([DOCKER, "model", "status", "--json"], mr.parse_status_json, timeout=timeout, env=NO_AUTO_INSTALL)
    if found.ok or found.missing or mr.plugin_missing(found.output):
        return found
    if found.error and found.error.startswith("Failed to get Docker Model Runner status"):
        return found  # a real answer: the runner cannot be reached (exit 1)
    broken = mr.broken_json(found.output)
    try:
        done = proc.run([DOCKER, "model", "status"], timeout=timeout, env=NO_AUTO_INSTALL)
    except proc.ProcError as exc:
        return Probe(error=str(exc), output=found.output)
    text = mr.parse_status_text(done.output, done.returncode)
    if text.running or "not running" in done.output or api is None:
        return Probe(value=replace(text, json_error=broken), output=found.output)
    answer = host_api(api, min(timeout, 5.0))
    if answer.ok:
        return Probe(value=mr.RunnerStatus(running=True, source="api", json_error=broken), output=found.output)
    return Probe(error=f"docker model status --json: {broken}", output=found.output)


def model_version(timeout: float) -> Probe:
    return probe([DOCKER, "model", "version"], mr.parse_version, timeout=timeout, env=NO_AUTO_INSTALL,
                 accept=lambda done: "Version" in done.stdout)


def model_list(timeout: float) -> Probe:
    return probe([DOCKER, "model", "list", "--json"], mr.parse_list_json, timeout=timeout, env=NO_AUTO_INSTALL)


def project_ports(project: str, timeout: float) -> Probe:
    """Host ports already published by this Compose project's containers."""
    def parse(stdout: str) -> set[int]:
        return {int(port) for port in re.findall(r":(\d+)->", stdout)}

    return probe([DOCKER, "ps", "--filter", f"label=com.docker.compose.project={project}", "--format", "{{.Ports}}"],
                 parse, timeout=timeout)


def context_host(timeout: float) -> Probe:
    """The engine address of the Docker context in use (unix:// and npipe:// are local)."""
    return probe([DOCKER, "context", "inspect", "--format", "{{json .Endpoints.docker.Host}}"], json.loads,
                 timeout=timeout)


def api_root(status: Probe, default: str) -> str:
    """The DMR API root that should answer from the host: ``endpointHost`` when it is plain TCP."""
    found: mr.RunnerStatus | None = status.value
    if found and found.endpoint_host:
        parts = urlsplit(found.endpoint_host)
        # On Desktop, endpointHost is http://localhost/exp/vDD4.40/... : socket-only, not TCP.
        if parts.scheme in ("http", "https") and parts.port and "/exp/" not in parts.path:
            return f"{parts.scheme}://{parts.netloc}"
    return default.rstrip("/")


def host_api(root: str, timeout: float) -> Probe:
    """``GET {root}/models`` == 200 is the CLI's own liveness check; its body is ``list --json``'s
    array, kept in ``output`` so that the model list needs no second call."""
    from ultra_env import http

    try:
        response = http.get(f"{root}/models", timeout=timeout)
    except http.HttpError as exc:
        return Probe(error=str(exc), value=root)
    if response.status_code != 200:
        return Probe(error=f"GET {root}/models answered {response.status_code}", value=root)
    return Probe(value=root, output=response.text)


def models_via(api: Probe, timeout: float) -> Probe:
    """The local models: from the API's answer when the host reaches it, else ``docker model list``."""
    if api.ok:
        try:
            return Probe(value=mr.parse_list_json(api.output), output=api.output)
        except (ValueError, AttributeError, TypeError):
            pass
    return model_list(timeout)


@dataclass
class Facts:
    """Everything doctor knows about the machine, gathered once per run."""

    host_os: str
    docker_version: Probe
    docker_info: Probe
    model_status: Probe | None = None
    model_version: Probe | None = None
    model_list: Probe | None = None
    host_api: Probe | None = None
    project_ports: Probe | None = None
    context_host: Probe | None = None
    ports: dict[int, tuple[bool, str | None]] = field(default_factory=dict)  # port -> (free, holder)
    disk: tuple[Path, int] | None = None
    seconds: float = 0.0

    @property
    def info(self) -> DockerInfo | None:
        return self.docker_info.value

    @property
    def desktop(self) -> bool:
        version: DockerVersion | None = self.docker_version.value
        return bool(version and version.desktop) or bool(self.info and self.info.desktop)

    def plugin(self, name: str) -> Probe:
        """A docker CLI plugin (``compose``, ``model``): its version, or why there is none."""
        return plugin_probe(self.docker_info, name)


def plugin_probe(info: Probe, name: str) -> Probe:
    if info.value is None:
        return Probe(error=info.error or "docker info failed", missing=info.missing)
    found: CliPlugin | None = info.value.plugins.get(name)
    if found is None:
        return Probe(error=f"no docker CLI plugin named {name!r}", missing=True)
    if found.error:
        return Probe(error=found.error, output=found.path or "")
    return Probe(value=(found.version or "").lstrip("v") or None, output=found.path or "")


def stack_ports(settings: Settings) -> dict[str, int]:
    ports = {"backend": settings.ports.backend}
    if settings.features.frontend:
        ports["frontend"] = settings.ports.frontend
    if settings.ports.postgres:
        ports["postgres"] = settings.ports.postgres
    if settings.ports.redis:
        ports["redis"] = settings.ports.redis
    return ports


EARLY_TIMEOUT = 10.0


class Prefetch:
    """The probes that need no configuration, started before it is loaded: the docker CLI runs on
    the other core while this process imports and validates the configuration."""

    def __init__(self) -> None:
        from ultra_env import http

        http.prewarm()
        self.pool = ThreadPoolExecutor(max_workers=12)
        self.version = self.pool.submit(docker_version, EARLY_TIMEOUT)
        self.info = self.pool.submit(docker_info, EARLY_TIMEOUT)
        self.context = self.pool.submit(context_host, EARLY_TIMEOUT)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


PREFETCHING = frozenset({"doctor", "setup", "onboard"})


def prefetch_for(command: str) -> Prefetch | None:
    """Start the configuration-free probes of ``command`` now, if it gathers facts. This module
    imports no pydantic, so they start before the configuration is even imported."""
    return Prefetch() if command in PREFETCHING else None


def gather(settings: Settings, early: Prefetch | None = None) -> Facts:
    """Run every probe the configuration calls for, concurrently; the slowest one sets the pace."""
    start = time.monotonic()
    timeout = settings.timeouts.probe
    local = settings.features.local_llm
    early = early or Prefetch()
    pool = early.pool
    try:
        wanted = sorted(set(stack_ports(settings).values()) | ({settings.model_runner.host_port} if local else set()))
        ports = {port: pool.submit(_port, port) for port in wanted}
        futures: dict[str, Future[Probe]] = {}
        if local:
            futures["model_version"] = pool.submit(model_version, timeout)
            configured = settings.model_runner.host_url.rstrip("/")
            status = futures["model_status"] = pool.submit(model_status, timeout, configured)
            guess = pool.submit(host_api, configured, min(timeout, 5.0))  # usually where status will point

            def api_answer() -> Probe:
                root = api_root(status.result(), configured)
                return guess.result() if root == configured else host_api(root, min(timeout, 5.0))

            api = futures["host_api"] = pool.submit(api_answer)
            futures["model_list"] = pool.submit(lambda: models_via(api.result(), timeout))
        port_facts = {port: future.result() for port, future in ports.items()}
        # Only a busy port raises the question whether this very stack holds it.
        busy = any(not free for free, _ in port_facts.values())
        facts = Facts(
            host_os=host.host_os(), docker_version=early.version.result(), docker_info=early.info.result(),
            project_ports=project_ports(settings.project_name, timeout) if busy else Probe(value=set()),
            context_host=early.context.result(), ports=port_facts,
            **{name: future.result() for name, future in futures.items()},
        )
    finally:
        early.close()
    facts.disk = host.free_bytes(model_store(facts))
    facts.seconds = time.monotonic() - start
    return facts


def _port(port: int) -> tuple[bool, str | None]:
    free = host.port_free(port)
    return free, None if free else host.port_holder(port)


def model_store(facts: Facts) -> Path:
    """Where pulled models land: ``~/.docker/models`` on Desktop, the engine's data root on Engine."""
    if facts.desktop or not facts.info or not facts.info.root_dir:
        return Path.home() / ".docker" / "models"
    return Path(facts.info.root_dir)
