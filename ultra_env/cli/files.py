"""The tasks that read or write the project's files: render, profile, profiles, config."""

from __future__ import annotations

from dataclasses import replace

from ultra_env.cli import output
from ultra_env.cli.command import command, execute, start
from ultra_env.config.sources import ENV_PREFIX, Flag, env_layer, load
from ultra_env.engine.context import Context, Invocation
from ultra_env.engine.run import Options, changed, failed, ok, refused, warn
from ultra_env.errors import UltraError
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
    if not rendered:
        return
    overriding = env_layer(ctx.inv.environ)[0].get("profile")
    if overriding and overriding != new:
        run.add(
            warn(
                f"{ENV_PREFIX}PROFILE",
                f"{new} is saved, but {ENV_PREFIX}PROFILE={overriding} overrides it in every run while it is set",
                f"unset {ENV_PREFIX}PROFILE (or export {ENV_PREFIX}PROFILE={new})",
            )
        )
    if any(flag.path == "features.local_llm" for flag in ctx.inv.flags) and not _kept_local_llm(ctx):
        run.add(
            warn(
                "--local-llm",
                "local models are on for this run only: the profile is remembered, --local-llm is not",
                "to keep them on, set local_llm = true under [features] in ultra-env.toml",
            )
        )


def _kept_local_llm(ctx: Context) -> bool:
    """Whether local models stay on without the flag (the profile or a lasting source turns them on)."""
    without = [flag for flag in ctx.inv.flags if flag.path != "features.local_llm"]
    try:
        loaded = load(
            ctx.inv.root,
            flags=without,
            environ=ctx.inv.environ,
            state_profile=ctx.state.profile,
            dotenv=None,
        )
    except UltraError:
        return False
    return loaded.settings.features.local_llm


@command("profile", changes=True, configures=False, positional=("name",))
def profile(inv: Invocation, *, name: str) -> int:
    """``invoke profile NAME``: the profile comes first among the flags, so it wins over --profile.
    An empty NAME is refused (an empty value would otherwise mean "keep the active one")."""
    if not name.strip():
        run, _ = start("profile", replace(inv, options=Options(json=inv.options.json)))
        run.add(
            refused(
                "profile",
                "an empty profile name: `invoke profile` switches to the one you name",
                "invoke profile NAME (local, cloud, hybrid or mock); `invoke profiles` lists them",
            )
        )
        return run.finish()
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
