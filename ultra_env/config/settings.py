"""The configuration model: the single source of truth for what ultra-env provisions."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator

from ultra_env.config import modelnames, runtime_flags
from ultra_env.config.fields import Image, Port, Strict, VariableName, matching
from ultra_env.config.team import Server, Team

ENV_PREFIX = "ULTRA_ENV_"
CONFIG_FILE = "ultra-env.toml"
DMR_HOST_URL = "http://localhost:12434"  # Model Runner's API from the host, the one place its port is written


class Profile(StrEnum):
    LOCAL = "local"
    CLOUD = "cloud"
    HYBRID = "hybrid"
    MOCK = "mock"
    TEAM = "team"


PROFILE_HELP: dict[Profile, str] = {
    Profile.LOCAL: "local models through Docker Model Runner only; offline, no API keys",
    Profile.CLOUD: "cloud providers only (OpenAI, Anthropic, Google); no Model Runner",
    Profile.HYBRID: "local models and cloud providers side by side",
    Profile.MOCK: "the backend's mock LLM; no keys, no Model Runner (what Ultra's CI uses)",
    Profile.TEAM: "the team's shared model server ([team] url, your key in .env); no local runner",
}


class Features(Strict):
    local_llm: bool = Field(False, description="Serve local models through Docker Model Runner.")
    cloud_llm: bool = Field(False, description="Enable the cloud providers whose keys are set.")
    mock_llm: bool = Field(False, description="Enable the backend's built-in mock LLM.")
    worker: bool = Field(False, description="Run the background worker service.")
    frontend: bool = Field(False, description="Run the web frontend (port 3009).")
    team_llm: bool = Field(False, description="Ask the models of the team's shared server ([team]).")
    cloud_on_local: bool = Field(
        False,
        description="Also ask the local model through the OpenAI and Anthropic adapters, on Model Runner's own "
        "OpenAI and Anthropic routes: the cloud code paths with no key and no network (needs local_llm).",
    )


PROFILE_FEATURES: dict[Profile, dict[str, bool]] = {
    Profile.LOCAL: {"local_llm": True},
    Profile.CLOUD: {"cloud_llm": True},
    Profile.HYBRID: {"local_llm": True, "cloud_llm": True},
    Profile.MOCK: {"mock_llm": True},
    Profile.TEAM: {"team_llm": True},
}

ComposeKey = Annotated[
    str,
    AfterValidator(
        matching(r"[a-zA-Z0-9_-]+", "use letters, digits, '_' and '-' only (Compose derives variable names from it)")
    ),
]


def _model_name(value: str) -> str:
    return modelnames.normalize(value)


ModelName = Annotated[str, AfterValidator(_model_name)]


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(text: str) -> float | None:
    """A keep-alive as Model Runner reads it (``pkg/inference/backend.go`` ParseKeepAlive): ``0``,
    ``-1``, or a Go duration (``5m``, ``1h30m``, ``-1s``), in seconds; None when it is none of these."""
    value = text.strip()
    if value in ("0", "-1"):
        return float(value)
    sign, body = (-1.0, value[1:]) if value.startswith("-") else (1.0, value)
    parts = _DURATION.findall(body)
    if not body or "".join(n + u for n, u in parts) != body:
        return None
    return sign * sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


class ModelSpec(Strict):
    name: ModelName = Field(description="DMR model reference, e.g. ai/smollm2 or ai/smollm2:360M-Q4_K_M.")
    key: ComposeKey | None = Field(None, description="Key under Compose's top-level `models:` (default llm, llm2, …).")
    context_size: int | None = Field(None, ge=128, le=1_048_576, description="Context window in tokens.")
    required: bool = Field(True, description="Health fails when a required model is not served (all are pulled).")
    size_mb: int | None = Field(
        None, ge=1, le=10_000_000, description="Download size, for the disk check before a pull."
    )
    runtime_flags: list[str] = Field(
        default_factory=list, description="llama.cpp flags (only those Model Runner allows; no paths)."
    )
    keep_alive: str | None = Field(
        None,
        description="How long Model Runner keeps the model loaded when idle: a Go duration (5m, 1h), 0, or -1 "
        "(never unload). Compose cannot set it: setup does.",
    )

    @field_validator("keep_alive")
    @classmethod
    def _keep_alive(cls, value: str | None) -> str | None:
        if value is not None and duration_seconds(value) is None:
            raise ValueError("use a Go duration such as 5m or 1h30m, 0 (unload at once) or -1 (never unload)")
        return value

    @field_validator("runtime_flags")
    @classmethod
    def _flags(cls, value: list[str]) -> list[str]:
        refused = runtime_flags.problem(value)
        if refused:
            raise ValueError(f"{refused}: Model Runner would refuse it (see its allowlist in docs/models.md)")
        return value


class CloudProvider(Strict):
    key_var: VariableName = Field(description="The .env variable that holds the key.")
    api_key: SecretStr | None = Field(None, description="The key; read from the environment or .env.")
    key_prefix: str = Field("", description="What a well-formed key starts with (shape check only).")
    default_model: str = Field(description="The model Ultra uses for this provider by default.")
    base_url: str | None = Field(None, description="Another address for its API (a proxy or gateway).")


def _default_providers() -> dict[str, CloudProvider]:
    return {
        "openai": CloudProvider(key_var="OPENAI_API_KEY", key_prefix="sk-", default_model="gpt-4o-mini"),
        "anthropic": CloudProvider(
            key_var="ANTHROPIC_API_KEY", key_prefix="sk-ant-", default_model="claude-3-5-haiku-latest"
        ),
        "google": CloudProvider(key_var="GOOGLE_API_KEY", key_prefix="AIza", default_model="gemini-1.5-flash"),
    }


class Endpoint(Strict):
    """Any OpenAI-compatible API by base URL: Ollama, vLLM, LM Studio, llama.cpp, a team GPU server."""

    base_url: str = Field(description="Base URL of the OpenAI-compatible API, e.g. http://localhost:11434/v1.")
    model: str = Field(description="The model to ask there.")
    key_var: VariableName | None = Field(None, description="The .env / environment variable holding its key, if any.")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+(/[^\s]*)?\Z", value):
            raise ValueError("use an http(s) URL such as http://localhost:11434/v1")
        return value.rstrip("/")


class Images(Strict):
    backend: Image | None = Field(
        None, description="A prebuilt Ultra backend image instead of the one ultra-env ships and builds."
    )
    python: Image = Field("python:3.12-slim", description="The base image the shipped backend is built on.")
    worker: Image | None = Field(None, description="The worker's image (default: the backend's).")
    frontend: Image | None = Field(
        None, description="Ultra's own web frontend (port 3009); the shipped backend serves its page at /."
    )
    postgres: Image = Field("postgres:15", description="PostgreSQL 15 (honours POSTGRES_USER/PASSWORD/DB).")
    redis: Image = Field("redis:7", description="Redis 7 (started with a password).")


class Backend(Strict):
    """Which backend runs: the one ultra-env ships (default), your own Ultra built from source
    (``source``), or a prebuilt image (``images.backend``)."""

    source: str | None = Field(None, description="Path to your Ultra checkout, built by Compose instead.")
    dockerfile: str = Field("Dockerfile", description="The Dockerfile in backend.source.")
    command: list[str] | None = Field(None, description="The command of your backend (default: its image's).")
    health_path: str = Field("/api/health", description="What the healthcheck and `invoke health` probe.")
    wheelhouse: str | None = Field(
        None, description="A folder of wheels (pip wheel '.[backend]' -w DIR): the shipped backend builds offline."
    )

    @field_validator("health_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not re.match(r"^/[A-Za-z0-9._~/?=&%-]*\Z", value):
            raise ValueError("use a path such as /api/health")
        return value


class Ports(Strict):
    backend: Port = Field(8000, description="Host port of the backend (on 127.0.0.1).")
    frontend: Port = Field(3009, description="Host port of the frontend (on 127.0.0.1).")
    postgres: Port | None = Field(None, description="Publish PostgreSQL on 127.0.0.1 at this port.")
    redis: Port | None = Field(None, description="Publish Redis on 127.0.0.1 at this port.")

    @model_validator(mode="after")
    def _distinct(self) -> Ports:
        used = [p for p in (self.backend, self.frontend, self.postgres, self.redis) if p is not None]
        if len(used) != len(set(used)):
            raise ValueError("two services cannot publish the same host port")
        return self


class ModelRunner(Strict):
    host_url: str = Field(DMR_HOST_URL, description="DMR API root as seen from the host.")
    container_url: str | None = Field(
        None,
        description="DMR OpenAI-compatible endpoint as seen from containers, for the fallback rendering "
        "(default: by engine kind).",
    )
    compose_models: Literal["auto", "on", "off"] = Field(
        "auto", description="Use Compose's top-level `models:` (on), explicit URLs (off), or by version (auto)."
    )

    @field_validator("host_url", "container_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+(/[^\s]*)?\Z", value):
            raise ValueError(f"use an http(s) URL such as {DMR_HOST_URL}")
        return value.rstrip("/") if value else value

    @property
    def host_port(self) -> int:
        """The port the API listens on, from ``host_url`` (where DMR publishes it on the host)."""
        parts = urlsplit(self.host_url)
        return parts.port or (443 if parts.scheme == "https" else 80)


class MinVersions(Strict):
    desktop_macos: str = Field("4.40.0", description="Docker Desktop with Model Runner on macOS.")
    desktop_windows: str = Field("4.41.0", description="Docker Desktop with Model Runner on Windows.")
    model_plugin: str = Field("0.1.31", description="docker-model-plugin that Compose's models: needs (Engine).")


def _seconds(default: float, most: float, description: str, least: float | None = None) -> Any:
    """More than 0 seconds, or at least ``least``; at most ``most``; finite."""
    bound = {"gt": 0} if least is None else {"ge": least}
    return Field(default, le=most, allow_inf_nan=False, description=description, **bound)


class Timeouts(Strict):
    """Seconds, everywhere (finite, and no longer than a day)."""

    probe: float = _seconds(10.0, 3600, "One fact probe (a docker command).")
    up: float = _seconds(300.0, 86400, "`docker compose up --wait` until every service is healthy.")
    build: float = _seconds(1800.0, 86400, "Building the backend's image (pip installs its packages).")
    health: float = _seconds(60.0, 3600, "Each health check, retries included.")
    healthcheck: float = _seconds(
        3.0,
        3600,
        "How often Docker runs each service's healthcheck: `up` sees a service ready up to this long "
        "after it is; shorter starts the stack sooner, longer costs less CPU.",
        least=0.1,
    )


class Settings(Strict):
    profile: Profile = Field(Profile.LOCAL, description="The active profile (see above).")
    features: Features = Field(default_factory=Features)
    project_name: str = Field("ultra", pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Compose project name.")
    models: list[ModelSpec] = Field(
        default_factory=lambda: [ModelSpec(name="ai/smollm2", context_size=4096)],
        description="Local models served by Docker Model Runner (first: the backend's).",
    )
    providers: dict[str, CloudProvider] = Field(default_factory=_default_providers)
    endpoints: dict[str, Endpoint] = Field(
        default_factory=dict,
        description="Extra OpenAI-compatible endpoints by name; the local profile uses only loopback ones.",
    )
    images: Images = Field(default_factory=Images)
    pull_policy: Literal["never", "missing", "always"] = Field(
        "missing", description="When Compose pulls images: never (air-gapped, local images), missing, always."
    )
    backend: Backend = Field(default_factory=Backend)
    worker_command: list[str] | None = Field(
        None, description="The worker's command (default: the shipped worker, which runs queued analyses)."
    )
    ports: Ports = Field(default_factory=Ports)
    model_runner: ModelRunner = Field(default_factory=ModelRunner)
    team: Team = Field(default_factory=Team)
    server: Server = Field(default_factory=Server)
    min_versions: MinVersions = Field(default_factory=MinVersions)
    timeouts: Timeouts = Field(default_factory=Timeouts)

    @model_validator(mode="after")
    def _models(self) -> Settings:
        for index, model in enumerate(self.models):
            if model.key is None:
                model.key = "llm" if index == 0 else f"llm{index + 1}"
        keys = [m.key for m in self.models]
        if len(keys) != len(set(keys)):
            raise ValueError("models need a `key` each (llm, llm2, …)")
        names = [m.name for m in self.models]
        if len(names) != len(set(names)):
            raise ValueError("models list a model twice")
        return self

    @model_validator(mode="after")
    def _characters(self) -> Settings:
        """No setting may hold what no file or command line can carry: NUL, a lone surrogate
        (bytes that were not UTF-8), or a noncharacter (U+FFFE, U+FFFF)."""

        def walk(value: object, path: str) -> None:
            if isinstance(value, str):
                bad = next(
                    (ch for ch in value if ch == "\x00" or "\ud800" <= ch <= "\udfff" or ch in ("\ufffe", "\uffff")),
                    None,
                )
                if bad is not None:
                    raise ValueError(
                        f"{path} holds the character U+{ord(bad):04X}, which no file or command "
                        "line can carry: remove it"
                    )
            elif isinstance(value, dict):
                for key, child in value.items():
                    walk(child, f"{path}.{key}" if path else str(key))
            elif isinstance(value, list):
                for index, child in enumerate(value):
                    walk(child, f"{path}.{index}")

        walk(self.model_dump(mode="python", exclude={"providers": {"__all__": {"api_key"}}, "team": {"api_key"}}), "")
        return self

    @model_validator(mode="after")
    def _own_parts(self) -> Settings:
        if self.backend.source and self.images.backend:
            raise ValueError("backend.source and images.backend both name a backend: keep one")
        if self.features.frontend and not self.images.frontend:
            raise ValueError(
                "features.frontend needs Ultra's frontend image: set images.frontend (the shipped "
                "backend serves its own page at /)"
            )
        if self.features.cloud_on_local and not self.features.local_llm:
            raise ValueError("features.cloud_on_local asks the local model: turn on local_llm too (or --local-llm)")
        if self.features.team_llm and not self.team.url:
            raise ValueError(
                "team.url is needed by the team profile: set the server's URL under [team] (or ULTRA_ENV_TEAM__URL)"
            )
        if self.features.worker and self.own_backend and not (self.worker_command or self.images.worker):
            raise ValueError(
                "features.worker with your own backend needs its worker: set worker_command (or images.worker)"
            )
        return self

    @property
    def own_backend(self) -> bool:
        """Whether the backend is the user's own Ultra (built from source or a prebuilt image)."""
        return bool(self.backend.source or self.images.backend)

    @property
    def team_models(self) -> list[str]:
        return self.team.models or [m.name for m in self.models]

    @property
    def server_models(self) -> list[str]:
        return self.server.models or [m.name for m in self.models]

    def secret_values(self) -> list[str]:
        keys = [p.api_key for p in self.providers.values()] + [self.team.api_key]
        return [key.get_secret_value() for key in keys if key is not None]
