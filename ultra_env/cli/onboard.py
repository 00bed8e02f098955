"""``invoke onboard``: a new developer's first run."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable

from ultra_env.checks.doctor import run_doctor
from ultra_env.cli import files, output, stack
from ultra_env.cli.command import begin, command, execute, start
from ultra_env.config.settings import PROFILE_HELP, Profile
from ultra_env.config.sources import Flag
from ultra_env.engine.context import Invocation
from ultra_env.engine.redact import Redactor
from ultra_env.engine.run import Options, Status, refused
from ultra_env.facts.prefetch import Prefetch


def onboard_run(
    inv: Invocation,
    *,
    chosen_profile: str | None = None,
    yes: bool = False,
    early: Prefetch | None = None,
    interactive: bool | None = None,
    ask: Callable[[str], str] = input,
    ask_secret: Callable[[str], str] | None = None,
) -> int:
    """The machine checked and explained, a profile chosen, missing keys entered (hidden, written
    only to .env), the stack set up, and a one-screen summary."""
    interactive = (sys.stdin is not None and sys.stdin.isatty() and not yes) if interactive is None else interactive
    ask_secret = ask_secret or getpass.getpass
    redactor = Redactor()
    redactor.add_env(inv.environ)

    def say(text: str) -> None:
        output.say(text, redactor)

    if not interactive and not yes and not chosen_profile:
        # No one to ask which profile: choosing one here would switch the project unasked.
        run, _ = start("onboard", inv, symbols=True)
        run.add(
            refused(
                "profile",
                "no terminal to ask which profile to use, so nothing was checked or changed",
                "invoke onboard --profile NAME (or --yes to take the suggested one); `invoke profiles` lists them",
            )
        )
        if early:
            early.close()
        return run.finish()

    say("Step 1 of 4 · what this machine has (✓ fine, ! worth knowing, ✗ needs the fix shown)")
    flags = [f for f in inv.flags if f.path != "profile"]
    probe = Invocation(
        inv.root,
        inv.templates,
        Options(),
        [Flag("onboard", "profile", "hybrid"), *flags],
        inv.environ,
        recovered=inv.recovered,
    )
    run, ctx = begin("onboard", probe, symbols=True)
    if ctx is None:
        if early:
            early.close()
        return run.finish()
    redactor = ctx.redactor  # it knows the configuration's secrets too
    run_doctor(ctx, early)  # no recap: under the hybrid profile a ✗ here is information, not a failure
    by_name = {r.name: r for r in run.results}
    local_ok = all(r.status is not Status.FAILED for r in run.results if r.area == "Model Runner")
    keys = [n for n, r in by_name.items() if r.area == "Cloud keys" and r.status is Status.OK]
    suggested = Profile.LOCAL if local_ok else (Profile.CLOUD if keys else Profile.MOCK)

    say("\nStep 2 of 4 · the profile")
    for option in Profile:
        mark = "*" if option is suggested else " "
        say(f"  {mark} {option.value:<7} {PROFILE_HELP[option]}")
    chosen = chosen_profile or suggested
    if interactive and not chosen_profile:
        chosen = ask(f"Profile [{suggested}]: ").strip() or suggested
    say(f"  → {chosen}")

    environ = dict(inv.environ)
    say("\nStep 3 of 4 · API keys")
    if chosen in (Profile.CLOUD, Profile.HYBRID) and interactive:
        for name, provider in ctx.settings.providers.items():
            if provider.api_key is None:
                value = ask_secret(f"  {provider.key_var} for {name} (hidden; Enter to skip): ").strip()
                if value:
                    environ[provider.key_var] = value
    else:
        say(
            "  none asked"
            + (
                " (the profile needs none)"
                if chosen in (Profile.LOCAL, Profile.MOCK)
                else " (not interactive: add them to .env)"
            )
        )

    say("\nStep 4 of 4 · setting up")
    # setup and the summary run with the profile chosen here, whatever ULTRA_ENV_PROFILE says (as `profile` does)
    chosen_flags = [Flag(f"invoke profile {chosen}", "profile", chosen), *flags]
    chosen_inv = Invocation(inv.root, inv.templates, inv.options, chosen_flags, environ)
    code = execute(files.profile, Invocation(inv.root, inv.templates, inv.options, list(flags), environ), name=chosen)
    if code == 0:
        code = execute(stack.setup, chosen_inv)
    _, summary = begin("onboard", chosen_inv, quiet=True)
    if summary is not None:
        output.print_summary(summary.settings, chosen_inv.root, ok=code == 0, redactor=summary.redactor)
    return code


onboard = command("onboard", changes=True, configures=False, prefetch=True)(onboard_run)
