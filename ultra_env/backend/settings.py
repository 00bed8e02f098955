"""The backend's configuration, read from its environment (what ultra-env renders into ``.env`` and
the Compose file). Pure: a mapping in, a ``BackendConfig`` out."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

CLOUD = {  # provider: (key variable, default model)
    "openai": ("OPENAI_API_KEY", "gpt-4o-mini"),
    "anthropic": ("ANTHROPIC_API_KEY", "claude-3-5-haiku-latest"),
    "google": ("GOOGLE_API_KEY", "gemini-1.5-flash"),
}
MOCK_MODEL = "mock-echo"
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASS|PWD|CREDENTIAL|DSN|AUTH|PRIVATE)", re.IGNORECASE)
_USERINFO = re.compile(r"//([^/@\s]+)@")
_DURATION = re.compile(
    r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(ms|s|sec|secs|seconds?|m|min|mins|minutes?)?\s*", re.IGNORECASE
)
_UNIT_S = {"ms": 0.001, "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0}
# The names this backend answers to besides IP literals and localhost (``ALLOWED_HOSTS`` adds more):
# the service name Compose gives it on the stack's network.
SERVICE_NAMES = ("backend",)


class SettingError(ValueError):
    """A variable of the backend's environment that cannot be used: which one, and what it takes.
    The message never holds the value of a secret-named variable."""


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class LocalModel:
    prefix: str  # LLM, LLM2, …: the model's variables are PREFIX_URL and PREFIX_MODEL
    url: str  # the OpenAI-compatible base, as Compose's models: hands it out
    model: str


@dataclass(frozen=True)
class CloudModel:
    provider: str
    key: str
    model: str
    base_url: str | None


@dataclass(frozen=True)
class TeamServer:
    """The team's shared model server: ``TEAM_LLM_URL`` (OpenAI-compatible), the models asked there
    (``TEAM_LLM_MODELS``) and this developer's key (``TEAM_LLM_API_KEY``)."""

    url: str
    models: tuple[str, ...]
    key: str = field(default="", repr=False)


@dataclass(frozen=True)
class BackendConfig:
    profile: str = "local"
    local: tuple[LocalModel, ...] = ()
    team: TeamServer | None = None
    cloud: tuple[CloudModel, ...] = ()
    mock: bool = False
    cloud_on_local: bool = False  # CLOUD_ON_LOCAL: the OpenAI and Anthropic adapters on the local runner too
    required: tuple[str, ...] = ()
    database_url: str | None = None
    redis_url: str | None = None
    timeout_s: float = 60.0
    max_tokens: int = 256
    max_prompt_chars: int = 20_000
    concurrency: int = 8  # analyses at once; more are refused with 503 (busy) instead of starving the rest
    allowed_hosts: tuple[str, ...] = SERVICE_NAMES  # Host names served besides IP literals and localhost
    any_host: bool = False  # ALLOWED_HOSTS=*: the Host check is off
    allowed_origins: tuple[str, ...] = ()  # other web origins that may call it (with CORS)
    secrets: tuple[str, ...] = field(default=(), repr=False)


def _local(env: Mapping[str, str]) -> list[LocalModel]:
    if not truthy(env.get("USE_MODEL_RUNNER")):
        return []
    prefixes = [p.strip() for p in (env.get("LOCAL_MODELS") or "LLM").split(",") if p.strip()]
    found = []
    for index, prefix in enumerate(prefixes):
        url = env.get(f"{prefix}_URL") or ""
        model = env.get(f"{prefix}_MODEL") or ""
        if index == 0:  # Ultra's own names for the first model
            runner = (env.get("MODEL_RUNNER_URL") or "").rstrip("/")
            url = url or (f"{runner}/v1" if runner else "")
            model = model or env.get("DEFAULT_LOCAL_MODEL", "")
        if url and model:
            found.append(LocalModel(prefix, url.rstrip("/"), model))
    return found


def _team(env: Mapping[str, str]) -> TeamServer | None:
    url = (env.get("TEAM_LLM_URL") or "").rstrip("/")
    models = tuple(m.strip() for m in (env.get("TEAM_LLM_MODELS") or "").split(",") if m.strip())
    if not truthy(env.get("USE_TEAM_LLM")) or not url or not models:
        return None
    return TeamServer(url, models, env.get("TEAM_LLM_API_KEY") or "")


