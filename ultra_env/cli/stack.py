"""The tasks that provision and inspect the stack: doctor, render, profile, setup, up, down,
status, health, config."""

from __future__ import annotations

from ultra_env import http, proc
from ultra_env.checks.doctor import run_doctor
from ultra_env.checks.health import run_health
from ultra_env.cli import output
from ultra_env.cli.command import command, confirm, execute
from ultra_env.config.sources import Flag
from ultra_env.engine.context import Context, Invocation
from ultra_env.engine.run import changed, failed, ok, skipped
from ultra_env.facts.prefetch import Prefetch
from ultra_env.operations import compose, converge
from ultra_env.operations.models import configure_models, connect_runner, pull_models
from ultra_env.operations.stack import last_line, project_of, stack_up
from ultra_env.operations.write import render_files


@command("doctor", symbols=True, prefetch=True)
def doctor(ctx: Context, early: Prefetch | None = None) -> None:
    run_doctor(ctx, early)


@command("render", changes=True)
def render(ctx: Context) -> None:
    render_files(ctx)


STEPS_AFTER_DOCTOR = ("render files", "pull models", "stack up", "health")


@command("setup", changes=True, prefetch=True)
def setup(ctx: Context, early: Prefetch | None = None) -> None:
    run, options = ctx.run, ctx.inv.options
    facts = run_doctor(ctx, early)
    if run.failed and not options.keep_going:
        for step in STEPS_AFTER_DOCTOR:
            run.add(skipped(step, "a check above failed: nothing was changed (--keep-going runs anyway)"))
        return
    if not render_files(ctx, facts):
        return
    conn = connect_runner(ctx, facts) if ctx.settings.features.local_llm else None
    progress = None if options.json else output.PullProgress()
    if conn is not None and not pull_models(ctx, conn=conn, progress=progress):
        return
    http.prewarm()  # health needs it; `compose up --wait` leaves the CPU idle meanwhile
    if not stack_up(ctx) or (conn is not None and not configure_models(ctx, conn, facts)):
        return
    if not options.check:
        run_health(ctx, facts)


@command("health")
def health(ctx: Context) -> None:
    run_health(ctx)


@command("up", changes=True)
def up(ctx: Context) -> None:
    if not (ctx.root / converge.COMPOSE_FILE).exists():
        ctx.run.add(failed("stack up", f"no {converge.COMPOSE_FILE} in {ctx.root}", "invoke setup (or invoke render)"))
    else:
        stack_up(ctx)


@command("down", changes=True)
def down(ctx: Context, *, volumes: bool = False, yes: bool = False) -> None:
    run, check = ctx.run, ctx.inv.options.check
    project = project_of(ctx)
    if (
        volumes
        and not yes
        and not check
        and not confirm(f"Delete the database and cache volumes of {project.name}? [y/N] ")
    ):
        run.add(
            failed("stack down", "not confirmed: the volumes (your database) were kept", "invoke down --volumes --yes")
        )
        run.usage_error = True
        return
    if check:
        run.add(changed("stack down", "would remove the containers" + (" and volumes" if volumes else "")))
        return
    try:
        present = compose.ps(project)
        done = compose.down(project, volumes=volumes)
    except proc.ProcError as exc:
        run.add(failed("stack down", exc.cause, "invoke doctor"))
        return
    if not done.ok:
        run.add(failed("stack down", last_line(done.output), f"docker compose -p {project.name} down"))
    elif present or (volumes and "Volume" in done.output):
        gone = ", ".join(s.service for s in present)
        run.add(
            changed("stack down", f"removed {gone or 'nothing running'}" + ("; volumes deleted" if volumes else ""))
        )
    else:
        run.add(ok("stack down", "nothing was running"))


@command("status", quiet=True)
def status(ctx: Context) -> int | None:
    try:
        services = compose.ps(project_of(ctx))
    except proc.ProcError as exc:
        ctx.run.add(failed("status", exc.cause, "invoke doctor"))
        return None
    output.print_services(services, ctx.settings.project_name, as_json=ctx.inv.options.json)
    return 0 if services and all(s.ready for s in services) else 1


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
