"""Which rendering this machine gets: Compose's ``models:`` or explicit URLs, Desktop or Engine,
and the runner's own endpoint."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ultra_env.config.settings import Settings
from ultra_env.engine.context import Context
from ultra_env.engine.run import TaskResult, ok, warn
from ultra_env.facts.docker import docker_info
from ultra_env.facts.gather import plugin_probe
from ultra_env.facts.model_runner import model_status
from ultra_env.operations.render import MODEL_VAR_SINCE, MODELS_SINCE, Rendering, compose_support

if TYPE_CHECKING:
    from ultra_env.facts.gather import Facts, Probe


def detect_target(ctx: Context, facts: Facts | None = None) -> Rendering:
    """Which rendering the machine needs: Compose's ``models:`` or the fallback, Desktop or Engine."""

    settings = ctx.settings
    if not settings.features.local_llm:
        return Rendering()
    info = facts.docker_info if facts is not None else docker_info(settings.timeouts.probe)
    target, report = target_for(settings, info)
    ctx.run.add(report)
    if not settings.model_runner.container_url:
        # The runner's own container-facing endpoint (`docker model status --json`), when it names
        # one: without models: the services get it as Compose would have given it, and Ultra's
        # MODEL_RUNNER_URL is derived from it either way.
        found = (
            facts.model_status
            if facts is not None and facts.model_status is not None
            else model_status(settings.timeouts.probe, settings.model_runner.host_url)
        )
        endpoint = found.value.endpoint if found.value is not None else None
        target = replace(target, runner_endpoint=usable_endpoint(endpoint))
    return target


def usable_endpoint(endpoint: str | None) -> str | None:
    """A status endpoint that names a host (old plugins printed ``http://:0/engines/v1/``)."""
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    return endpoint.rstrip("/") if parts.hostname and parts.port != 0 else None


def target_for(settings: Settings, info: Probe) -> tuple[Rendering, TaskResult]:

    desktop = bool(info.value and info.value.desktop)
    compose = plugin_probe(info, "compose")
    kind = "Docker Desktop" if desktop else "Docker Engine"
    mode = settings.model_runner.compose_models
    name = "detect compose"
    models_block, model_var = compose_support(compose.value if compose.ok else None)
    if mode != "auto":
        return Rendering(models_block=mode == "on", desktop=desktop, model_var=model_var), ok(
            name, f"models: {mode} (model_runner.compose_models); {kind}"
        )
    target = Rendering(models_block=models_block, desktop=desktop, model_var=model_var)
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
