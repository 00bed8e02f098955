"""Rendering ``docker-compose.yml`` and ``.env`` from ``templates/`` for a configuration.

Pure apart from reading the templates: what Compose and the engine can do comes in as a Target.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ultra_env.config import Settings
from ultra_env.envfile import quote
from ultra_env.errors import UltraError
from ultra_env.facts.versions import at_least

COMPOSE_TEMPLATE = "docker-compose.yml.j2"
ENV_TEMPLATE = "env.j2"
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

ENDPOINT_VAR = "MODEL_RUNNER_URL"
MODEL_VAR = "DEFAULT_LOCAL_MODEL"
DESKTOP_CONTAINER_URL = "http://model-runner.docker.internal/engines/v1"
ENGINE_EXTRA_HOST = "model-runner.docker.internal:host-gateway"
# CLI v1.0.5-v1.0.8 and rootless setups hand out http://host.docker.internal:PORT/v1/ as the
# endpoint (reference section 3): on Engine it resolves in a container only through this entry.
HOST_GATEWAY = "host.docker.internal:host-gateway"
EXAMPLE_PASSWORD = "change-me"
MODELS_SINCE = "2.38.0"  # top-level models: (reference section 1)
MODEL_VAR_SINCE = "2.38.1"  # model_var in the long form (compose-go v2.7.1; section 6)

BACKEND_HEALTHCHECK = [
    "CMD", "python3", "-c",
    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)",
]
WORKER_HEALTHCHECK = [
    "CMD", "python3", "-c",
    "import os, sys, time; sys.exit(time.time() - os.path.getmtime('/tmp/worker-heartbeat') > 30)",
]
FRONTEND_HEALTHCHECK = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:3009/"]


@dataclass(frozen=True)
class Target:
    """What the machine offers that changes the rendering."""

    models_block: bool = True  # Compose >= 2.38.0 understands top-level `models:`
    desktop: bool = False  # Docker Desktop (vs Docker Engine)
    model_var: bool = True  # Compose >= 2.38.1 takes `model_var` in a service's `models:`
    runner_endpoint: str | None = None  # the runner's container-facing endpoint (`status --json`), if known


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
    """Each local model with the variables it is bound to (the first: the backend's own)."""
    out = []
    for index, model in enumerate(settings.models):
        prefix = model.key.upper().replace("-", "_")
        endpoint_var, model_var = (ENDPOINT_VAR, MODEL_VAR) if index == 0 else (f"{prefix}_URL", f"{prefix}_MODEL")
        out.append(Binding(model.key, model.name, model.context_size, model.runtime_flags, endpoint_var, model_var))
    return out


def engine_container_url(port: int) -> str:
    return f"http://model-runner.docker.internal:{port}/engines/v1"


def container_url(settings: Settings, target: Target) -> str:
    if settings.model_runner.container_url:
        return settings.model_runner.container_url
    if target.runner_endpoint:
        return target.runner_endpoint
    return DESKTOP_CONTAINER_URL if target.desktop else engine_container_url(settings.model_runner.host_port)


def compose_context(settings: Settings, target: Target) -> dict[str, Any]:
    local = settings.features.local_llm
    models = bindings(settings) if local else []
    use_block = local and target.models_block
    fallback_env: dict[str, str] = {}
    extra_hosts = [HOST_GATEWAY]
    if local and not use_block:
        url = container_url(settings, target)
        fallback_env = {var: value for b in models for var, value in ((b.endpoint_var, url), (b.model_var, b.name))}
        if not target.desktop and "model-runner.docker.internal" in url:
            extra_hosts.append(ENGINE_EXTRA_HOST)
    elif use_block and not target.model_var:
        fallback_env = {b.model_var: b.name for b in models}  # Compose 2.38.0: the name through the environment
    database = {
        "DATABASE_URL": "postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}@postgres:5432/${POSTGRES_DB}",
        "REDIS_URL": "redis://:${REDIS_PASSWORD}@redis:6379/0",
    }

    def app(name: str, image: str, healthcheck: list[str], **extra: Any) -> dict[str, Any]:
        return {
            "name": name, "image": image, "healthcheck": healthcheck, "command": None,
            "environment": {**database, **fallback_env}, "ports": [],
            "models": models if use_block else [], "extra_hosts": extra_hosts,
            "depends_on": ["postgres", "redis"], "env_file": True, **extra,
        }

    apps = [app("backend", settings.images.backend, BACKEND_HEALTHCHECK,
                ports=[f"127.0.0.1:{settings.ports.backend}:8000"])]
    if settings.features.worker:
        apps.append(app("worker", settings.worker_image, WORKER_HEALTHCHECK, command=settings.worker_command))
    if settings.features.frontend:
        apps.append({
            "name": "frontend", "image": settings.images.frontend, "healthcheck": FRONTEND_HEALTHCHECK,
            "command": None, "environment": {"BACKEND_URL": "http://backend:8000"},
            "ports": [f"127.0.0.1:{settings.ports.frontend}:3009"], "models": [], "extra_hosts": [],
            "depends_on": ["backend"], "env_file": False,
        })
    return {
        "profile": settings.profile.value,
        "project_name": settings.project_name,
        "images": settings.images,
        "pull_policy": settings.pull_policy,
        "ports": settings.ports,
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
        }
        for p in settings.providers.values()
    ]
    first = settings.models[0].name if settings.models else ""
    openai = settings.providers.get("openai")
    return {
        "profile": settings.profile.value,
        "features": settings.features.model_dump(),
        "host_model_url": f"{settings.model_runner.host_url}/engines/v1",
        "default_local_model": first,
        "providers": providers,
        "default_cloud_model": openai.default_model if openai else "",
        "postgres_password": EXAMPLE_PASSWORD if example else generated["POSTGRES_PASSWORD"],
        "redis_password": EXAMPLE_PASSWORD if example else generated["REDIS_PASSWORD"],
    }


@lru_cache(maxsize=4)
def _environment(templates_dir: Path) -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["env"] = quote
    env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False)
    return env


def render_template(templates_dir: Path, name: str, context: dict[str, Any]) -> str:
    import jinja2

    try:
        return _environment(templates_dir).get_template(name).render(context)
    except jinja2.TemplateNotFound:
        raise UltraError(f"template {name} is missing from {templates_dir}",
                         f"restore it: git checkout -- templates/{name}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise UltraError(f"templates/{name}:{exc.lineno}: {exc.message}",
                         f"fix line {exc.lineno} of templates/{name} (or git checkout -- templates/{name})") from None
    except jinja2.TemplateError as exc:
        line = _template_line(exc, name)
        where = f"templates/{name}:{line}" if line else f"templates/{name}"
        raise UltraError(f"{where}: {exc}", f"fix templates/{name} (or git checkout -- templates/{name})") from None


def _template_line(exc: BaseException, name: str) -> int | None:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(name):
            return frame.lineno
    return None


def render_compose(settings: Settings, target: Target, templates_dir: Path = TEMPLATES_DIR) -> str:
    return render_template(templates_dir, COMPOSE_TEMPLATE, compose_context(settings, target))


def render_env(
    settings: Settings, *, example: bool = False, generated: dict[str, str] | None = None,
    templates_dir: Path = TEMPLATES_DIR,
) -> str:
    context = env_context(settings, example=example, generated=generated or {})
    return render_template(templates_dir, ENV_TEMPLATE, context)