def _cloud(env: Mapping[str, str]) -> list[CloudModel]:
    if not truthy(env.get("ENABLE_CLOUD_LLM")):
        return []
    found = []
    for provider, (key_var, default_model) in CLOUD.items():
        key = env.get(key_var) or ""
        if key:
            upper = provider.upper()
            found.append(
                CloudModel(
                    provider, key, env.get(f"{upper}_MODEL") or default_model, env.get(f"{upper}_BASE_URL") or None
                )
            )
    return found


def secrets_in(env: Mapping[str, str]) -> list[str]:
    """Every value the backend must never show: secret-named variables, and the userinfo of URLs."""
    found = [value for name, value in env.items() if value and len(value) >= 4 and _SECRET_NAME.search(name)]
    for value in env.values():
        for userinfo in _USERINFO.findall(value or ""):
            found += [part for part in (userinfo, userinfo.partition(":")[2]) if len(part) >= 4]
    return sorted(set(found), key=len, reverse=True)


def seconds(name: str, value: str | None, default: float, *, most: float = 3600.0) -> float:
    """A duration in seconds: ``60``, ``60s``, ``1.5``, ``500ms``, ``2m``; unset or empty is ``default``."""
    if value is None or not value.strip():
        return default
    match = _DURATION.fullmatch(value)
    number = float(match.group(1)) * _UNIT_S.get((match.group(2) or "s").lower(), 1.0) if match else math.nan
    if not 0 < number <= most:
        raise SettingError(
            f"{name}={value.strip()[:40]!r} is not a duration: give seconds above 0 and at most {most:g} "
            f"(e.g. {name}=60 or {name}=60s)"
        )
    return number


def whole(name: str, value: str | None, default: int, *, least: int, most: int) -> int:
    """A whole number from ``least`` to ``most``; unset or empty is ``default``."""
    if value is None or not value.strip():
        return default
    text = value.strip()
    if not re.fullmatch(r"[0-9]{1,9}", text) or not least <= int(text) <= most:
        raise SettingError(f"{name}={text[:40]!r} is not a whole number from {least} to {most} (e.g. {name}={default})")
    return int(text)


def names(value: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip().lower().rstrip(".") for p in (value or "").split(",") if p.strip()))


def from_env(env: Mapping[str, str]) -> BackendConfig:
    """The configuration, or SettingError naming the variable that cannot be used."""
    local, team, cloud, mock = _local(env), _team(env), _cloud(env), truthy(env.get("ENABLE_MOCK_LLM"))
    required = [p.strip() for p in (env.get("REQUIRED_PROVIDERS") or "").split(",") if p.strip()]
    ours = {"local": bool(local), "team": team is not None, "mock": mock}
    enabled = {c.provider for c in cloud} | {name for name, on in ours.items() if on}
    required = [p for p in required if p in enabled]
    required += [p for p in ours if p in enabled and p not in required]
    hosts = names(env.get("ALLOWED_HOSTS"))
    return BackendConfig(
        profile=env.get("ULTRA_PROFILE") or "local",
        local=tuple(local),
        team=team,
        cloud=tuple(cloud),
        mock=mock,
        cloud_on_local=bool(local) and truthy(env.get("CLOUD_ON_LOCAL")),
        required=tuple(required),
        database_url=env.get("DATABASE_URL") or None,
        redis_url=env.get("REDIS_URL") or None,
        timeout_s=seconds("ANALYZE_TIMEOUT_S", env.get("ANALYZE_TIMEOUT_S"), 60.0),
        max_tokens=whole("ANALYZE_MAX_TOKENS", env.get("ANALYZE_MAX_TOKENS"), 256, least=1, most=4096),
        concurrency=whole("ANALYZE_CONCURRENCY", env.get("ANALYZE_CONCURRENCY"), 8, least=1, most=256),
        allowed_hosts=tuple(dict.fromkeys((*SERVICE_NAMES, *(h for h in hosts if h != "*")))),
        any_host="*" in hosts,
        allowed_origins=tuple(o.rstrip("/") for o in names(env.get("ALLOWED_ORIGINS"))),
        secrets=tuple(secrets_in(env)),
    )
