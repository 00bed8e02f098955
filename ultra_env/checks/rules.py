"""Doctor's rules: pure functions from facts and settings to ok / warn / failed / skipped,
each failure with the exact command or setting that fixes it (reference sections 1-4 and 7)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ultra_env import runner_verdicts
from ultra_env.checks.compose_files import compose_file_checks
from ultra_env.checks.memory import memory_checks
from ultra_env.checks.offline import offline_checks
from ultra_env.checks.reach import reach_checks
from ultra_env.checks.team import team_checks
from ultra_env.config.settings import Settings
from ultra_env.engine.run import Status, TaskResult
from ultra_env.facts import model_runner as mr
from ultra_env.facts.docker import DockerVersion
from ultra_env.facts.gather import Facts, stack_ports
from ultra_env.facts.probe import Probe
from ultra_env.facts.versions import at_least
from ultra_env.operations.render import MODEL_VAR_SINCE, MODELS_SINCE, compose_support
from ultra_env.runner_verdicts import enable_tcp

DOCKER, COMPOSE, DMR, PORTS, DISK, KEYS = "Docker", "Compose", "Model Runner", "Ports", "Disk", "Cloud keys"
DEFAULT_MODEL_MB = 1024  # a model whose size is not configured is assumed to need this much
# Plugins that panic on `status --json` on Docker Engine when MODEL_RUNNER_NO_AUTO_INSTALL is set
# (reference section 3; fixed upstream in docker/model-runner 1b6f2ce8).
PANICKING_PLUGINS = ("0.1.31", "1.0.4")


def result(area: str, name: str, status: Status, msg: str, fix: str | None = None) -> TaskResult:
    return TaskResult(name, status, msg, fix, area=area)


def start_docker_fix(os_name: str) -> str:
    return {
        "macOS": "start Docker Desktop: open -a Docker",
        "Windows": "start Docker Desktop from the Start menu",
    }.get(os_name, "sudo systemctl start docker (or start Docker Desktop)")


def install_docker_fix(os_name: str) -> str:
    if os_name in ("macOS", "Windows"):
        return "install Docker Desktop 4.43 or newer: https://docs.docker.com/desktop/"
    return (
        "install Docker Engine: https://docs.docker.com/engine/install/ "
        "(Debian/Ubuntu: docker-ce, docker-compose-plugin, docker-model-plugin)"
    )


def docker_checks(facts: Facts, settings: Settings) -> Iterator[TaskResult]:
    version = facts.docker_version
    if version.missing:
        yield result(DOCKER, "docker CLI", Status.FAILED, "docker is not installed", install_docker_fix(facts.host_os))
        return
    value = version.value
    if value is None:
        yield result(
            DOCKER,
            "docker CLI",
            Status.FAILED,
            f"docker version failed: {version.error}",
            "reinstall Docker; run `docker version` to see the error",
        )
        return
    yield result(
        DOCKER, "docker CLI", Status.OK, f"{value.client} ({facts.host_os}, context {value.context or 'default'})"
    )
    if not value.server:
        yield result(
            DOCKER, "daemon", Status.FAILED, "the Docker daemon is not reachable", start_docker_fix(facts.host_os)
        )
        return
    if facts.desktop:
        kind = f"Docker Desktop {value.desktop_version or '(version unknown)'}"
    else:
        kind = "Docker Engine"
    yield result(DOCKER, "daemon", Status.OK, f"{kind}, Engine {value.server} ({value.server_os or 'linux'})")
    host = facts.context_host.value if facts.context_host and facts.context_host.ok else None
    if host and not host.startswith(("unix://", "npipe://")):
        yield result(
            DOCKER,
            "context",
            Status.WARN,
            f"context {value.context} points at {host}: containers, ports and models live there, not here",
            "docker context use default",
        )
    if facts.desktop and settings.features.local_llm:
        yield from _desktop_checks(facts, settings, value)


def _desktop_checks(facts: Facts, settings: Settings, value: DockerVersion) -> Iterator[TaskResult]:
    # Desktop for Linux has no Model Runner of its own: the CLI treats it as a plain Engine with
    # an auto-installed runner (reference section 1), so the plugin and runner probes decide.
    minimum = {
        "macOS": settings.min_versions.desktop_macos,
        "Windows": settings.min_versions.desktop_windows,
        "WSL2": settings.min_versions.desktop_windows,
    }.get(facts.host_os)
    if minimum and at_least(value.desktop_version, minimum) is False:
        yield result(
            DOCKER,
            "Docker Desktop version",
            Status.FAILED,
            f"Docker Desktop {value.desktop_version} is older than {minimum}, the first with Model Runner "
            f"on {facts.host_os}",
            "update Docker Desktop (Settings → Software updates), then " + enable_tcp(settings),
        )


def compose_checks(facts: Facts, settings: Settings) -> Iterator[TaskResult]:
    compose = facts.plugin("compose")
    if not compose.ok:
        fix = (
            "update Docker Desktop"
            if facts.desktop
            else "sudo apt-get install docker-compose-plugin (or dnf install docker-compose-plugin)"
        )
        yield result(COMPOSE, "docker compose", Status.FAILED, f"Docker Compose v2 not found ({compose.error})", fix)
        return
    models_block, model_var = compose_support(compose.value)
    version = f"Compose {compose.value}"
    found: tuple[Status, str, str | None]
    if settings.features.local_llm and not models_block:
        found = (
            Status.WARN,
            f"{version} predates top-level models: ({MODELS_SINCE}); explicit URLs are rendered instead",
            "update Docker Compose to 2.38.1 or newer (Docker Desktop 4.43+)",
        )
    elif settings.features.local_llm and not model_var:
        found = (Status.OK, f"{version}: models: without model_var (from {MODEL_VAR_SINCE})", None)
    else:
        found = (Status.OK, version, None)
    yield result(COMPOSE, "docker compose", *found)


def model_runner_checks(facts: Facts, settings: Settings) -> Iterator[TaskResult]:
    if not settings.features.local_llm:
        yield result(DMR, "Model Runner", Status.SKIPPED, f"{settings.profile.value} profile: no local models")
        return
    if not facts.docker_version.value or not facts.docker_version.value.server:
        yield result(DMR, "Model Runner", Status.SKIPPED, "needs a running Docker daemon")
        return
    assert facts.model_status is not None and facts.host_api is not None
    plugin = facts.plugin("model")
    if plugin.missing or mr.plugin_missing(facts.model_status.output):
        fix = (
            f"update Docker Desktop to 4.40+ (Apple silicon) / 4.41+ (Windows), then {enable_tcp(settings)}"
            if facts.desktop and facts.host_os != "Linux"
            else "sudo apt-get install docker-model-plugin (Debian/Ubuntu) "
            "or sudo dnf install docker-model-plugin (Fedora/RHEL)"
        )
        yield result(DMR, "docker model plugin", Status.FAILED, "the `docker model` CLI plugin is not installed", fix)
        return
    if facts.info is None:
        yield result(DMR, "docker model plugin", Status.OK, "present (version unknown: docker info failed)")
    elif not plugin.ok:
        yield result(
            DMR,
            "docker model plugin",
            Status.FAILED,
            f"the plugin at {plugin.output} is broken: {plugin.error}",
            "reinstall it (Engine: sudo apt-get install --reinstall docker-model-plugin; Desktop: update)",
        )
        return
    elif not facts.desktop and at_least(plugin.value, settings.min_versions.model_plugin) is False:
        yield result(
            DMR,
            "docker model plugin",
            Status.WARN,
            f"plugin {plugin.value} is older than {settings.min_versions.model_plugin}, which Compose's models: needs",
            "sudo apt-get install --only-upgrade docker-model-plugin",
        )
    else:
        yield result(DMR, "docker model plugin", Status.OK, f"{plugin.value} ({plugin.output})")
    yield from _status_json(facts, plugin)
    yield from _runner(facts, settings)


def _status_json(facts: Facts, plugin: Probe) -> Iterator[TaskResult]:
    """A plugin whose ``status --json`` prints no JSON: the runner was read another way; say which
    plugin misbehaves and how to update it."""
    status = facts.model_status.value if facts.model_status else None
    if status is None or status.json_error is None:
        return
    said = status.json_error
    low, high = PANICKING_PLUGINS
    version = plugin.value if plugin.ok else None
    known = bool(at_least(version, low)) and not at_least(version, _next_patch(high))
    why = (
        f"plugin {version} panics on `docker model status --json` on Docker Engine when "
        f"MODEL_RUNNER_NO_AUTO_INSTALL is set ({low} to {high} do)"
        if known
        else f"`docker model status --json` printed no JSON (plugin {version or 'version unknown'})"
    )
    fix = "update Docker Desktop" if facts.desktop else "sudo apt-get install --only-upgrade docker-model-plugin"
    yield result(
        DMR,
        "docker model status --json",
        Status.WARN,
        f"{why}: {said}; read from `docker model status` ({status.source}) instead",
        fix,
    )


def _next_patch(version: str) -> str:
    major, minor, patch = version.split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


def _runner(facts: Facts, settings: Settings) -> Iterator[TaskResult]:
    status_probe = facts.model_status or Probe(error="not gathered")
    status = status_probe.value
    linux_desktop = facts.desktop and facts.host_os == "Linux"
    desktop_app = facts.desktop and not linux_desktop
    if status is None or not status.running:
        why = "not running" if status is not None else runner_verdicts.status_unknown(status_probe.error or "")
        down = runner_verdicts.runner_down(why, settings, desktop_app=desktop_app)
        yield result(DMR, "runner", Status.FAILED, down.cause, down.fix)
        return
    backends = ", ".join(f"{k}: {v}" for k, v in status.backends.items()) or "no backend reported"
    version = facts.model_version.value if facts.model_version else None
    server = f", server {version.server}" if version and version.server else ""
    yield result(DMR, "runner", Status.OK, f"running ({status.kind or 'kind not reported'}{server}); {backends}")
    for backend, text in status.backend_problems().items():
        yield result(
            DMR,
            f"backend {backend}",
            Status.WARN,
            text,
            "docker model reinstall-runner" if not facts.desktop else "restart Docker Desktop",
        )
    api = facts.host_api
    assert api is not None
    root = api.value
    if api.ok:
        yield result(DMR, "API from the host", Status.OK, f"{root}/models answers")
    else:
        # The CLI still reaches the runner through Docker's socket: models.*, setup and health use it.
        free, holder = facts.ports.get(settings.model_runner.host_port, (True, None))
        silent = runner_verdicts.api_silent(
            root or settings.model_runner.host_url,
            api.error or "",
            settings,
            holder=None if free else holder,
            desktop_app=desktop_app,
            cli_fallback=True,
        )
        status_ = Status.FAILED if silent.blocking else Status.WARN
        yield result(DMR, "API from the host", status_, silent.cause, silent.fix)


def model_checks(facts: Facts, settings: Settings) -> Iterator[TaskResult]:
    if not settings.features.local_llm or facts.model_list is None or not facts.model_list.ok:
        return
    for model in settings.models:
        if facts.has_model(model.name):
            yield result(DMR, f"model {model.name}", Status.OK, "present")
        else:  # not a failure: setup pulls it
            missing = runner_verdicts.model_missing([model.name], "Model Runner's store")
            yield result(DMR, f"model {model.name}", Status.WARN, missing.cause, missing.fix)


def port_checks(facts: Facts, settings: Settings) -> Iterator[TaskResult]:
    ours = (facts.project_ports.value if facts.project_ports else None) or set()
    for service, port in stack_ports(settings).items():
        free, holder = facts.ports.get(port, (True, None))
        if free:
            yield result(PORTS, f"port {port}", Status.OK, f"free for {service}")
        elif port in ours:
            yield result(PORTS, f"port {port}", Status.OK, f"{service} of this stack already serves it")
        else:
            who = holder or "another program"
            variable = f"ULTRA_ENV_PORTS__{service.upper()}"
            yield result(
                PORTS,
                f"port {port}",
                Status.FAILED,
                f"{service}'s port is taken by {who}",
                f"stop {who}, or choose another port: export {variable}={port + 1}",
            )


def disk_checks(facts: Facts, settings: Settings) -> Iterator[TaskResult]:
    if not settings.features.local_llm:
        return
    if facts.disk is None:
        yield result(DISK, "model storage", Status.SKIPPED, "free space could not be measured")
        return
    path, free = facts.disk
    missing = [m for m in settings.models if not facts.has_model(m.name)]
    need = sum((m.size_mb or DEFAULT_MODEL_MB) for m in missing) * 1024 * 1024
    text = f"{free / 1e9:.1f} GB free at {path}; models to pull need about {need / 1e9:.1f} GB"
    if free < need:
        yield result(
            DISK,
            "model storage",
            Status.FAILED,
            text,
            f"free {(need - free) / 1e9:.1f} GB at {path} (docker system prune; docker model rm MODEL)",
        )
    else:
        yield result(DISK, "model storage", Status.OK, text)


def key_checks(facts: Facts, settings: Settings) -> Iterator[TaskResult]:
    if not settings.features.cloud_llm:
        yield result(KEYS, "cloud keys", Status.SKIPPED, f"{settings.profile.value} profile: no cloud providers")
        return
    present = 0
    for name, provider in settings.providers.items():
        key = provider.api_key.get_secret_value() if provider.api_key else ""
        if not key:
            yield result(
                KEYS,
                name,
                Status.WARN,
                f"{provider.key_var} is not set: {name} stays off",
                f"add {provider.key_var}=… to .env",
            )
            continue
        present += 1
        if provider.key_prefix and not key.startswith(provider.key_prefix):
            yield result(
                KEYS,
                name,
                Status.WARN,
                f"{provider.key_var} does not start with {provider.key_prefix!r}",
                f"check the key in .env ({provider.key_var})",
            )
        else:
            yield result(KEYS, name, Status.OK, f"{provider.key_var} is set")
    if present == 0:
        yield result(
            KEYS,
            "cloud keys",
            Status.FAILED,
            "the profile uses cloud providers but no key is set",
            "add OPENAI_API_KEY, ANTHROPIC_API_KEY or GOOGLE_API_KEY to .env, or use --profile local / mock",
        )


RULES: tuple[Callable[[Facts, Settings], Iterator[TaskResult]], ...] = (
    docker_checks,
    compose_checks,
    compose_file_checks,
    model_runner_checks,
    team_checks,
    reach_checks,
    offline_checks,
    model_checks,
    memory_checks,
    port_checks,
    disk_checks,
    key_checks,
)


def evaluate(facts: Facts, settings: Settings) -> list[TaskResult]:
    return [check for rule in RULES for check in rule(facts, settings)]
