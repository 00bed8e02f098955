"""The RenderTarget this machine is for the render: Compose's ``models:`` or explicit URLs, Desktop or Engine,
and the runner's own endpoint."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ultra_env.config.settings import Settings
from ultra_env.engine.context import Context
from ultra_env.engine.run import TaskResult, failed, ok, warn
from ultra_env.facts.docker import docker_info
from ultra_env.facts.gather import plugin_probe
from ultra_env.facts.model_runner import RunnerStatus, model_status
from ultra_env.operations.render import (
    LOOPBACK,
    MODEL_VAR_SINCE,
    MODELS_SINCE,
    RenderTarget,
    compose_support,
    for_containers,
)

ENGINE_DEFAULT_PORT = 12434  # what `status --json` names on Engine whatever the port (status.go:156-162)

if TYPE_CHECKING:
    from ultra_env.facts.gather import Facts, Probe


def detect_target(ctx: Context, facts: Facts | None = None) -> RenderTarget:
    """Which RenderTarget the machine is: Compose's ``models:`` or the fallback, Desktop or Engine."""

    settings = ctx.settings
    if not settings.features.local_llm:
        return RenderTarget()
    info = facts.docker_info if facts is not None else docker_info(settings.timeouts.probe)
    target, report = target_for(settings, info)
    ctx.run.add(report)
    # The runner's own container-facing endpoint (`docker model status --json`), when it names one:
    # without models: the services get it as Compose would have given it, and Ultra's
    # MODEL_RUNNER_URL is derived from it either way.
    found = (
        facts.model_status
        if facts is not None and facts.model_status is not None
        else model_status(settings.timeouts.probe, settings.model_runner.host_url)
    )
    status = found.value
    endpoint = status.endpoint if status is not None else None
    usable = usable_endpoint(endpoint)
    if not settings.model_runner.container_url and usable:
        target = replace(target, runner_endpoint=for_containers(usable))
    said = facts.compose_status if facts is not None else None
    target, verdict = compose_can_serve(settings, target, status, said)
    if verdict is not None:
        ctx.run.add(verdict)
    return target


def compose_can_serve(
    settings: Settings, target: RenderTarget, status: RunnerStatus | None, compose_said: Probe | None = None
) -> tuple[RenderTarget, TaskResult | None]:
    """Whether Compose's ``models:`` would give the services a runner they can use. Compose runs
    ``docker model status --json`` on every ``up`` and injects its ``endpoint`` verbatim (reference
    section 6): when that command fails, or the endpoint is the host's loopback (a runner that
    listens there only, e.g. the standalone ``dmr``), or it names the default port 12434 while the
    runner answers on another (Engine, reference section 3), ``up`` fails or the services get a URL
    that leads nowhere. ``compose_said``: that command run as Compose runs it, when asked
    (``facts.model_runner.compose_status``). ``auto`` then renders explicit URLs and says why;
    ``on`` fails now."""
    if not target.models_block or status is None:
        return target, None
    name = "compose models:"
    kept = [m.name for m in settings.models if m.keep_alive]
    if kept and settings.model_runner.compose_models == "auto":
        # Compose configures every model on every `up` and has no keep-alive field (reference
        # section 6.1): it would drop the keep-alive each time; setup applies it instead.
        endpoint = None if settings.model_runner.container_url else target.runner_endpoint
        return replace(target, models_block=False, runner_endpoint=endpoint), ok(
            name, f"keep_alive set for {', '.join(kept)}: explicit Model Runner URLs, so that Compose does not reset it"
        )
    problem = _compose_problem(settings, status, usable_endpoint(status.endpoint), compose_said)
    if problem is None:
        return target, None
    why, endpoint, fix = problem
    if settings.model_runner.compose_models == "on":
        return target, failed(
            name,
            f"{why}: Compose's models: cannot serve this stack",
            f'{fix}; or set compose_models = "auto" under [model_runner] in ultra-env.toml',
        )
    if settings.model_runner.container_url:
        endpoint = None  # the configured container_url wins
    return replace(target, models_block=False, runner_endpoint=endpoint), warn(
        name, f"{why}: rendering explicit Model Runner URLs instead of models:", fix
    )


def _compose_problem(
    settings: Settings, status: RunnerStatus, endpoint: str | None, compose_said: Probe | None = None
) -> tuple[str, str | None, str] | None:
    """(why Compose's models: would not serve, the endpoint to render instead, the fix) or None."""
    if compose_said is not None and not compose_said.ok:
        return (
            f"docker model status --json, as Compose runs it, fails ({compose_said.error}) while the API answers",
            endpoint,
            "docker model reinstall-runner (Compose's models: needs a working docker model status)",
        )
    if status.source == "api":
        said = f" ({status.json_error})" if status.json_error else ""
        return (
            f"docker model status fails{said} while the API answers",
            endpoint,
            "docker model reinstall-runner (Compose's models: needs a working docker model status)",
        )
    if endpoint is None:
        return None
    parts = urlsplit(endpoint)
    if parts.hostname in LOOPBACK:
        return (
            f"the runner gives containers {endpoint}, its host's loopback (a container's own)",
            for_containers(endpoint),
            "nothing to do if containers reach the runner (doctor's runner from containers check says)",
        )
    answering = settings.model_runner.host_port
    if status.kind == "Docker Engine" and parts.port == ENGINE_DEFAULT_PORT and answering != ENGINE_DEFAULT_PORT:
        return (
            f"docker model status names port {ENGINE_DEFAULT_PORT} while the runner answers on {answering}",
            endpoint.replace(f":{ENGINE_DEFAULT_PORT}", f":{answering}", 1),
            f"docker model reinstall-runner --port {ENGINE_DEFAULT_PORT} lets Compose's models: work again",
        )
    return None


def usable_endpoint(endpoint: str | None) -> str | None:
    """A status endpoint that names a host (old plugins printed ``http://:0/engines/v1/``)."""
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    return endpoint.rstrip("/") if parts.hostname and parts.port != 0 else None


def target_for(settings: Settings, info: Probe) -> tuple[RenderTarget, TaskResult]:

    desktop = bool(info.value and info.value.desktop)
    compose = plugin_probe(info, "compose")
    kind = "Docker Desktop" if desktop else "Docker Engine"
    mode = settings.model_runner.compose_models
    name = "detect compose"
    models_block, model_var = compose_support(compose.value if compose.ok else None)
    if mode != "auto":
        return RenderTarget(models_block=mode == "on", desktop=desktop, model_var=model_var), ok(
            name, f"models: {mode} (model_runner.compose_models); {kind}"
        )
    target = RenderTarget(models_block=models_block, desktop=desktop, model_var=model_var)
    if not compose.ok:
        return target, warn(
            name,
            f"Compose not found ({compose.error}); rendering for Compose ≥ {MODEL_VAR_SINCE}",
            "install Docker Compose v2.38.1 or newer (Docker Desktop 4.43+)",
        )
    if not models_block:
        return target, warn(
            name,
            f"Compose {compose.value} predates models: (needs {MODELS_SINCE}); rendering explicit Model Runner "
            "URLs, and setup applies context sizes itself",
            "update Docker Compose to 2.38.1+ (Docker Desktop 4.43+)",
        )
    if not model_var:
        return target, ok(
            name,
            f"Compose {compose.value} ({kind}): models: with endpoint_var only (model_var needs "
            f"{MODEL_VAR_SINCE}); the model name goes in the environment",
        )
    return target, ok(name, f"Compose {compose.value} ({kind}): top-level models: supported")
