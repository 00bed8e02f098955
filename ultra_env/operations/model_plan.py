"""What the model steps will do, decided before any of them runs: pull what the runner does not
serve, configure what Compose will not apply, remove what was asked. Pure: the runner's answers and
the settings in, steps out (tests/test_model_plan.py holds them as tables); ``operations.models``
carries them out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ultra_env.config import modelnames
from ultra_env.config.settings import ModelSpec, duration_seconds
from ultra_env.engine.plan import Action, Step
from ultra_env.facts.model_runner import AppliedConfig, LocalModel
from ultra_env.facts.versions import at_least

FLAGS_THROUGH_COMPOSE = "1.0.6"  # Compose passes runtime flags only to plugins this new (reference section 6)
FLAGS_DROPPED_BY_COMPOSE = ("5.0.0", "5.0.2")  # Compose 5.0.0 and 5.0.1 drop runtime_flags (section 6.1)


@dataclass(frozen=True)
class ModelStep(Step):
    model: ModelSpec | None = None  # what to pull or configure
    tag: str | None = None  # what to remove: the tag the runner keeps the model under


def pull(models: list[ModelSpec], found: Mapping[str, LocalModel | None]) -> list[ModelStep]:
    """A step per model: kept when the runner serves it (as it resolves the name), else pulled."""
    steps = []
    for model in models:
        task, stored = f"pull {model.name}", found[model.name]
        if stored is not None:
            steps.append(ModelStep(task, Action.KEEP, "present" + stored_as(model.name, stored), model))
        else:
            size = f" (needs about {model.size_mb} MB of disk)" if model.size_mb else ""
            steps.append(ModelStep(task, Action.CREATE, f"pull{size}", model))
    return steps


def to_configure(models: list[ModelSpec], *, compose_block: bool, compose_drops_flags: bool) -> list[ModelSpec]:
    """The models whose settings Compose will not apply: every one without Compose's ``models:``, the
    runtime flags when Compose drops them, and any keep-alive (Compose has none)."""
    return [
        m
        for m in models
        if (m.context_size or m.runtime_flags or m.keep_alive)
        and (not compose_block or (m.runtime_flags and compose_drops_flags) or m.keep_alive)
    ]


def configure(
    models: list[ModelSpec], applied: list[AppliedConfig], found: Mapping[str, LocalModel | None]
) -> list[ModelStep]:
    """A step per model with a context size, runtime flags or a keep-alive: kept when the runner
    already applies them, else applied."""
    steps = []
    for model in models:
        task = f"configure {model.name}"
        what = ", ".join(
            part
            for part in (
                f"context size {model.context_size}" if model.context_size else "",
                f"flags {' '.join(model.runtime_flags)}" if model.runtime_flags else "",
                f"keep-alive {model.keep_alive}" if model.keep_alive else "",
            )
            if part
        )
        have = applied_to(applied, found.get(model.name))
        if (
            have is not None
            and have.context_size == model.context_size
            and list(have.runtime_flags) == model.runtime_flags
            and same_keep_alive(have.keep_alive, model.keep_alive)
        ):
            steps.append(ModelStep(task, Action.KEEP, f"{what}: applied", model))
        else:
            steps.append(ModelStep(task, Action.UPDATE, f"apply {what}", model))
    return steps


def remove(name: str, stored: LocalModel | None) -> ModelStep:
    task = f"remove {name}"
    if stored is None:
        return ModelStep(task, Action.KEEP, "not present")
    tag = stored_tag(name, stored)
    return ModelStep(task, Action.REMOVE, "remove" + ("" if tag == name else f" {tag}"), tag=tag)


def applied_to(configs: list[AppliedConfig], stored: LocalModel | None) -> AppliedConfig | None:
    """The configuration applied to a stored model, matched through its ID (a model's configuration
    is listed under its first tag, which need not be the configured name)."""
    return next((c for c in configs if stored is not None and c.model_id == stored.id), None)


def same_keep_alive(applied: str | None, wanted: str | None) -> bool:
    """The runner shows a keep-alive its own way (``5m0s`` for ``5m``): compared in seconds; none
    wanted is satisfied by whatever the runner does."""
    if wanted is None:
        return True
    return applied is not None and duration_seconds(applied) == duration_seconds(wanted)


def compose_drops_flags(compose: str | None, plugin: str | None) -> bool:
    """Whether Compose's ``models:`` leaves a model's runtime flags unapplied: Compose 5.0.0-5.0.1
    drop them with a warning, and later ones pass them only to plugins whose version reads >= v1.0.6
    (``supportsRuntimeFlags``: an unknown version gets none either)."""
    first, fixed = FLAGS_DROPPED_BY_COMPOSE
    dropping = bool(at_least(compose, first)) and at_least(compose, fixed) is False
    return dropping or not at_least(plugin, FLAGS_THROUGH_COMPOSE)


def stored_tag(name: str, stored: LocalModel) -> str:
    """The tag the runner keeps ``name`` under: ``name`` itself, or ``REGISTRY/name`` when the
    runner has a default registry (capture default-registry-bare-names.txt)."""
    if stored.has(name):
        return name
    wanted = "/" + modelnames.normalize(name)
    return next((tag for tag in stored.tags if tag.endswith(wanted)), name)


def stored_as(name: str, stored: LocalModel) -> str:
    """`` (stored as X)`` when the runner keeps the model under another name."""
    tag = stored_tag(name, stored)
    return "" if tag == name else f" (stored as {tag})"
