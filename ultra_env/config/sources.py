"""Where configuration comes from, and which source set each value.

Highest first: task flags, ``ULTRA_ENV_*`` environment variables, the providers' own key
variables (``OPENAI_API_KEY`` …) from the environment, then from ``.env``, the project file
``ultra-env.toml``, the active profile's defaults, the model's defaults. The active profile
itself comes from the ``--profile`` flag, ``ULTRA_ENV_PROFILE``, the profile chosen with
``invoke profile NAME`` (kept in the state folder), ``profile =`` in ``ultra-env.toml``, or ``local``.
"""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ultra_env.config.settings import CONFIG_FILE, ENV_PREFIX, PROFILE_FEATURES, Profile, Settings
from ultra_env.errors import ConfigError
from ultra_env.project import files
from ultra_env.project.envfile import is_secret_key

#: ``ULTRA_ENV_*`` variables that are not configuration fields.
NON_FIELD_VARS = frozenset(
    f"{ENV_PREFIX}{name}" for name in ("PROJECT_DIR", "TEMPLATES_DIR", "DEBUG", "REQUIRE_DMR", "DMR_QUIET")
)
DEFAULT = "default"


@dataclass(frozen=True)
class Flag:
    """A task flag that sets a configuration value."""

    name: str
    path: str
    value: Any

    @property
    def label(self) -> str:
        return f"flag {self.name}" if self.name.startswith("-") else self.name


@dataclass(frozen=True)
class Loaded:
    settings: Settings
    origins: dict[str, str]

    def origin(self, path: str) -> str:
        """The source of the value at dotted ``path`` (``models.0.name`` …)."""
        parts = path.split(".")
        for end in range(len(parts), 0, -1):
            found = self.origins.get(".".join(parts[:end]))
            if found:
                return found
        below = sorted({origin for key, origin in self.origins.items() if key.startswith(path + ".")})
        return ", ".join(below) if below else DEFAULT


