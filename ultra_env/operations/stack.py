"""The stack's steps: the backend's image, ``docker compose up --wait`` and what it did, and for
each service that failed, why."""

from __future__ import annotations

import json
import time
from typing import Any

from ultra_env import concurrently, proc
from ultra_env.engine.context import Context
from ultra_env.engine.plan import Step, settled
from ultra_env.engine.run import Status, TaskResult, changed, failed, from_error, ok, refused, skipped
from ultra_env.errors import UltraError
from ultra_env.facts import model_runner
from ultra_env.operations import compose, converge, stack_plan
from ultra_env.operations import image as build
from ultra_env.project import state as state_mod


def project_of(ctx: Context) -> compose.Project:
    return compose.Project(ctx.root, ctx.settings.project_name, ctx.compose_files.run)


def stack_up(ctx: Context) -> bool:
    """``docker compose up --wait`` when ``stack_plan`` finds something for it to do (or cannot
    tell); reports what Compose created or recreated, then each service."""

    project = project_of(ctx)
    name = "stack up"
    problem = ctx.compose_files.problem()
    if problem is not None:
        ctx.run.add(refused(name, *problem))
        return False
    built = build_backend(ctx, project)
    if built is Status.FAILED:
        ctx.run.add(skipped(name, "the backend has no image"))
        return False
    try:
        if ctx.inv.options.check:
            if not (ctx.root / converge.COMPOSE_FILE).exists():
                ctx.run.add(changed(name, "would create the whole stack (docker-compose.yml is not written yet)"))
                return True
            what = stack_plan.changes(_plan(project, ctx.state.up_hashes))
            ctx.run.add(changed(name, f"would {what}") if what else ok(name, "every container is up to date"))
            return True
        steps = _plan_if_known(project, ctx.state.up_hashes) if built is Status.OK else None
        if steps and not any(step.action.changes for step in steps):
            ctx.run.add(ok(name, "every container is up to date and ready: nothing for `up` to do"))
            for step in steps:
                ctx.run.add(ok(step.task, step.why))
            return True
        compose_refusal = compose_refuses_models(ctx)
        if compose_refusal is not None:
            ctx.run.add(compose_refusal)
            return False
        done = compose.up(project, ctx.settings.timeouts.up)
        after = [] if done.ok else compose.ps(project)
    except proc.ProcError as exc:
        ctx.run.add(from_error(name, exc, "check `docker compose version` and that the daemon runs (invoke doctor)"))
        return False
    if done.ok:
        if ctx.settings.features.local_llm:
            remember_up(ctx, project)
        # Compose's own account of what it did; `--wait` succeeded, so every service is healthy.
        events = compose.up_events(done.output, project.name)
        what = compose.describe(events)
        ctx.run.add(changed(name, what) if what else ok(name, "every container was already up to date"))
        for service, words in sorted(events.items()):
            ctx.run.add(ok(f"service {service}", "healthy" if "Healthy" in words else "running"))
        return True
    said = last_line(done.output) or f"exit {done.returncode}"
    absent = missing_images(project)
    ctx.run.add(failed(name, *(without_images(absent, ctx.settings.pull_policy, said) or up_failed(said))))
    for down in after:
        ctx.run.add(service_result(project, down))
    return False


def up_failed(said: str) -> tuple[str, str]:
    return f"docker compose up failed: {said}", "see the services below; `docker compose logs SERVICE` has the rest"


def missing_images(project: compose.Project) -> dict[str, str]:
    """The services whose image this machine does not have. Compose's last line is the error of
    whichever service failed first, and that is not always the one without an image (CI saw
    ``No such container: <id>`` there once, for a missing redis image): asked here, an absent image
    is named every time."""
    try:
        images = compose.service_images(project)
        distinct = sorted(set(images.values()))
        found = concurrently.each(compose.image_id, distinct)
    except (proc.ProcError, ValueError):
        return {}
    present = {image for image, image_id in zip(distinct, found, strict=True) if image_id}
    return {service: image for service, image in images.items() if image not in present}


def without_images(absent: dict[str, str], pull_policy: str, said: str) -> tuple[str, str] | None:
    """The cause and fix of an ``up`` that failed for want of images; None when none is absent."""
    if not absent:
        return None
    images = sorted(set(absent.values()))
    named = ("images " if len(absent) > 1 else "image ") + ", ".join(
        f"{image} (service {service})" for service, image in absent.items()
    )
    if pull_policy == "never":
        cause = f"docker compose up failed: {named} not on this machine, and pull_policy is never"
    else:
        cause = f"docker compose up failed: {named} not on this machine and not pulled: {said}"
    return cause, "; ".join(f"docker pull {image}" for image in images) + " (or point the service at an image you have)"


