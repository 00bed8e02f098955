"""The tasks that provision and inspect the stack: setup, health, up, down, status."""

from __future__ import annotations

from collections.abc import Callable

from ultra_env import http, proc
from ultra_env.checks.doctor import run_doctor
from ultra_env.checks.health import run_health
from ultra_env.checks.memory import fit
from ultra_env.cli import output
from ultra_env.cli.command import command, confirm
from ultra_env.config.settings import ModelSpec
from ultra_env.engine.context import Context
from ultra_env.engine.run import Status, TaskResult, changed, failed, from_error, ok, refused, skipped
from ultra_env.facts import model_runner
from ultra_env.facts.gather import Facts
from ultra_env.facts.model_runner import LocalModel
from ultra_env.facts.prefetch import Prefetch
from ultra_env.operations import backends, compose, converge
from ultra_env.operations.models import configure_models, connect_runner, pull_models, warm_models
from ultra_env.operations.stack import last_line, project_of, stack_up
from ultra_env.operations.write import render_files

STEPS_AFTER_DOCTOR = ("render files", "pull models", "stack up", "health")


@command("setup", changes=True, prefetch=True)
def setup(ctx: Context, early: Prefetch | None = None) -> None:
    run, options = ctx.run, ctx.inv.options
    facts = run_doctor(ctx, early)
    if run.failed and not options.keep_going:
        for step in STEPS_AFTER_DOCTOR:
            run.add(skipped(step, "a check above failed: nothing was changed (--keep-going runs anyway)"))
        return
    if ctx.settings.features.local_llm and not options.check:
        # What Compose's `up` will ask first, asked the same way (it may install a runner on
        # Engine, as `up` would), so that the rendering can do without models: when it fails.
        facts.compose_status = model_runner.compose_status(ctx.settings.timeouts.probe)
    if not render_files(ctx, facts):
        return
    conn = connect_runner(ctx, facts) if ctx.settings.features.local_llm else None
    progress = None if options.json else output.PullProgress(ctx.redactor)
    if conn is not None:
        installed = backends.install(conn, check=options.check)
        run.add(installed)
        if installed.status is Status.FAILED or not pull_models(ctx, conn=conn, progress=progress):
            return
    http.prewarm()  # health needs it; `compose up --wait` leaves the CPU idle meanwhile
    if not stack_up(ctx) or (conn is not None and not configure_models(ctx, conn, facts)):
        return
    if conn is not None and not warm_models(ctx, conn, too_big_for(facts)):
        return
    if not options.check:
        run_health(ctx, facts, stack_ready=True)


def too_big_for(facts: Facts | None) -> Callable[[ModelSpec, LocalModel], TaskResult | None]:
    """A model that would not fit the engine's memory is not loaded: its failed verdict instead."""
    memory = facts.info.mem_total if facts is not None and facts.info is not None else None

    def refuse(spec: ModelSpec, model: LocalModel) -> TaskResult | None:
        if not memory:
            return None
        verdict = fit(spec.name, model, spec.context_size, memory)
        return verdict if verdict.status is Status.FAILED else None

    return refuse


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
            refused("stack down", "not confirmed: the volumes (your database) were kept", "invoke down --volumes --yes")
        )
        return
    if check:
        run.add(changed("stack down", "would remove the containers" + (" and volumes" if volumes else "")))
        return
    try:
        present = compose.ps(project)
        done = compose.down(project, volumes=volumes)
    except proc.ProcError as exc:
        run.add(from_error("stack down", exc, "invoke doctor"))
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
        ctx.run.add(from_error("status", exc, "invoke doctor"))
        return None
    output.print_services(services, ctx.settings.project_name, as_json=ctx.inv.options.json, redactor=ctx.redactor)
    return 0 if services and all(s.ready for s in services) else 1
