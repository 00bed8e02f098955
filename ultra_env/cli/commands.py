"""The commands behind the invoke tasks: each builds a run from the steps and returns its exit code."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ultra_env.operations import converge
from ultra_env.engine.context import TEMPLATES_DIR_VAR, Invocation, begin, confirm, project_root, start
from ultra_env.config.settings import Settings
from ultra_env.engine.run import Options, Status, changed, failed, ok, skipped
from ultra_env.config.sources import Flag
from ultra_env.operations.steps import (
    configure_models, connect_runner, doctor, health, last_line, llm_targets, project_of, pull_models, render_files,
    stack_up,
)

if TYPE_CHECKING:
    from ultra_env.facts.gather import Prefetch


def cmd_render(inv: Invocation) -> int:
    run, ctx = begin("render", inv)
    if ctx is not None:
        render_files(ctx)
    return run.finish()


def cmd_doctor(inv: Invocation, early: Prefetch | None = None) -> int:
    run, ctx = begin("doctor", inv, symbols=True)
    if ctx is None:
        if early:
            early.close()
        return run.finish()
    doctor(ctx, early)
    return run.finish()


STEPS_AFTER_DOCTOR = ("render files", "pull models", "stack up", "health")


def cmd_setup(inv: Invocation, early: Prefetch | None = None) -> int:
    run, ctx = begin("setup", inv)
    if ctx is None:
        if early:
            early.close()
        return run.finish()
    facts = doctor(ctx, early)
    if run.failed and not inv.options.keep_going:
        for step in STEPS_AFTER_DOCTOR:
            run.add(skipped(step, "a check above failed: nothing was changed (--keep-going runs anyway)"))
        return run.finish()
    if not render_files(ctx, facts):
        return run.finish()
    local = ctx.settings.features.local_llm
    conn = connect_runner(ctx, facts) if local else None
    if conn is not None and not pull_models(ctx, conn=conn):
        return run.finish()
    from ultra_env import http

    http.prewarm()  # health needs it; `compose up --wait` leaves the CPU idle meanwhile
    if not stack_up(ctx) or (conn is not None and not configure_models(ctx, conn, facts)):
        return run.finish()
    if not inv.options.check:
        health(ctx, facts)
    return run.finish()


def cmd_onboard(inv: Invocation, *, profile: str | None, yes: bool, early: Prefetch | None = None,
                interactive: bool | None = None, ask: Callable[[str], str] = input,
                ask_secret: Callable[[str], str] | None = None) -> int:
    """A new developer's first run: the machine checked and explained, a profile chosen, missing
    keys entered (hidden, written only to .env), the stack set up, and a one-screen summary."""
    import getpass
    import sys

    from ultra_env.cli import output as report
    from ultra_env.config.settings import PROFILE_HELP, Profile

    interactive = (sys.stdin is not None and sys.stdin.isatty() and not yes) if interactive is None else interactive
    ask_secret = ask_secret or getpass.getpass
    say = report.say
    say("Step 1 of 4 · what this machine has (✓ fine, ! worth knowing, ✗ needs the fix shown)")
    probe = Invocation(inv.root, inv.templates, Options(),
                       [Flag("onboard", "profile", "hybrid")], inv.environ)
    run, ctx = begin("onboard", probe, symbols=True)
    if ctx is None:
        if early:
            early.close()
        return run.finish()
    doctor(ctx, early)  # no recap: under the hybrid profile a ✗ here is information, not a failure
    by_name = {r.name: r for r in run.results}
    local_ok = all(r.status is not Status.FAILED for r in run.results if r.area == "Model Runner")
    keys = [n for n, r in by_name.items() if r.area == "Cloud keys" and r.status is Status.OK]
    suggested = "local" if local_ok else ("cloud" if keys else "mock")

    say("\nStep 2 of 4 · the profile")
    for option in Profile:
        mark = "*" if option.value == suggested else " "
        say(f"  {mark} {option.value:<7} {PROFILE_HELP[option]}")
    chosen = profile or suggested
    if interactive and not profile:
        chosen = ask(f"Profile [{suggested}]: ").strip() or suggested
    say(f"  → {chosen}")

    environ = dict(inv.environ)
    say("\nStep 3 of 4 · API keys")
    if chosen in ("cloud", "hybrid") and interactive:
        for name, provider in ctx.settings.providers.items():
            if provider.api_key is None:
                value = ask_secret(f"  {provider.key_var} for {name} (hidden; Enter to skip): ").strip()
                if value:
                    environ[provider.key_var] = value
    else:
        say("  none asked" + (" (the profile needs none)" if chosen in ("local", "mock") else
                                  " (not interactive: add them to .env)"))

    say("\nStep 4 of 4 · setting up")
    chosen_inv = Invocation(inv.root, inv.templates, inv.options, [f for f in inv.flags if f.path != "profile"],
                            environ)
    code = cmd_profile(chosen_inv, chosen)
    if code == 0:
        code = cmd_setup(chosen_inv)
    _, summary = begin("onboard", chosen_inv, quiet=True)
    if summary is not None:
        report.print_summary(summary.settings, chosen_inv.root, ok=code == 0)
    return code


def cmd_health(inv: Invocation) -> int:
    run, ctx = begin("health", inv)
    if ctx is not None:
        health(ctx)
    return run.finish()


def cmd_llm_ask(inv: Invocation, prompt: str, *, provider: str | None, model: str | None, stream: bool) -> int:
    from ultra_env.llm import ask
    from ultra_env.cli import output as report

    run, ctx = begin("llm.ask", inv, quiet=True)
    if ctx is None:
        return run.finish()
    found = llm_targets(ctx, provider, model)
    if not found:
        return run.finish()
    printer = report.AnswerPrinter(ctx.redactor, as_json=inv.options.json)
    outcome = ask.ask(found[0], prompt, stream=stream and not inv.options.json, timeout=ctx.settings.timeouts.health,
                      on_text=printer.text)
    if outcome.error is None:
        printer.outcome(outcome)
        return 0
    # A failure is the run's one document (JSON) or its failed task (people); never a second answer.
    run.add(failed(found[0].label, f"{outcome.error.kind}: {outcome.error.message}", "invoke doctor",
                   data=outcome.to_dict()))
    return run.finish()


def cmd_llm_compare(inv: Invocation, prompt: str) -> int:
    from ultra_env.llm import ask
    from ultra_env.cli import output as report

    run, ctx = begin("llm.compare", inv, quiet=True)
    if ctx is None:
        return run.finish()
    found = llm_targets(ctx)
    if not found:
        return run.finish()
    outcomes = ask.compare(found, prompt, timeout=ctx.settings.timeouts.health)
    report.print_comparison(outcomes, ctx.redactor, as_json=inv.options.json)
    return 0 if all(o.error is None for o in outcomes) else 1


def cmd_models_bench(inv: Invocation, *, requests: str, max_tokens: str, prompt_words: str,
                     concurrency: str) -> int:
    from ultra_env.llm import bench
    from ultra_env.cli import output as report

    run, ctx = begin("models.bench", inv, quiet=True)
    if ctx is None:
        return run.finish()
    try:
        counts = [bench.whole("requests", requests), bench.whole("max-tokens", max_tokens),
                  bench.whole("prompt-words", prompt_words)]
        levels = sorted({bench.whole("concurrency", level) for level in str(concurrency).split(",")})
    except ValueError as exc:
        run.add(failed("models.bench", str(exc), "example: --requests 8 --concurrency 1,2,4 --max-tokens 64"))
        run.usage_error = True
        return run.finish()
    requests_n, max_tokens_n, prompt_words_n = counts
    found = llm_targets(ctx)
    if not found:
        return run.finish()
    rows = bench.run(found, prompt_words=prompt_words_n, max_tokens=max_tokens_n, requests=requests_n,
                     concurrencies=levels, timeout=ctx.settings.timeouts.health)
    report.print_bench(rows, as_json=inv.options.json, redactor=ctx.redactor)
    return 0 if all(row.errors == 0 for row in rows) else 1


def cmd_models_pull(inv: Invocation, model: str | None) -> int:
    from ultra_env.config.settings import ModelSpec

    run, ctx = begin("models.pull", inv)
    if ctx is None:
        return run.finish()
    models = None
    if model:
        try:
            models = [ModelSpec(name=model)]
        except ValueError as exc:
            run.add(failed("pull", f"--model: {_first_error(exc)}", "example: --model ai/smollm2"))
            run.usage_error = True
            return run.finish()
    pull_models(ctx, models)
    return run.finish()


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    return errors()[0]["msg"].removeprefix("Value error, ") if errors else str(exc)


def cmd_models_list(inv: Invocation) -> int:
    from ultra_env.operations import dmr
    from ultra_env.operations import models as local_models
    from ultra_env.cli import output as report

    run, ctx = begin("models.list", inv, quiet=True)
    if ctx is None:
        return run.finish()
    conn = local_models.connect(ctx.settings, ctx.variables)
    if conn.note is not None:
        report.note(conn.note, ctx.redactor)
    try:
        models = conn.models()
    except dmr.DmrError as exc:
        run.add(failed("models", exc.cause, exc.fix or "invoke doctor"))
        return run.finish()
    report.print_models(models, as_json=inv.options.json)
    return 0


def cmd_models_rm(inv: Invocation, name: str, *, yes: bool, ask: Callable[[str], bool]) -> int:
    """``--force`` (inv.options.force) removes a model even while it is loaded."""
    from ultra_env.operations import dmr
    from ultra_env.config.modelnames import InvalidModelName

    run, ctx = begin("models.rm", inv)
    if ctx is None:
        return run.finish()
    if not yes and not inv.options.check and not ask(f"Remove {name} from Docker Model Runner? [y/N] "):
        run.add(failed(f"remove {name}", "not confirmed: nothing was removed", f"invoke models.rm {name} --yes"))
        run.usage_error = True
        return run.finish()
    try:
        conn = connect_runner(ctx)
        if not any(m.has(name) for m in conn.models()):
            run.add(ok(f"remove {name}", "not present"))
        elif inv.options.check:
            run.add(changed(f"remove {name}", "would remove"))
        else:
            conn.runner.remove(name, force=inv.options.force)
            run.add(changed(f"remove {name}", "removed" + (" (through the docker model CLI)" if conn.via_cli else "")))
    except dmr.DmrError as exc:
        run.add(failed(f"remove {name}", exc.cause, exc.fix))
    except InvalidModelName as exc:
        run.add(failed(f"remove {name}", str(exc), "invoke models.list"))
        run.usage_error = True
    return run.finish()


def cmd_up(inv: Invocation) -> int:
    run, ctx = begin("up", inv)
    if ctx is not None:
        if not (inv.root / converge.COMPOSE_FILE).exists():
            run.add(failed("stack up", f"no {converge.COMPOSE_FILE} in {inv.root}", "invoke setup (or invoke render)"))
        else:
            stack_up(ctx)
    return run.finish()


def cmd_down(inv: Invocation, *, volumes: bool, yes: bool, ask: Callable[[str], bool]) -> int:
    from ultra_env import proc
    from ultra_env.operations import compose

    run, ctx = begin("down", inv)
    if ctx is None:
        return run.finish()
    project = project_of(ctx)
    if volumes and not yes and not inv.options.check and not ask(
            f"Delete the database and cache volumes of {project.name}? [y/N] "):
        run.add(failed("stack down", "not confirmed: the volumes (your database) were kept",
                       "invoke down --volumes --yes"))
        run.usage_error = True
        return run.finish()
    if inv.options.check:
        run.add(changed("stack down", "would remove the containers" + (" and volumes" if volumes else "")))
        return run.finish()
    try:
        present = compose.ps(project)
        done = compose.down(project, volumes=volumes)
    except proc.ProcError as exc:
        run.add(failed("stack down", str(exc), "invoke doctor"))
        return run.finish()
    if not done.ok:
        run.add(failed("stack down", last_line(done.output), f"docker compose -p {project.name} down"))
    elif present or (volumes and "Volume" in done.output):
        gone = ", ".join(s.service for s in present)
        run.add(changed("stack down", f"removed {gone or 'nothing running'}" + ("; volumes deleted" if volumes else "")))
    else:
        run.add(ok("stack down", "nothing was running"))
    return run.finish()


def cmd_status(inv: Invocation) -> int:
    from ultra_env import proc
    from ultra_env.operations import compose
    from ultra_env.cli import output as report

    run, ctx = begin("status", inv, quiet=True)
    if ctx is None:
        return run.finish()
    try:
        services = compose.ps(project_of(ctx))
    except proc.ProcError as exc:
        run.add(failed("status", str(exc), "invoke doctor"))
        return run.finish()
    report.print_services(services, ctx.settings.project_name, as_json=inv.options.json)
    return 0 if services and all(s.ready for s in services) else 1


def cmd_profile(inv: Invocation, name: str | None) -> int:
    if not name:
        return show_profiles(inv)
    inv.flags.insert(0, Flag(f"invoke profile {name}", "profile", name))
    run, ctx = begin("profile", inv)
    if ctx is None:
        return run.finish()
    new = ctx.settings.profile.value
    old = ctx.state.profile or "local"  # what is active when none was ever chosen
    if old == new:
        run.add(ok("profile", f"{new} is already the active profile"))
    ctx.state.profile = new  # saved with the rendered files, so a failed render switches nothing
    rendered = render_files(ctx)
    if old != new:
        verb = "would switch" if inv.options.check else ("switched" if rendered else "did not switch")
        result = changed if rendered else failed
        run.add(result("profile", f"{verb} {old} → {new}"))
    return run.finish()


def show_profiles(inv: Invocation) -> int:
    from ultra_env.cli import output as report

    run, ctx = begin("profile", inv, quiet=True)
    if ctx is None:
        return run.finish()
    report.print_profiles(ctx.loaded, as_json=inv.options.json, redactor=ctx.redactor)
    return 0


def cmd_config(inv: Invocation) -> int:
    from ultra_env.cli import output as report

    run, ctx = begin("config", inv, quiet=True)
    if ctx is None:
        return run.finish()
    report.print_config(ctx.loaded, as_json=inv.options.json, redactor=ctx.redactor)
    return 0


def cmd_gen_docs(inv: Invocation, toolkit_root: Path, collection: Any) -> int:
    """Regenerate the files derived from the code: env.example and docs/profiles-and-flags.md."""
    from ultra_env.cli import docgen
    from ultra_env.operations import files
    from ultra_env.operations import render

    run, _ = start("gen-docs", inv)
    outputs = {toolkit_root / "env.example": render.render_env(Settings(), example=True),
               toolkit_root / "docs" / "profiles-and-flags.md": docgen.render(collection)}
    for path, text in outputs.items():
        old = files.read_text(path)
        if old == text:
            run.add(ok(path.name, "up to date"))
            continue
        if not inv.options.check:
            files.write_atomic(path, text)
        run.add(changed(path.name, "would update" if inv.options.check else "updated",
                        diff=converge.unified_diff(path.name, old, text)))
    return run.finish()


COMMANDS = {"render": cmd_render, "setup": cmd_setup, "config": cmd_config, "doctor": cmd_doctor, "up": cmd_up,
            "status": cmd_status, "health": cmd_health, "models.list": cmd_models_list}


def dispatch(command: str, toolkit_root: Path, *args: str | None, profile: str | None = None,
         local_llm: bool = False, check: bool = False, diff: bool = False, json: bool = False,
         force: bool = False, keep_going: bool = False, volumes: bool = False, yes: bool = False,
         stream: bool = False, live: bool = False, early: Prefetch | None = None, recovered: str | None = None,
         **bench_options: Any) -> int:
    """Entry point for ``tasks.py``: turn flags into an Invocation and run ``command``."""
    flags = []
    if profile:
        flags.append(Flag("--profile", "profile", profile))
    if local_llm:
        flags.append(Flag("--local-llm", "features.local_llm", True))
    inv = Invocation(
        root=project_root(toolkit_root),
        templates=Path(os.environ.get(TEMPLATES_DIR_VAR) or toolkit_root / "templates").resolve(),
        options=Options(check=check, diff=diff, json=json, force=force, keep_going=keep_going, live=live),
        flags=flags, recovered=recovered,
    )
    if command in ("doctor", "setup"):
        return COMMANDS[command](inv, early)
    if command == "onboard":
        inv.flags = [f for f in inv.flags if f.path != "profile"]
        return cmd_onboard(inv, profile=profile, yes=yes, early=early)
    if command == "profile":
        return cmd_profile(inv, args[0] if args else None)
    if command == "llm.ask":
        return cmd_llm_ask(inv, str(args[0]), provider=args[1], model=args[2], stream=stream)
    if command == "llm.compare":
        return cmd_llm_compare(inv, str(args[0]))
    if command == "models.bench":
        return cmd_models_bench(inv, **bench_options)
    if command == "models.pull":
        return cmd_models_pull(inv, args[0] if args else None)
    if command == "models.rm":
        return cmd_models_rm(inv, str(args[0]), yes=yes, ask=confirm)
    if command == "down":
        return cmd_down(inv, volumes=volumes, yes=yes, ask=confirm)
    if command == "gen-docs":
        return cmd_gen_docs(inv, toolkit_root, bench_options["collection"])
    return COMMANDS[command](inv)
