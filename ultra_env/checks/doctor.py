"""The doctor step: the facts gathered once, every rule over them, and (``--live``) the cloud keys
tried."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ultra_env import concurrently
from ultra_env.checks.rules import evaluate
from ultra_env.engine.context import Context
from ultra_env.engine.run import TaskResult, failed, ok, skipped, warn
from ultra_env.facts.gather import gather
from ultra_env.llm.providers import registry
from ultra_env.llm.providers.base import ProviderError

if TYPE_CHECKING:
    from ultra_env.facts.gather import Facts, Prefetch


def live_keys(ctx: Context) -> None:
    """``doctor --live``: does each configured cloud key still work? One models-list call each, at
    once; the key itself is never printed."""

    settings = ctx.settings
    if not settings.features.cloud_llm:
        ctx.run.add(skipped("keys (live)", f"{settings.profile.value} profile: no cloud providers"))
        return
    keyed = {name: key for name in settings.providers if (key := registry.cloud_key(settings, name))}

    def check(name: str) -> TaskResult:
        provider = settings.providers[name]
        task = f"{name} key (live)"
        try:
            models = registry.cloud_provider(name, keyed[name], provider.base_url).list_models(timeout=15)
        except ProviderError as exc:
            if exc.kind == "auth":
                return failed(
                    task,
                    f"{name} refused {provider.key_var} ({exc.status}): invalid, expired or revoked",
                    f"put a valid key in .env: {provider.key_var}=…",
                )
            if exc.kind == "quota":
                return failed(
                    task,
                    f"{name} accepts {provider.key_var} but its quota is spent: {exc.message}",
                    "raise the limit or add credit in the provider's console",
                )
            if exc.kind in ("connection", "timeout"):
                return warn(task, f"{name} could not be reached ({exc.kind}): offline?", "try again when online")
            return warn(task, f"{name}: {exc.kind}: {exc.message}", "invoke doctor --live again later")
        return ok(task, f"{provider.key_var} accepted ({len(models)} models visible)")

    if not keyed:
        return
    for result in concurrently.each(check, keyed):
        result.area = "Cloud keys"
        ctx.run.add(result)


def run_doctor(ctx: Context, early: Prefetch | None = None) -> Facts:
    """Gather the facts once, concurrently, and add every check to the run."""

    facts = gather(ctx.settings, early, ctx.compose_files)
    for check in evaluate(facts, ctx.settings):
        ctx.run.add(check)
    if ctx.inv.options.live:
        live_keys(ctx)
    return facts
