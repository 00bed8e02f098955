"""`invoke doctor`: what this machine has and lacks for the active profile."""

from __future__ import annotations

from ultra_env.checks.doctor import run_doctor
from ultra_env.checks.rules import evaluate
from ultra_env.cli.command import command, confirm
from ultra_env.engine.context import Context
from ultra_env.engine.run import refused
from ultra_env.facts.gather import gather
from ultra_env.facts.prefetch import Prefetch
from ultra_env.operations import fixes


@command("doctor", symbols=True, prefetch=True)
def doctor(ctx: Context, early: Prefetch | None = None, fix: bool = False, yes: bool = False) -> None:
    """``--fix`` applies the safe fixes found (asking first; ``--yes`` when there is no terminal),
    then checks again."""
    if not fix:
        run_doctor(ctx, early)
        return
    facts = gather(ctx.settings, early, ctx.compose_files)
    found = evaluate(facts, ctx.settings)
    planned = fixes.plan(found, facts, ctx.settings)
    if not planned:
        for result in found:
            ctx.run.add(result)
        return
    names = ", ".join(f.task for f in planned)
    if not yes and not confirm(f"Apply these fixes: {names}? [y/N] "):
        for result in found:
            ctx.run.add(result)
        ctx.run.add(refused("fixes", f"not confirmed, nothing applied ({names})", "invoke doctor --fix --yes"))
        return
    for result in fixes.apply(ctx, planned):
        ctx.run.add(result)
    run_doctor(ctx)
