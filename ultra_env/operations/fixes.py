"""``invoke doctor --fix``: the safe fixes doctor found, applied instead of only printed (as Harbor
does), each a task. A plan first, pure, from doctor's verdicts and the facts; then each applied.
Safe means: nothing that needs sudo, nothing that touches the project's files; everything else
stays a printed fix (installing packages above all)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ultra_env import http, proc
from ultra_env.config.settings import Settings
from ultra_env.engine.context import Context
from ultra_env.engine.run import Status, TaskResult, changed, failed, from_error
from ultra_env.facts.docker import DOCKER
from ultra_env.facts.gather import Facts
from ultra_env.facts.model_runner import NO_AUTO_INSTALL, model_status
from ultra_env.operations import backends
from ultra_env.operations.models import Connection, connect_runner, pull
from ultra_env.runner_verdicts import enable_tcp

Kind = Literal["enable runner", "install runner", "install backend", "pull"]


@dataclass(frozen=True)
class Fix:
    kind: Kind
    task: str
    why: str
    model: str | None = None


def plan(results: list[TaskResult], facts: Facts, settings: Settings) -> list[Fix]:
    """The fixes ultra-env can apply for doctor's ``results``, in the order they must run."""
    bad = {r.name: r for r in results if r.status in (Status.FAILED, Status.WARN)}
    desktop = facts.desktop and facts.host_os != "Linux"  # Desktop for Linux has no Model Runner UI
    fixes: list[Fix] = []
    if "runner" in bad:
        if desktop:
            fixes.append(Fix("enable runner", "enable Model Runner", bad["runner"].msg))
        else:
            fixes.append(Fix("install runner", "install Model Runner", bad["runner"].msg))
    elif desktop and "API from the host" in bad:
        fixes.append(Fix("enable runner", "enable host-side TCP", bad["API from the host"].msg))
    if "backend llama.cpp" in bad and "runner" not in bad:
        fixes.append(Fix("install backend", "install llama.cpp", bad["backend llama.cpp"].msg))
    for model in settings.models:
        found = bad.get(f"model {model.name}")
        if found is not None and found.status is Status.WARN:
            fixes.append(Fix("pull", f"pull {model.name}", found.msg, model.name))
    return fixes


def apply(ctx: Context, fixes: list[Fix]) -> list[TaskResult]:
    settings = ctx.settings
    results: list[TaskResult] = []
    pulls = [m for m in settings.models if any(f.kind == "pull" and f.model == m.name for f in fixes)]
    conn: Connection | None = None  # asked for once, after the runner has been enabled or installed
    for fix in fixes:
        if fix.kind in ("enable runner", "install runner"):
            port = str(settings.model_runner.host_port)
            install = [DOCKER, "model", "install-runner", "--gpu", "auto", "--port", port]
            argv = enable_tcp(settings).split() if fix.kind == "enable runner" else install
            done = _command(fix, argv, settings.timeouts.up)
            results.append(done if done.status is Status.FAILED else _wait_running(fix, done, settings))
        elif fix.kind == "install backend":
            conn = conn or connect_runner(ctx)
            results.append(backends.install(conn, check=False))
    if pulls:
        results += pull(conn or connect_runner(ctx), pulls, check=False, on_progress=lambda event: None)
    return results


def _wait_running(fix: Fix, done: TaskResult, settings: Settings) -> TaskResult:
    """A runner just enabled or installed starts in the background: wait until ``docker model
    status`` says it runs (reference section 7, item 10), within ``timeouts.health``."""

    def running(_left: float) -> None:
        found = model_status(settings.timeouts.probe, settings.model_runner.host_url)
        if found.value is None or not found.value.running:
            raise http.NotYet(found.error or "Docker Model Runner is not running")

    try:
        http.Retry(within_s=settings.timeouts.health).run(running, retry_if=http.raised(http.NotYet))
    except http.NotYet as exc:
        return failed(fix.task, f"{done.msg}, but the runner did not start: {exc.cause}", "docker model status")
    return done


def _command(fix: Fix, argv: list[str], timeout: float) -> TaskResult:
    shown = " ".join(argv)
    try:
        done = proc.run(argv, timeout=timeout, env=NO_AUTO_INSTALL)
    except proc.ProcError as exc:
        return from_error(fix.task, exc, f"run it yourself: {shown}", about=shown)
    if not done.ok:
        said = (done.output.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return failed(fix.task, f"{shown}: {said}", f"run it yourself: {shown}")
    return changed(fix.task, f"{shown} ({fix.why})")
