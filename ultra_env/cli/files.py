"""The tasks that read or write the project's files: render, profile, profiles, config."""

from __future__ import annotations

from ultra_env.cli import output
from ultra_env.cli.command import command, execute
from ultra_env.config.sources import Flag
from ultra_env.engine.context import Context, Invocation
from ultra_env.engine.run import changed, failed, ok
from ultra_env.operations.write import render_files


@command("render", changes=True)
def render(ctx: Context) -> None:
    render_files(ctx)


def _chosen(ctx: Context) -> None:
    """The profile named on the command line becomes the active one, re-rendered; saved with the
    rendered files, so a failed render switches nothing."""
    run = ctx.run
    new = ctx.settings.profile.value
    old = ctx.state.profile or "local"  # what is active when none was ever chosen
    if old == new:
        run.add(ok("profile", f"{new} is already the active profile"))
    ctx.state.profile = new
    rendered = render_files(ctx)
    if old != new:
        verb = "would switch" if ctx.inv.options.check else ("switched" if rendered else "did not switch")
        run.add((changed if rendered else failed)("profile", f"{verb} {old} → {new}"))


@command("profile", changes=True, configures=False, positional=("name",))
def profile(inv: Invocation, *, name: str) -> int:
    """``invoke profile NAME``: the profile comes first among the flags, so it wins over --profile."""
    inv.flags.insert(0, Flag(f"invoke profile {name}", "profile", name))
    return execute(_switch, inv)


_switch = command("profile", changes=True)(_chosen)


@command("profiles", quiet=True)
def profiles(ctx: Context) -> int:
    output.print_profiles(ctx.loaded, as_json=ctx.inv.options.json, redactor=ctx.redactor)
    return 0


@command("config", quiet=True)
def config(ctx: Context) -> int:
    output.print_config(ctx.loaded, as_json=ctx.inv.options.json, redactor=ctx.redactor)
    return 0
