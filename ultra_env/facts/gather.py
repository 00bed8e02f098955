"""Gathering the facts: every probe the configuration calls for, concurrently, each with its own
timeout, never raising."""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ultra_env.facts import host
from ultra_env.facts.docker import DockerInfo, DockerVersion, compose_config, plugin_probe, project_ports
from ultra_env.facts.model_runner import api_root, find_model, host_api, model_status, model_version, models_via
from ultra_env.facts.prefetch import Prefetch
from ultra_env.facts.probe import Probe
from ultra_env.facts.team import team_server

if TYPE_CHECKING:
    from ultra_env.config.settings import Settings
    from ultra_env.facts.model_runner import LocalModel, PluginVersion, RunnerStatus
    from ultra_env.facts.team import TeamAnswer
    from ultra_env.project.compose_files import ComposeFiles


@dataclass
class Facts:
    """Everything doctor knows about the machine, gathered once per run."""

    host_os: str
    docker_version: Probe[DockerVersion]
    docker_info: Probe[DockerInfo]
    model_status: Probe[RunnerStatus] | None = None
    model_version: Probe[PluginVersion] | None = None
    model_list: Probe[list[LocalModel]] | None = None
    host_api: Probe[str] | None = None
    project_ports: Probe[set[int]] | None = None
    context_host: Probe[str] | None = None
    model_found: dict[str, Probe[LocalModel]] = field(default_factory=dict)  # configured name -> the runner's answer
    listening: dict[int, set[str] | None] = field(default_factory=dict)  # port -> addresses it listens on
    compose_status: Probe[str] | None = None  # `docker model status --json` as Compose runs it (setup asks)
    compose_files: ComposeFiles | None = None  # what a plain `docker compose` reads in the project
    compose_config: Probe[bool] | None = None  # `docker compose config -q` on those files, once rendered
    team_server: Probe[TeamAnswer] | None = None  # GET {team.url}/models with the key (the team profile)
    ports: dict[int, tuple[bool, str | None]] = field(default_factory=dict)  # port -> (free, holder)
    disk: tuple[Path, int] | None = None
    seconds: float = 0.0

    @property
    def info(self) -> DockerInfo | None:
        return self.docker_info.value

    @property
    def desktop(self) -> bool:
        version = self.docker_version.value
        return bool(version and version.desktop) or bool(self.info and self.info.desktop)

    def has_model(self, name: str) -> bool | None:
        """Whether the runner serves ``name`` as it resolves it; None when it could not be asked."""
        found = self.model_found.get(name)
        if found is not None and found.ok:
            return found.value is not None
        listed = self.model_list.value if self.model_list and self.model_list.ok else None
        return None if listed is None else any(m.has(name) for m in listed)

    def plugin(self, name: str) -> Probe[str]:
        """A docker CLI plugin (``compose``, ``model``): its version, or why there is none."""
        return plugin_probe(self.docker_info, name)


def stack_ports(settings: Settings) -> dict[str, int]:
    ports = {"backend": settings.ports.backend}
    if settings.features.frontend:
        ports["frontend"] = settings.ports.frontend
    if settings.ports.postgres:
        ports["postgres"] = settings.ports.postgres
    if settings.ports.redis:
        ports["redis"] = settings.ports.redis
    return ports


def gather(settings: Settings, early: Prefetch | None = None, files: ComposeFiles | None = None) -> Facts:
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
        found: dict[str, Future[Probe]] = {}
        team = settings.team
        if settings.features.team_llm and team.url:
            key = team.api_key.get_secret_value() if team.api_key else None
            futures["team_server"] = pool.submit(team_server, team.url, key, timeout)
        if files is not None and files.usable and files.rendered.exists():
            futures["compose_config"] = pool.submit(compose_config, files.root, files.files, timeout)
        if local:
            futures["model_version"] = pool.submit(model_version, timeout)
            configured = settings.model_runner.host_url.rstrip("/")
            status = futures["model_status"] = pool.submit(model_status, timeout, configured)
            guess = pool.submit(host_api, configured, min(timeout, 5.0))  # usually where status will point

            def api_answer() -> Probe[str]:
                root = api_root(status.result(), configured)
                if root == configured:
                    return guess.result()
                found = host_api(root, min(timeout, 5.0))
                # Engine's endpointHost names port 12434 whatever the runner's port (reference
                # section 3): the configured root may be the one that answers.
                return found if found.ok or not guess.result().ok else guess.result()

            api = futures["host_api"] = pool.submit(api_answer)
            futures["model_list"] = pool.submit(lambda: models_via(api.result(), timeout))

            def found_as(name: str) -> Probe[LocalModel]:
                return find_model(api.result(), name, timeout)

            found = {m.name: pool.submit(found_as, m.name) for m in settings.models}
        port_facts = {port: future.result() for port, future in ports.items()}
        # Only a busy port raises the question whether this very stack holds it.
        busy = any(not free for free, _ in port_facts.values())
        facts = Facts(
            host_os=host.host_os(),
            docker_version=early.version.result(),
            docker_info=early.info.result(),
            project_ports=project_ports(settings.project_name, timeout) if busy else Probe(value=set()),
            context_host=early.context.result(),
            ports=port_facts,
            **{name: future.result() for name, future in futures.items()},  # type: ignore[arg-type]
        )
        facts.compose_files = files
        facts.model_found = {name: future.result() for name, future in found.items()}
        if local:
            facts.listening = {port: host.listeners(port) for port in runner_ports(settings, facts.model_status)}
    finally:
        early.close()
    facts.disk = host.free_bytes(model_store(facts))
    facts.seconds = time.monotonic() - start
    return facts


def runner_ports(settings: Settings, status: Probe | None) -> set[int]:
    """The ports containers may be sent to for Model Runner: the configured one and the status endpoint's."""
    ports = {settings.model_runner.host_port}
    endpoint = status.value.endpoint if status is not None and status.value is not None else None
    if endpoint:
        try:
            port = urlsplit(endpoint).port
        except ValueError:
            port = None
        if port:
            ports.add(port)
    return ports


def _port(port: int) -> tuple[bool, str | None]:
    free = host.port_free(port)
    return free, None if free else host.port_holder(port)


def model_store(facts: Facts) -> Path:
    """Where pulled models land: ``~/.docker/models`` on Desktop, the engine's data root on Engine."""
    if facts.desktop or not facts.info or not facts.info.root_dir:
        return Path.home() / ".docker" / "models"
    return Path(facts.info.root_dir)
