"""The models a prompt goes to: the enabled providers, filtered by ``--provider`` / ``--model``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ultra_env.config.modelnames import normalize
from ultra_env.engine.context import Context
from ultra_env.engine.run import failed, refused
from ultra_env.llm.providers import registry
from ultra_env.operations import dmr
from ultra_env.operations import models as local_models

if TYPE_CHECKING:
    pass


def llm_targets(ctx: Context, provider: str | None = None, model: str | None = None) -> list:
    """The enabled providers (filtered by ``provider``/``model``); adds a failed task when none is left."""

    root = None
    if ctx.settings.features.local_llm:
        conn = local_models.connect(ctx.settings, ctx.variables)
        if conn.note is not None:  # the CLI cannot answer a prompt: the local model needs the API
            ctx.run.add(conn.note)
        root = conn.runner.root if isinstance(conn.runner, dmr.Api) else ctx.settings.model_runner.host_url
    environ = ctx.variables  # endpoint keys: .env, env
    found = registry.targets(ctx.settings, root, environ)
    if provider:
        found = [t for t in found if t.provider.name == provider]
    if model:
        found = [t for t in found if t.model in (model, _normalized_or_same(model, normalize))]
        if not found and provider:
            base = registry.targets(ctx.settings, root, environ)
            found = [registry.Target(t.provider, model) for t in base if t.provider.name == provider][:1]
    if not found:
        profile = ctx.settings.profile.value
        wanted = " ".join(x for x in (provider, model) if x)
        ctx.run.add(
            (refused if wanted else failed)(
                "providers",
                f"no enabled provider{' matches ' + wanted if wanted else ''} in the {profile} profile",
                "invoke profile hybrid (or --local-llm), and set a cloud key in .env for cloud providers",
            )
        )
    return found


def _normalized_or_same(model: str, normalize: Callable[[str], str]) -> str:
    try:
        return normalize(model)
    except ValueError:
        return model