def _set(tree: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        child = tree.get(part)
        if not isinstance(child, dict):
            child = tree[part] = {}
        tree = child
    tree[path[-1]] = value


def _leaves(tree: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, path + ".")
        else:
            yield path, value


def _merge(base: dict[str, Any], layer: Mapping[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def read_config_file(project_dir: Path) -> dict[str, Any]:
    path = project_dir / CONFIG_FILE
    try:
        text = files.read_text(path, links=True)
    except files.NotText:
        raise ConfigError(f"{CONFIG_FILE} is not UTF-8 text", f"save {path} as UTF-8") from None
    if text is None:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{CONFIG_FILE}: invalid TOML: {exc}", f"fix the syntax in {path}") from None
    except RecursionError:
        raise ConfigError(f"{CONFIG_FILE}: nested too deeply to be configuration", f"flatten {path}") from None


def utf8(name: str, value: str) -> str:
    """Python keeps undecodable environment bytes as surrogates; refuse them before they reach a file."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{name} is not valid UTF-8 text", f"export {name} again as UTF-8") from None
    return value


def env_layer(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``ULTRA_ENV_A__B=v`` → ``{"a": {"b": v}}``; JSON for lists and tables."""
    tree: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in NON_FIELD_VARS:
            continue
        raw = utf8(name, environ[name])
        value: Any = raw
        if raw.lstrip()[:1] in ("[", "{"):
            try:
                value = json.loads(raw)
            except RecursionError:
                raise ConfigError(f"{name}: nested too deeply to be a setting", f"unset {name}") from None
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{name}: not valid JSON ({exc.msg} at column {exc.colno})",
                    f"export {name}='[...]' with valid JSON",
                ) from None
        path = [part for part in name[len(ENV_PREFIX) :].lower().split("__")]
        if len(path) > MAX_DEPTH:
            raise ConfigError(f"{name[:60]}…: {len(path)} levels deep, no setting is", "unset that variable")
        if not all(path):
            raise ConfigError(f"{name}: empty part in the variable name", "separate nested keys with '__'")
        _set(tree, path, value)
        labels[".".join(path)] = f"env {name}"
    return tree, labels


def resolve_profile(
    flags: Iterable[Flag], env_tree: Mapping[str, Any], state_profile: str | None, file_tree: Mapping[str, Any]
) -> tuple[Profile, str]:
    candidates: list[tuple[Any, str]] = [(f.value, f.label) for f in flags if f.path == "profile"]
    candidates += [
        (env_tree.get("profile"), f"env {ENV_PREFIX}PROFILE"),
        (state_profile, "invoke profile (state)"),
        (file_tree.get("profile"), CONFIG_FILE),
    ]
    for value, label in candidates:
        if value is None or value == "":
            continue
        try:
            return Profile(value), label
        except ValueError:
            allowed = ", ".join(p.value for p in Profile)
            raise ConfigError(
                f"unknown profile {value!r} (from {label}); allowed: {allowed}",
                f"use one of: {allowed}",
            ) from None
    return Profile.LOCAL, DEFAULT


MAX_DEPTH = 32  # deeper than any setting: what is deeper is not configuration


def _depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deep ``value`` nests (lists and tables), counted no further than ``limit``."""
    depth, level = 0, [value]
    while level and depth <= limit:
        level = [c for v in level if isinstance(v, (dict, list)) for c in (v.values() if isinstance(v, dict) else v)]
        depth += 1
    return depth


def load(
    project_dir: Path,
    *,
    flags: Iterable[Flag] = (),
    environ: Mapping[str, str],
    state_profile: str | None = None,
    dotenv: Mapping[str, str] | None = None,
) -> Loaded:
    """Merge every source into validated Settings, remembering where each value came from."""
    try:
        return _load(project_dir, list(flags), environ, state_profile, dotenv)
    except RecursionError:
        raise ConfigError(
            "the configuration nests too deeply to be read",
            "check the ULTRA_ENV_* variables and ultra-env.toml (`invoke config` lists each source)",
        ) from None


def _load(
    project_dir: Path,
    flags: list[Flag],
    environ: Mapping[str, str],
    state_profile: str | None,
    dotenv: Mapping[str, str] | None,
) -> Loaded:
    file_tree = read_config_file(project_dir)
    env_tree, env_labels = env_layer(environ)
    for tree, where in ((file_tree, CONFIG_FILE), (env_tree, f"the {ENV_PREFIX}* variables")):
        if _depth(tree) > MAX_DEPTH:
            raise ConfigError(
                f"{where} nest more than {MAX_DEPTH} levels deep: that is no setting of ultra-env",
                "see docs/profiles-and-flags.md for every key",
            )
    profile, profile_origin = resolve_profile(flags, env_tree, state_profile, file_tree)

    merged = _defaults()
    origins: dict[str, str] = {}

    def apply(layer: Mapping[str, Any], label_of: Mapping[str, str] | str) -> None:
        _merge(merged, layer)
        for path, _ in _leaves(layer):
            origins[path] = label_of if isinstance(label_of, str) else label_of.get(path, DEFAULT)

    apply({"features": PROFILE_FEATURES[profile]}, f"profile {profile.value}")
    apply(file_tree, CONFIG_FILE)
    # Which variable holds each key may itself come from ULTRA_ENV_* or a flag: look it up in
    # everything that will apply, not only in what has so far.
    preview = copy.deepcopy(merged)
    _merge(preview, env_tree)
    for flag in flags:
        _set(preview, flag.path.split("."), flag.value)
    key_layers = _key_layers(preview, environ, dotenv or {})
    for layer, labels in key_layers:
        apply(layer, labels)
    apply(env_tree, env_labels)
    for flag in flags:
        flag_layer: dict[str, Any] = {}
        _set(flag_layer, flag.path.split("."), flag.value)
        apply(flag_layer, flag.label)
    merged["profile"] = profile.value
    origins["profile"] = profile_origin
    _known_providers(merged, origins)

    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise _config_error(exc, Loaded(Settings.model_construct(), origins)) from None
    return Loaded(settings, origins)


def _known_providers(merged: Mapping[str, Any], origins: Mapping[str, str]) -> None:
    """Only the providers ultra-env has a client for: another table (`[providers.mistral]`) would be
    accepted here and crash every command that asks it, so it is refused with the ones that exist."""
    providers = merged.get("providers")
    known = _defaults()["providers"]
    extra = sorted(str(name) for name in providers if name not in known) if isinstance(providers, Mapping) else []
    if extra:
        name = extra[0]
        where = next((o for path, o in origins.items() if path.startswith(f"providers.{name}.")), CONFIG_FILE)
        raise ConfigError(
            f"providers.{name[:40]}: no such provider [from {where}]; the providers are {', '.join(known)}",
            "remove that table; any other OpenAI-compatible API goes under [endpoints.NAME] with base_url and model",
        )


def _defaults() -> dict[str, Any]:
    return Settings().model_dump(mode="python")


def _key_layers(
    merged: Mapping[str, Any], environ: Mapping[str, str], dotenv: Mapping[str, str]
) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """The providers' keys and the team server's from .env, then from the environment (which wins)."""
    layers = []
    for source, label in ((dotenv, ".env"), (environ, "env")):
        tree: dict[str, Any] = {}
        labels: dict[str, str] = {}
        providers = merged.get("providers")
        for name, provider in providers.items() if isinstance(providers, Mapping) else ():
            var = provider.get("key_var") if isinstance(provider, Mapping) else None
            if var and source.get(var):
                _set(tree, ["providers", name, "api_key"], utf8(var, source[var]))
                labels[f"providers.{name}.api_key"] = f"{label} {var}"
        team = merged.get("team")
        var = team.get("key_var") if isinstance(team, Mapping) else None
        if isinstance(var, str) and source.get(var):
            _set(tree, ["team", "api_key"], utf8(var, source[var]))
            labels["team.api_key"] = f"{label} {var}"
        layers.append((tree, labels))
    return layers


def _has_userinfo(value: object) -> bool:
    """A URL with a user or password in it (``https://admin:pw@host``): never echoed."""
    return isinstance(value, str) and "://" in value and "@" in value.split("://", 1)[1].split("/", 1)[0]


def _config_error(exc: ValidationError, loaded: Loaded) -> ConfigError:
    lines = []
    for error in exc.errors(include_url=False, include_input=True):
        message = error["msg"].removeprefix("Value error, ")
        path = ".".join(str(part) for part in error["loc"])
        if not path:  # a check of the whole: its message starts with the setting it is about
            path, _, message = message.partition(" ")
        origin = loaded.origin(path)
        shown = ""
        value = error.get("input")
        # Echo the value only where it cannot be a secret: not for unknown keys, nor secret-like names.
        secretive = is_secret_key(path) or error["type"] == "extra_forbidden" or _has_userinfo(value)
        if isinstance(value, (str, int, float, bool)) and not secretive and len(str(value)) <= 60:
            shown = f" (got {value!r})"
        lines.append(f"{path}: {message}{shown} [from {origin}]")
    cause = "invalid configuration: " + "; ".join(lines)
    return ConfigError(cause, "correct the value where it is set (see `invoke config` for every source)")
