"""Which providers a profile enables, built from the configuration.

``local`` uses local models only and never a cloud host; ``cloud`` never needs Model Runner;
``hybrid`` both; ``mock`` none (the backend answers itself).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ultra_env.config.settings import Settings
from ultra_env.llm.providers.anthropic import Anthropic
from ultra_env.llm.providers.base import Provider
from ultra_env.llm.providers.google import Google
from ultra_env.llm.providers.openai import OpenAI
from ultra_env.llm.providers.openai_compat import OpenAICompatible

LOCAL = "local"
ON_LOCAL = "@local"  # a cloud adapter asking the local runner: openai@local, anthropic@local
RUNNER_KEY = "dmr-local"  # Model Runner takes no key; the adapters send one, as they would to the cloud
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


@dataclass(frozen=True)
class Target:
    """One provider and the model to ask it."""

    provider: Provider
    model: str

    @property
    def label(self) -> str:
        return f"{self.provider.name}:{self.model}"


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def cloud_key(settings: Settings, name: str) -> str | None:
    provider = settings.providers.get(name)
    if provider is None or provider.api_key is None:
        return None
    return provider.api_key.get_secret_value() or None


def targets(settings: Settings, local_root: str | None, environ: Mapping[str, str] | None = None) -> list[Target]:
    """Everything the active profile may ask, in a stable order: local models, the team server's,
    endpoints, cloud."""

    environ = os.environ if environ is None else environ
    found: list[Target] = []
    if settings.features.local_llm and local_root:
        local = OpenAICompatible(LOCAL, f"{local_root.rstrip('/')}/engines/v1")
        found += [Target(local, model.name) for model in settings.models]
        if settings.features.cloud_on_local and settings.models:
            found += cloud_on_local(f"{local_root.rstrip('/')}/engines/v1", settings.models[0].name)
    team = settings.team
    if settings.features.team_llm and team.url:
        server = OpenAICompatible("team", team.url, team.api_key.get_secret_value() if team.api_key else None)
        found += [Target(server, name) for name in settings.team_models]
    cloud = settings.features.cloud_llm
    for name, endpoint in settings.endpoints.items():
        if cloud or (settings.features.local_llm and is_loopback(endpoint.base_url)):
            key = environ.get(endpoint.key_var) if endpoint.key_var else None
            found.append(Target(OpenAICompatible(name, endpoint.base_url, key), endpoint.model))
    if cloud:
        for name in settings.providers:
            key = cloud_key(settings, name)
            if key:
                found.append(
                    Target(
                        cloud_provider(name, key, settings.providers[name].base_url),
                        settings.providers[name].default_model,
                    )
                )
    return found


def cloud_on_local(openai_url: str, model: str) -> list[Target]:
    """OpenAI's and Anthropic's own adapters (request building, streaming, parsing) pointed at Model
    Runner's OpenAI route (``/engines/v1``) and Anthropic route (``/anthropic``, which the adapter
    completes with ``/v1/messages``; pkg/anthropic/handler.go), asking ``model``: no key, no network."""
    # Compose hands out …/engines/v1/, or …/v1/ where the runner's status names that endpoint.
    base = openai_url.rstrip("/")
    root = base.removesuffix("/engines/v1") if base.endswith("/engines/v1") else base.removesuffix("/v1")
    return [
        Target(OpenAI(RUNNER_KEY, base_url=f"{root}/engines/v1", name=f"openai{ON_LOCAL}", proxies=False), model),
        Target(Anthropic(RUNNER_KEY, base_url=f"{root}/anthropic", name=f"anthropic{ON_LOCAL}", proxies=False), model),
    ]


def cloud_provider(name: str, key: str, base_url: str | None = None) -> Provider:
    where = {"base_url": base_url} if base_url else {}
    if name == "openai":
        return OpenAI(key, base_url=base_url) if base_url else OpenAI(key)
    if name == "anthropic":
        return Anthropic(key, base_url=base_url) if base_url else Anthropic(key)
    if name == "google":
        return Google(key, **where)
    raise ValueError(f"unknown cloud provider {name!r}")
