"""``docs/profiles-and-flags.md``, generated from the configuration model and the tasks themselves,
so that it cannot go stale (a test compares the committed file with a fresh rendering)."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from ultra_env.cli.command import command, start
from ultra_env.config.settings import (
    CONFIG_FILE,
    ENV_PREFIX,
    PROFILE_FEATURES,
    PROFILE_HELP,
    Endpoint,
    Features,
    ModelSpec,
    Profile,
    Settings,
)
from ultra_env.config.sources import NON_FIELD_VARS
from ultra_env.engine.context import Invocation
from ultra_env.engine.run import changed, ok
from ultra_env.operations import converge
from ultra_env.operations.render import render_env
from ultra_env.project import files

NON_FIELD_HELP = {
    f"{ENV_PREFIX}PROJECT_DIR": "Folder to render into and run the stack from (default: the folder of tasks.py).",
    f"{ENV_PREFIX}TEMPLATES_DIR": "Folder holding the Jinja templates (default: templates/ beside tasks.py).",
    f"{ENV_PREFIX}DEBUG": "`1`: print each command and request a task makes, timed, secrets masked (as `-v`).",
    f"{ENV_PREFIX}REQUIRE_DMR": "`1`: the pytest plugin fails, instead of skipping, where no Model Runner answers.",
    f"{ENV_PREFIX}DMR_QUIET": "`1`: the pytest plugin leaves out its header line (runner and fixtures).",
}


def _type_name(annotation: Any) -> str:
    text = str(annotation) if typing.get_args(annotation) else getattr(annotation, "__name__", str(annotation))
    text = re.sub(r"\b(?:typing|pydantic\.types|ultra_env\.config\.settings)\.", "", text)
    text = re.sub(r"Annotated\[(\w+), .*?\]\]?", r"\1", text)
    text = text.replace("Optional[", "").rstrip("]") + (" or None" if "Optional[" in text else "")
    return text.replace(" | ", " or ").replace("<class '", "").replace("'>", "")


def _default(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "(table)"
    if isinstance(value, SecretStr):
        return "(secret)"
    if hasattr(value, "value"):
        value = value.value
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return json.dumps([item.model_dump(exclude_defaults=True) for item in value])
    return json.dumps(value)


def field_rows(model: type[BaseModel], instance: BaseModel, prefix: str = "") -> list[tuple[str, str, str, str]]:
    rows = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        value = getattr(instance, name)
        annotation = field.annotation
        if isinstance(value, BaseModel) and annotation is not None and isinstance(annotation, type):
            rows += field_rows(annotation, value, path + ".")
            continue
        if name == "providers":
            for provider, item in value.items():
                rows += field_rows(type(item), item, f"{path}.{provider}.")
            continue
        rows.append((path, _type_name(annotation), _default(value), (field.description or "").replace("|", "\\|")))
    return rows


def env_name(path: str) -> str:
    return ENV_PREFIX + path.upper().replace(".", "__")


def task_rows(collection: Any) -> list[tuple[str, str, str]]:
    rows = []
    for name in sorted(collection.task_names):
        task = collection[name]
        summary = (task.__doc__ or "").strip().splitlines()[0] if task.__doc__ else ""
        positional = set(task.positional)
        words = [f"`{flag.upper()}`" for flag in task.positional if flag in task.help]
        words += [f"`--{flag}`" for flag in sorted(task.help) if flag not in positional]
        flags = ", ".join(words) or "-"
        rows.append((name, summary, flags))
    return rows


def render(collection: Any) -> str:
    settings = Settings()
    lines = [
        "# Profiles, flags, configuration keys and environment variables",
        "",
        "Generated from `ultra_env/config/settings.py` and `tasks.py` by `invoke gen-docs`; a test fails when this",
        "file is stale. See [configuration.md](configuration.md) for how the sources stack.",
        "",
        "## Profiles",
        "",
        "| profile | turns on | what runs |",
        "| --- | --- | --- |",
    ]
    for profile in Profile:
        on = ", ".join(f"`{k}`" for k in PROFILE_FEATURES[profile])
        lines.append(f"| `{profile.value}` | {on} | {PROFILE_HELP[profile]} |")
    lines += ["", "Feature flags (all off unless the profile, a flag, a variable or the file turns them on):", ""]
    lines += [f"- `features.{name}`: {field.description}" for name, field in Features.model_fields.items()]
    lines += ["", "## Tasks and their flags", "", "| task | what it does | flags |", "| --- | --- | --- |"]
    lines += [f"| `invoke {name}` | {summary} | {flags} |" for name, summary, flags in task_rows(collection)]
    lines += [
        "",
        f"## Configuration keys (`{CONFIG_FILE}` and `{ENV_PREFIX}*`)",
        "",
        "Lists and tables go in the environment as JSON. Secrets are read from `.env` or the environment.",
        "",
        "| key | type | default | environment variable | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for path, kind, default, description in field_rows(Settings, settings):
        lines.append(f"| `{path}` | {kind} | `{default}` | `{env_name(path)}` | {description} |")
    for title, model in (("Each entry of `models`", ModelSpec), ("Each entry of `endpoints` (by name)", Endpoint)):
        lines += ["", f"### {title}", "", "| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        for name, field in model.model_fields.items():
            default = (
                "required" if field.is_required() else f"`{_default(field.get_default(call_default_factory=True))}`"
            )
            lines.append(f"| `{name}` | {_type_name(field.annotation)} | {default} | {field.description or ''} |")
    lines += ["", "## Other environment variables", "", "| variable | meaning |", "| --- | --- |"]
    lines += [f"| `{name}` | {NON_FIELD_HELP[name]} |" for name in sorted(NON_FIELD_VARS)]
    for name, provider in settings.providers.items():
        lines.append(f"| `{provider.key_var}` | The {name} API key (also read from `.env`). |")
    lines.append(
        "| `MODEL_RUNNER_NO_AUTO_INSTALL` | Set by ultra-env on every `docker model` call: a check never "
        "installs or starts a runner. |"
    )
    lines.append("")
    return "\n".join(lines)


@command("gen-docs", configures=False, project=False)
def gen_docs(inv: Invocation, *, into: Path, collection: Any) -> int:
    """Regenerate the files derived from the code: env.example and docs/profiles-and-flags.md."""
    run, _ = start("gen-docs", inv)
    outputs = {
        into / "env.example": render_env(Settings(), example=True),
        into / "docs" / "profiles-and-flags.md": render(collection),
    }
    for path, text in outputs.items():
        old = files.read_text(path)
        if old == text:
            run.add(ok(path.name, "up to date"))
            continue
        if not inv.options.check:
            files.write_atomic(path, text)
        run.add(
            changed(
                path.name,
                "would update" if inv.options.check else "updated",
                diff=converge.unified_diff(path.name, old, text),
            )
        )
    return run.finish()
