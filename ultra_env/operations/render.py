"""Rendering ``docker-compose.yml`` and ``.env`` from ``templates/`` for a configuration.

Pure apart from reading the templates: what Compose and the engine can do comes in as a RenderTarget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ultra_env.config.settings import Settings
from ultra_env.errors import ConfigError
from ultra_env.facts.versions import at_least
from ultra_env.operations.templates import Interpolated, render_template

COMPOSE_TEMPLATE = "docker-compose.yml.j2"
ENV_TEMPLATE = "env.j2"
TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"

RUNNER_VAR = "MODEL_RUNNER_URL"  # Ultra's: the runner's API up to /engines (its adapter adds /v1/…)
MODEL_VAR = "DEFAULT_LOCAL_MODEL"
DESKTOP_CONTAINER_URL = "http://model-runner.docker.internal/engines/v1"
ENGINE_EXTRA_HOST = "model-runner.docker.internal:host-gateway"
# CLI v1.0.5-v1.0.8 and rootless setups hand out http://host.docker.internal:PORT/v1/ as the
# endpoint (reference section 3): on Engine it resolves in a container only through this entry.
HOST_GATEWAY = "host.docker.internal:host-gateway"
LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")
EXAMPLE_PASSWORD = "change-me"
MODELS_SINCE = "2.38.0"  # top-level models: (reference section 1)
MODEL_VAR_SINCE = "2.38.1"  # model_var in the long form (compose-go v2.7.1; section 6)

SHIPPED_WORKER = ["python3", "-m", "ultra_env.backend.worker"]
WORKER_HEALTHCHECK = [
    "CMD",
    "python3",
    "-c",
    "import os, sys, time; sys.exit(time.time() - os.path.getmtime('/tmp/worker-heartbeat') > 30)",
]


def backend_healthcheck(path: str) -> list[str]:
    return [
        "CMD",
        "python3",
        "-c",
        f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000{path}', timeout=4)",
    ]


FRONTEND_HEALTHCHECK = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:3009/"]


@dataclass(frozen=True)
class RenderTarget:
    """What the machine offers that changes the rendering."""

    models_block: bool = True  # Compose >= 2.38.0 understands top-level `models:`
    desktop: bool = False  # Docker Desktop (vs Docker Engine)
    model_var: bool = True  # Compose >= 2.38.1 takes `model_var` in a service's `models:`
    runner_endpoint: str | None = None  # the runner's container-facing endpoint (`status --json`), if known


@dataclass(frozen=True)
class BackendBuild:
    """How Compose gets the backend's image: ``build`` (context, dockerfile, args) and the tag, or
    only an image to pull."""

    image: str
    context: str | None = None  # relative to the project folder, or absolute
    dockerfile: str | None = None
    args: dict[str, str] | None = None


def compose_support(version: str | None) -> tuple[bool, bool]:
    """(top-level ``models:``, ``model_var``) for a Compose version; an unknown one is taken as new."""
    if version is None or at_least(version, MODELS_SINCE) is None:
        return True, True
    return bool(at_least(version, MODELS_SINCE)), bool(at_least(version, MODEL_VAR_SINCE))


@dataclass(frozen=True)
class Binding:
    key: str
    name: str
    context_size: int | None
    runtime_flags: list[str]
    endpoint_var: str
    model_var: str


def bindings(settings: Settings) -> list[Binding]:
    """Each local model with the variables Compose sets for it: ``<KEY>_URL`` (the runner's
    OpenAI-compatible endpoint, verbatim) and ``<KEY>_MODEL``: ``LLM_URL`` / ``LLM_MODEL`` first."""
    out = []
    for model in settings.models:
        assert model.key is not None  # Settings gives every model its key
        prefix = model.key.upper().replace("-", "_")
        out.append(
            Binding(model.key, model.name, model.context_size, model.runtime_flags, f"{prefix}_URL", f"{prefix}_MODEL")
        )
    return out


def engine_container_url(port: int) -> str:
    return f"http://model-runner.docker.internal:{port}/engines/v1"


def container_url(settings: Settings, target: RenderTarget) -> str:
    if settings.model_runner.container_url:
        return settings.model_runner.container_url
    if target.runner_endpoint:
        return target.runner_endpoint
    return DESKTOP_CONTAINER_URL if target.desktop else engine_container_url(settings.model_runner.host_port)


def engines_base(url: str) -> str:
    """An OpenAI-compatible endpoint of the runner as Ultra's adapter wants it: up to ``/engines``,
    no ``/v1`` and no trailing slash (it appends ``/v1/chat/completions``, ``/v1/models``)."""
    url = url.rstrip("/")
    if url.endswith("/engines/v1"):
        return url[: -len("/v1")]
    if url.endswith("/v1"):
        return url[: -len("/v1")] + "/engines"
    return url if url.endswith("/engines") else url + "/engines"


def for_containers(url: str) -> str:
    """A URL as a container sees it: loopback (the host, to you) becomes ``host.docker.internal``."""
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK:
        return url
    netloc = "host.docker.internal" + (f":{parts.port}" if parts.port else "")
    if "@" in parts.netloc:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    return urlunsplit(parts._replace(netloc=netloc))


def policy(settings: Settings) -> dict[str, str]:
    """What Ultra's orchestration reads: how many models must answer and which providers are required
    (its defaults, 3 and openai,anthropic,google, refuse every local-only analysis)."""
    cloud = [n for n, p in settings.providers.items() if settings.features.cloud_llm and p.api_key is not None]
    local = len(settings.models) if settings.features.local_llm else 0
    team = len(settings.team_models) if settings.features.team_llm else 0
    count = local + team + len(cloud) + int(settings.features.mock_llm)
    return {
        "MODEL_RUNNER_TYPE": "api",
        "MINIMUM_MODELS_REQUIRED": str(max(count, 1)),
        "REQUIRED_PROVIDERS": ",".join(cloud),
        "ENABLE_SINGLE_MODEL_FALLBACK": str(count <= 1).lower(),
    }


def app_environment(settings: Settings, target: RenderTarget, models: list[Binding], use_block: bool) -> dict[str, str]:
    """What the backend and the worker get on top of ``.env``: the database, the local models and
    the cloud providers, as seen from inside the stack."""
    env: dict[str, str] = {
        "DATABASE_URL": Interpolated("postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}@postgres:5432/${POSTGRES_DB}"),
        "REDIS_URL": Interpolated("redis://:${REDIS_PASSWORD}@redis:6379/0"),
    }
    if models:
        url = container_url(settings, target)
        env[RUNNER_VAR] = engines_base(url)
        env[MODEL_VAR] = models[0].name
        env["LOCAL_MODELS"] = ",".join(b.endpoint_var.removesuffix("_URL") for b in models)
        if not use_block:
            env.update({var: value for b in models for var, value in ((b.endpoint_var, url), (b.model_var, b.name))})
        elif not target.model_var:
            env.update({b.model_var: b.name for b in models})  # Compose 2.38.0: the names through the environment
    if settings.features.local_llm and settings.features.cloud_on_local:
        env["CLOUD_ON_LOCAL"] = "true"
    if settings.features.team_llm and settings.team.url:
        env["USE_TEAM_LLM"] = "true"
        env["TEAM_LLM_URL"] = for_containers(settings.team.url)
        env["TEAM_LLM_MODELS"] = ",".join(settings.team_models)
        env["TEAM_LLM_API_KEY"] = Interpolated(f"${{{settings.team.key_var}:-}}")  # the key stays in .env
    if settings.features.cloud_llm:  # (their base URLs go to .env: one may hold a password)
        for name, provider in settings.providers.items():
            env[f"{name.upper()}_MODEL"] = provider.default_model
            # The backend reads the key under the provider's own name; a custom key_var holds it in
            # .env, so Compose passes it on by reference (the key itself stays out of this file).
            standard = f"{name.upper()}_API_KEY"
            if provider.key_var != standard:
                env[standard] = Interpolated(f"${{{provider.key_var}:-}}")
    return env


def compose_context(settings: Settings, target: RenderTarget, backend: BackendBuild) -> dict[str, Any]:
    local = settings.features.local_llm
    models = bindings(settings) if local else []
    use_block = local and target.models_block
    extra_hosts = [HOST_GATEWAY]
    if (
        local
        and not use_block
        and not target.desktop
        and "model-runner.docker.internal" in container_url(settings, target)
    ):
        extra_hosts.append(ENGINE_EXTRA_HOST)
    environment = app_environment(settings, target, models, use_block)
    pull_policy = "never" if backend.context else settings.pull_policy  # built by `invoke up`, never pulled

    def app(name: str, image: str, healthcheck: list[str] | None, **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "image": image,
            "healthcheck": healthcheck,
            "command": None,
            "build": None,
            "environment": environment,
            "ports": [],
            "models": models if use_block else [],
            "extra_hosts": extra_hosts,
            "depends_on": ["postgres", "redis"],
            "env_file": True,
            "pull_policy": settings.pull_policy,
            **extra,
        }

    build = (
        {"context": backend.context, "dockerfile": backend.dockerfile, "args": backend.args or {}}
        if backend.context
        else None
    )
    apps = [
        app(
            "backend",
            backend.image,
            backend_healthcheck(settings.backend.health_path),
            build=build,
            command=settings.backend.command,
            pull_policy=pull_policy,
            ports=[f"127.0.0.1:{settings.ports.backend}:8000"],
        )
    ]
    if settings.features.worker:
        shipped = not settings.own_backend
        image = settings.images.worker or backend.image
        apps.append(
            app(
                "worker",
                image,
                WORKER_HEALTHCHECK if shipped or settings.images.worker is None else None,
                command=settings.worker_command or (SHIPPED_WORKER if shipped else None),
                pull_policy=pull_policy if image == backend.image else settings.pull_policy,
                depends_on=["postgres", "redis", "backend"],
            )
        )
    if settings.features.frontend:
        apps.append(
            {
                "name": "frontend",
                "image": settings.images.frontend,
                "healthcheck": FRONTEND_HEALTHCHECK,
                "command": None,
                "build": None,
                "environment": {"BACKEND_URL": "http://backend:8000"},
                "ports": [f"127.0.0.1:{settings.ports.frontend}:3009"],
                "models": [],
                "extra_hosts": [],
                "depends_on": ["backend"],
                "env_file": False,
                "pull_policy": settings.pull_policy,
            }
        )
    return {
        "profile": settings.profile.value,
        "project_name": settings.project_name,
        "images": settings.images,
        "pull_policy": settings.pull_policy,
        "ports": settings.ports,
        "healthcheck_interval": duration(settings.timeouts.healthcheck),
        "apps": apps,
        "models_block": use_block,
        "model_var": target.model_var,
        "models": models if use_block else [],
    }


def env_context(settings: Settings, *, example: bool, generated: dict[str, str]) -> dict[str, Any]:
    providers = [
        {
            "key_var": p.key_var,
            "value": "" if example or p.api_key is None else p.api_key.get_secret_value(),
            "base_var": f"{name.upper()}_BASE_URL",
            "base_url": for_containers(p.base_url) if p.base_url and settings.features.cloud_llm else "",
        }
        for name, p in settings.providers.items()
    ]
    first = settings.models[0].name if settings.models else ""
    openai = settings.providers.get("openai")
    return {
        "profile": settings.profile.value,
        "features": settings.features.model_dump(),
        "host_model_url": engines_base(settings.model_runner.host_url),
        "policy": policy(settings),
        "default_local_model": first,
        "providers": providers,
        "team_key_var": settings.team.key_var,
        "team_key": "" if example or settings.team.api_key is None else settings.team.api_key.get_secret_value(),
        "default_cloud_model": openai.default_model if openai else "",
        "postgres_password": EXAMPLE_PASSWORD if example else generated["POSTGRES_PASSWORD"],
        "redis_password": EXAMPLE_PASSWORD if example else generated["REDIS_PASSWORD"],
    }


def render_compose(
    settings: Settings, target: RenderTarget, backend: BackendBuild, templates_dir: Path = TEMPLATES_DIR
) -> str:
    return render_template(templates_dir, COMPOSE_TEMPLATE, compose_context(settings, target, backend))


def render_env(
    settings: Settings,
    *,
    example: bool = False,
    generated: dict[str, str] | None = None,
    templates_dir: Path = TEMPLATES_DIR,
) -> str:
    for name, value in (generated or {}).items():
        _url_safe(name, value)
    context = env_context(settings, example=example, generated=generated or {})
    return render_template(templates_dir, ENV_TEMPLATE, context)


URL_SAFE = re.compile(r"[A-Za-z0-9._~-]*\Z")


def _url_safe(name: str, value: str) -> None:
    """The passwords go into DATABASE_URL and REDIS_URL through Compose's ``${...}``, which cannot
    percent-encode: a character that means something in a URL (``@ / # ? % :``...) would change
    the host or cut the password, so only the characters a URL carries as they are pass."""
    if not URL_SAFE.match(value):
        raise ConfigError(
            f"{name} in .env holds characters a URL cannot carry as they are (@ / # ? % : and the like): "
            "DATABASE_URL and REDIS_URL would point elsewhere",
            f"in .env, set {name} to letters, digits and - . _ ~ only (or delete that line: render generates one)",
        )


def duration(seconds: float) -> str:
    """Seconds as a Compose duration: ``3s``, ``1500ms``."""
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"