def compose_refuses_models(ctx: Context) -> TaskResult | None:
    """A compose file with ``models:`` makes Compose ask ``docker model status --json`` first and
    fail ``up`` when it cannot read it: asked here the same way, so that ``up`` fails in seconds,
    before anything is created, with the fix."""
    text = (ctx.root / converge.COMPOSE_FILE).read_text(encoding="utf-8", errors="replace")
    if not any(line.startswith("models:") for line in text.splitlines()):
        return None
    found = model_runner.compose_status(ctx.settings.timeouts.probe)
    if found.ok:
        return None
    return failed(
        "stack up",
        f"Compose's models: would fail: docker model status --json, as Compose runs it, gave {found.error}",
        'docker model reinstall-runner; or set compose_models = "off" under [model_runner] in ultra-env.toml '
        "and invoke render (ultra-env then gives the services the runner's URL itself)",
    )


def _plan(project: compose.Project, hashes_at_last_up: dict[str, str]) -> list[Step]:
    """What ``up`` would do: ``docker compose ps`` and ``config --hash`` asked, ``stack_plan`` decides."""
    both: list[Any] = concurrently.each(
        lambda ask: ask(), [lambda: compose.ps(project), lambda: compose.config_hashes(project)]
    )
    services: list[compose.Service] = both[0]
    hashes: dict[str, str] = both[1]
    return stack_plan.services({s.service: s for s in services}, hashes, hashes_at_last_up)


def _plan_if_known(project: compose.Project, hashes_at_last_up: dict[str, str]) -> list[Step] | None:
    """The plan, or None when Compose cannot say: then ``up`` runs and Compose decides."""
    try:
        return _plan(project, hashes_at_last_up)
    except (proc.ProcError, ValueError):
        return None


def build_backend(ctx: Context, project: compose.Project) -> Status:
    """The backend's image, as ``stack_plan.image`` decides: OK when there is nothing to build (or
    ``images.backend`` names one for Compose to pull), CHANGED when built (or, with --check, when
    it would be), FAILED."""
    settings = ctx.settings
    if settings.images.backend:
        return Status.OK
    try:
        image = ctx.state.backend_image or build.plan(settings, ctx.root)[0].image
        source = settings.backend.source
        before = compose.image_id(image)
        step = stack_plan.image(image, before is not None, source)
        result = settled(step, check=ctx.inv.options.check)
        if result is not None:
            return ctx.run.add(result).status
        start = time.monotonic()
        done = project.run("build", "backend", timeout=settings.timeouts.build)
    except UltraError as exc:  # proc.ProcError among them
        return ctx.run.add(from_error(stack_plan.IMAGE_TASK, exc, "invoke doctor")).status
    if not done.ok:
        fix = f"docker compose -p {project.name} build backend shows the whole output" + (
            "; without a package index, set backend.wheelhouse (docs/ultra-backend.md)" if not source else ""
        )
        said = last_line(done.output) or f"exit {done.returncode}"
        return ctx.run.add(failed(step.task, f"building {image} failed: {said}", fix)).status
    seconds = time.monotonic() - start
    if source and compose.image_id(image) == before:
        return ctx.run.add(ok(step.task, f"{image} is up to date with {source}")).status
    return ctx.run.add(
        changed(step.task, f"built {image} in {seconds:.0f}s" + (f" from {source}" if source else ""))
    ).status


def remember_up(ctx: Context, project: compose.Project) -> None:
    """Record what the services were made from, so that ``--check`` can tell later (see compose)."""

    try:
        hashes = compose.config_hashes(project)
    except proc.ProcError:
        return
    if hashes != ctx.state.up_hashes:
        ctx.state.up_hashes = hashes
        try:
            state_mod.save(ctx.root, ctx.state)
        except UltraError:
            pass  # only --check loses precision; the stack itself is up


def service_result(project: compose.Project, service: compose.Service) -> TaskResult:
    name = f"service {service.service}"
    if service.ready:
        return ok(name, service.health or "running")
    try:
        tail = compose.logs(project, service.service).strip().splitlines()[-8:]
    except proc.ProcError as exc:
        tail = [f"(no logs: {exc})"]
    detail = (
        f"{service.state}"
        + (f", {service.health}" if service.health else "")
        + (f", exit code {service.exit_code}" if service.state == "exited" else "")
    )
    probe = last_healthcheck_output(service.container)
    said = f"; its healthcheck said: {probe}" if probe else ""
    return failed(
        name,
        f"not healthy ({detail}){said}; last log lines:\n" + "\n".join(f"  | {line}" for line in tail),
        f"docker compose -p {project.name} logs {service.service}",
    )


def last_healthcheck_output(container: str) -> str | None:
    """What the container's last healthcheck printed. ``docker inspect`` runs through our wrapper
    (a timeout); python-on-whales' typed model reads its JSON (imported only on this failure path:
    the package takes ≈0.4 s to import)."""

    try:
        done = proc.run(["docker", "inspect", "--type", "container", container], timeout=15)
    except proc.ProcError:
        return None
    if not done.ok:
        return None
    from python_on_whales.components.container.models import ContainerInspectResult

    try:
        state = ContainerInspectResult.model_validate(json.loads(done.stdout)[0]).state
        health = state.health if state is not None else None
    except (ValueError, IndexError):
        return None
    if health is None or not health.log:
        return None
    last = (health.log[-1].output or "").strip().splitlines()
    return last[-1][:200] if last else f"exit code {health.log[-1].exit_code}"


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
