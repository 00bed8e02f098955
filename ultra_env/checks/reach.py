"""Whether the stack's containers can reach Model Runner, judged before anything is brought up:
pure, from the facts and the settings (reference sections 4 and 6, issue reports of a runner that
listens on the host's loopback only)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit

from ultra_env.config.settings import Settings
from ultra_env.engine.run import Status, TaskResult
from ultra_env.facts import model_runner as mr
from ultra_env.facts.gather import Facts
from ultra_env.facts.host import loopback_only
from ultra_env.operations.render import LOOPBACK, RenderTarget, container_url, for_containers
from ultra_env.operations.render_target import compose_can_serve, target_for, usable_endpoint

DMR = "Model Runner"
NAME = "runner from containers"
# Names a container resolves to this host (through extra_hosts: host-gateway on Engine).
HOST_NAMES = ("host.docker.internal", "model-runner.docker.internal", "gateway.docker.internal")


def runner_url_for_containers(settings: Settings, status: mr.RunnerStatus | None, start: RenderTarget) -> str:
    """The Model Runner URL the stack's services get, as rendering gives it from ``start`` (what
    Compose and the engine support)."""
    endpoint = usable_endpoint(status.endpoint) if status is not None else None
    target = replace(start, runner_endpoint=for_containers(endpoint) if endpoint else None)
    target, _ = compose_can_serve(settings, target, status)
    if target.models_block and endpoint:
        return endpoint  # Compose injects the status endpoint verbatim
    return container_url(settings, target)


def reach_checks(facts: Facts, settings: Settings) -> Iterator[TaskResult]:
    status = facts.model_status.value if facts.model_status else None
    if not settings.features.local_llm or status is None or not status.running or facts.desktop:
        return  # Desktop routes model-runner.docker.internal itself
    url = runner_url_for_containers(settings, status, target_for(settings, facts.docker_info)[0])
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    fix = (
        "make Model Runner listen where containers reach the host (docker model install-runner --host 0.0.0.0; "
        "a standalone runner on 0.0.0.0), or set container_url under [model_runner] in ultra-env.toml to a URL "
        "containers reach"
    )
    if parts.hostname in LOOPBACK:
        said = f"containers would be given {url}: loopback in a container is the container"
        yield TaskResult(NAME, Status.FAILED, said, fix, area=DMR)
        return
    addresses = facts.listening.get(port)
    if parts.hostname in HOST_NAMES and addresses and loopback_only(addresses):
        where = ", ".join(sorted(addresses))
        yield TaskResult(
            NAME,
            Status.FAILED,
            f"Model Runner listens on {where} port {port} only: containers reach the host at {parts.hostname}, "
            "where nothing answers",
            fix,
            area=DMR,
        )
        return
    yield TaskResult(NAME, Status.OK, f"containers are given {url}", area=DMR)
