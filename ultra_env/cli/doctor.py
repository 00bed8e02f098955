"""`invoke doctor`: what this machine has and lacks for the active profile."""

from __future__ import annotations

from ultra_env.checks.doctor import run_doctor
from ultra_env.cli.command import command
from ultra_env.engine.context import Context
from ultra_env.facts.prefetch import Prefetch


@command("doctor", symbols=True, prefetch=True)
def doctor(ctx: Context, early: Prefetch | None = None) -> None:
    run_doctor(ctx, early)
