"""What each command does, as a run of named tasks. ``tasks.py`` calls these; they return the exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ultra_env import converge, envfile, sources
from ultra_env import state as state_mod
from ultra_env.config import Settings
from ultra_env.errors import ConfigError, UltraError
from ultra_env.redact import Redactor
from ultra_env.render import TEMPLATES_DIR, Target
from ultra_env.report import HumanReporter, JsonReporter
from ultra_env.runner import Options, Run, Status, TaskResult, changed, failed, ok, skipped, warn
from ultra_env.sources import Flag, Loaded

if TYPE_CHECKING:
    from ultra_env.facts.gather import Facts, Prefetch, Probe

PROJECT_DIR_VAR = "ULTRA_ENV_PROJECT_DIR"
TEMPLATES_DIR_VAR = "ULTRA_ENV_TEMPLATES_DIR"


def project_root(default: Path, environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get(PROJECT_DIR_VAR) or default).resolve()


@dataclass
class Invocation:
    """Everything a command starts from."""

    root: Path
    templates: Path = TEMPLATES_DIR
    options: Options = field(default_factory=Options)
    flags: list[Flag] = field(default_factory=list)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class Context:
    """What the configuration task established, for the tasks after it."""

    inv: Invocation
    run: Run
    redactor: Redactor
    state: state_mod.State
    dotenv: envfile.EnvDoc | None
    loaded: Loaded

    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    @property
    def root(self) -> Path:
        return self.inv.root


def start(command: str, inv: Invocation, *, quiet: bool = False, symbols: bool = False) -> tuple[Run, Redactor]:
    redactor = Redactor()
    redactor.add_env(inv.environ)
    if inv.options.json:
        reporter = JsonReporter(redactor)
    else:
        reporter = HumanReporter(redactor, show_diff=inv.options.diff, quiet=quiet, symbols=symbols)
    return Run(command, inv.options, reporter), redactor


def configure(run: Run, redactor: Redactor, inv: Invocation) -> Context | None:
    """The ``configuration`` task: state, ``.env`` and every config source, validated."""
    try:
        state = state_mod.load(inv.root)
        dotenv = converge.read_env(inv.root)
        if dotenv is not None:
            redactor.add_env(dotenv.values())
        loaded = sources.load(
            inv.root, flags=inv.flags, environ=inv.environ,
            state_profile=state.profile, dotenv=dotenv.values() if dotenv else None,
        )
    except UltraError as exc:
        run.add(failed("configuration", exc.cause, exc.fix))
        run.usage_error = isinstance(exc, ConfigError)
        return None
    redactor.add(*loaded.settings.secret_values())
    run.add(ok("configuration", describe(loaded)))
    return Context(inv, run, redactor, state, dotenv, loaded)


def describe(loaded: Loaded) -> str:
    s = loaded.settings
    on = [name for name, value in s.features.model_dump().items() if value]
    text = f"profile {s.profile.value} ({loaded.origin('profile')}); on: {', '.join(on) or 'nothing'}"
    if s.features.local_llm:
        text += f"; models: {', '.join(m.name for m in s.models)}"
    return text


def detect_target(ctx: Context, facts: Facts | None = None) -> Target:
    """Which rendering the machine needs: Compose's ``models:`` or the fallback, Desktop or Engine."""
    from ultra_env.facts import gather

    settings = ctx.settings
    if not settings.features.local_llm:
        return Target()
    info = facts.docker_info if facts is not None else gather.docker_info(settings.timeouts.probe)
    target, report = target_for(settings, info)
    ctx.run.add(report)
    return target


def target_for(settings: Settings, info: Probe) -> tuple[Target, TaskResult]:
    from ultra_env.facts.gather import plugin_probe
    from ultra_env.facts.versions import at_least

    desktop = bool(info.value and info.value.desktop)
    compose = plugin_probe(info, "compose")
    kind = "Docker Desktop" if desktop else "Docker Engine"
    mode = settings.model_runner.compose_models
    name = "detect compose"
    if mode != "auto":
        return Target(models_block=mode == "on", desktop=desktop), ok(
            name, f"models: {mode} (model_runner.compose_models); {kind}")
    minimum = settings.min_versions.compose_models
    if not compose.ok:
        return Target(models_block=True, desktop=desktop), warn(
            name, f"Compose not found ({compose.error}); rendering for Compose ≥ {minimum}",
            "install Docker Compose v2.38 or newer (Docker Desktop 4.43+)")
    if at_least(compose.value, minimum):
        return Target(models_block=True, desktop=desktop), ok(
            name, f"Compose {compose.value} ({kind}): top-level models: supported")
    return Target(models_block=False, desktop=desktop), warn(
        name, f"Compose {compose.value} predates models: (needs {minimum}); rendering explicit Model Runner URLs",
        "update Docker Compose to 2.38+ (Docker Desktop 4.43+)")


_VERB = {"create": "created", "update": "updated", "overwrite": "overwritten", "mode": "fixed"}
_WOULD = {"create": "would create", "update": "would update", "overwrite": "would overwrite", "mode": "would fix"}


def render_files(ctx: Context, facts: Facts | None = None) -> bool:
    """Render, validate and write ``docker-compose.yml`` and ``.env``. True when nothing failed."""
    from ultra_env import render

    opts = ctx.inv.options
    target = detect_target(ctx, facts)
    try:
        compose_text = render.render_compose(ctx.settings, target, ctx.inv.templates)
        env_text = render.render_env(ctx.settings, generated=converge.generated_secrets(ctx.dotenv),
                                     templates_dir=ctx.inv.templates)
        plans = [
            converge.plan_generated(ctx.root, converge.COMPOSE_FILE, compose_text, ctx.state, force=opts.force),
            converge.plan_env(ctx.root, ctx.dotenv, env_text, ctx.state),
        ]
    except UltraError as exc:
        ctx.run.add(failed("render templates", exc.cause, exc.fix))
        return False
    conflicts = [p for p in plans if p.action == "conflict"]
    if any(p.writes for p in plans) and not conflicts:
        result = _validate(plans)
        ctx.run.add(result)
        if result.status is Status.FAILED:
            return False
    if conflicts:
        for plan in plans:
            ctx.run.add(_conflict_result(plan) if plan.action == "conflict" else skipped(
                plan.name, "not written: another generated file has a conflict"))
        return False
    backups: list[str] = []
    if not opts.check:
        try:
            backups = converge.apply(ctx.root, plans, ctx.state)
        except UltraError as exc:
            ctx.run.add(failed("write files", exc.cause, exc.fix))
            return False
    for plan in plans:
        ctx.run.add(_file_result(plan, opts.check, backups))
    git = git_exposure(ctx.root)
    if git is not None:
        ctx.run.add(git)
    return True


def git_exposure(root: Path) -> TaskResult | None:
    """A warning when ``.env`` (secrets) is tracked by git or would be committed by ``git add``."""
    from ultra_env import proc

    def git(*args: str) -> proc.Completed | None:
        try:
            return proc.run(["git", "-C", str(root), *args], timeout=10)
        except proc.ProcError:
            return None

    inside = git("rev-parse", "--is-inside-work-tree")
    if inside is None or not inside.ok or inside.stdout.strip() != "true":
        return None
    tracked = git("ls-files", "--error-unmatch", "--", converge.ENV_FILE)
    if tracked is not None and tracked.ok:
        return warn(".env and git", ".env is tracked by git: your keys are in its history",
                    "git rm --cached .env && echo .env >> .gitignore (and rotate the keys it held)")
    ignored = git("check-ignore", "-q", "--", converge.ENV_FILE)
    if ignored is not None and ignored.returncode == 1:
        return warn(".env and git", ".env is not git-ignored: `git add .` would commit your keys",
                    "echo .env >> .gitignore")
    return None


def _validate(plans: list[converge.FilePlan]) -> TaskResult:
    """Ask the real Compose about the candidate files before any of them is written."""
    from ultra_env import compose, proc

    name = "validate compose file"
    by_name = {p.name: p.new for p in plans}
    try:
        problem = compose.validate(by_name[converge.COMPOSE_FILE], by_name[converge.ENV_FILE])
    except proc.ProcError as exc:
        return skipped(name, f"Compose cannot run here ({exc}); the files are not validated")
    if problem is not None:
        return failed(name, problem, "fix templates/docker-compose.yml.j2 (or git checkout -- templates/)")
    return ok(name, "docker compose config accepts the rendered files")


def _conflict_result(plan: converge.FilePlan) -> TaskResult:
    return failed(
        plan.name, "edited since ultra-env last wrote it; your edits are kept and nothing was written",
        "move your changes to docker-compose.override.yml, then `invoke render --force` (keeps a backup)",
        diff=plan.diff,
    )


def _file_result(plan: converge.FilePlan, check: bool, backups: list[str]) -> TaskResult:
    notes = "; ".join(plan.notes)
    if not plan.writes:
        return ok(plan.name, "up to date" + (f" ({notes})" if notes else ""))
    verb = (_WOULD if check else _VERB)[plan.action]
    extra = [notes] if notes else []
    if plan.action == "overwrite" and backups:
        extra.append(f"backup: {', '.join(b for b in backups if plan.name in b)}")
    return changed(plan.name, verb + (f": {'; '.join(extra)}" if extra else ""), diff=plan.diff)


# Commands ---------------------------------------------------------------------------------------


def cmd_render(inv: Invocation) -> int:
    run, redactor = start("render", inv)
    ctx = configure(run, redactor, inv)
    if ctx is not None:
        render_files(ctx)
    return run.finish()


def doctor(ctx: Context, early: Prefetch | None = None) -> Facts:
    """Gather the facts once, concurrently, and add every check to the run."""
    from ultra_env.checks import run_checks
    from ultra_env.facts.gather import gather

    facts = gather(ctx.settings, early)
    for check in run_checks(facts, ctx.settings):
        ctx.run.add(check)
    return facts


def cmd_doctor(inv: Invocation, early: Prefetch | None = None) -> int:
    run, redactor = start("doctor", inv, symbols=True)
    ctx = configure(run, redactor, inv)
    if ctx is None:
        if early:
            early.close()
        return run.finish()
    doctor(ctx, early)
    return run.finish()


STEPS_AFTER_DOCTOR = ("render files", "pull models", "stack up", "health")


def pull_models(ctx: Context, models: list | None = None) -> bool:
    from ultra_env import local_models, report

    progress = (lambda event: None) if ctx.inv.options.json else report.PullProgress()
    results = local_models.pull(local_models.api_for(ctx.settings), models or ctx.settings.models,
                                check=ctx.inv.options.check, on_progress=progress)
    for result in results:
        ctx.run.add(result)
    return not any(r.status is Status.FAILED for r in results)


def health(ctx: Context, facts: Facts | None = None) -> bool:
    from ultra_env import health as checks

    known = facts.model_status.value if facts is not None and facts.model_status is not None else None
    results = checks.run_checks(ctx.settings, project_of(ctx), desktop=bool(facts and facts.desktop),
                                retry=checks.Retrying(ctx.settings.timeouts.health), status=known)
    for result in results:
        ctx.run.add(result)
    return not any(r.status is Status.FAILED for r in results)


def project_of(ctx: Context):  # -> compose.Project
    from ultra_env import compose

    return compose.Project(ctx.root, ctx.settings.project_name)


def stack_up(ctx: Context) -> bool:
    """``docker compose up --wait``; reports what Compose created or recreated, then each service."""
    from ultra_env import compose, proc

    project = project_of(ctx)
    name = "stack up"
    try:
        if ctx.inv.options.check:
            if not (ctx.root / converge.COMPOSE_FILE).exists():
                ctx.run.add(changed(name, "would create the whole stack (docker-compose.yml is not written yet)"))
                return True
            plan = compose.planned_changes(project)
            ctx.run.add(changed(name, "would " + ", ".join(plan)) if plan else ok(name, "every container is up to date"))
            return True
        done = compose.up(project, ctx.settings.timeouts.up)
        after = [] if done.ok else compose.ps(project)
    except proc.ProcError as exc:
        ctx.run.add(failed(name, str(exc), "check `docker compose version` and that the daemon runs (invoke doctor)"))
        return False
    if done.ok:
        # Compose's own account of what it did; `--wait` succeeded, so every service is healthy.
        events = compose.up_events(done.output, project.name)
        what = compose.describe(events)
        ctx.run.add(changed(name, what) if what else ok(name, "every container was already up to date"))
        for service, words in sorted(events.items()):
            ctx.run.add(ok(f"service {service}", "healthy" if "Healthy" in words else "running"))
        return True
    ctx.run.add(failed(name, f"docker compose up failed: {_last_line(done.output) or f'exit {done.returncode}'}",
                       "see the services below; `docker compose logs SERVICE` has the rest"))
    for service in after:
        ctx.run.add(service_result(project, service))
    return False


def service_result(project, service) -> TaskResult:
    from ultra_env import compose

    name = f"service {service.service}"
    if service.ready:
        return ok(name, service.health or "running")
    tail = compose.logs(project, service.service).strip().splitlines()[-8:]
    detail = f"{service.state}" + (f", {service.health}" if service.health else "") + (
        f", exit code {service.exit_code}" if service.state == "exited" else "")
    probe = last_healthcheck_output(service.container)
    said = f"; its healthcheck said: {probe}" if probe else ""
    return failed(name, f"not healthy ({detail}){said}; last log lines:\n" + "\n".join(f"  | {l}" for l in tail),
                  f"docker compose -p {project.name} logs {service.service}")


def last_healthcheck_output(container: str) -> str | None:
    """What the container's last healthcheck printed, from ``docker inspect`` (through python-on-whales,
    imported only on this failure path: it takes ≈0.4 s to import)."""
    from python_on_whales import DockerClient
    from python_on_whales.exceptions import DockerException

    try:
        health = DockerClient().container.inspect(container).state.health
    except DockerException:
        return None
    if health is None or not health.log:
        return None
    last = (health.log[-1].output or "").strip().splitlines()
    return last[-1][:200] if last else f"exit code {health.log[-1].exit_code}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def cmd_setup(inv: Invocation, early: Prefetch | None = None) -> int:
    run, redactor = start("setup", inv)
    ctx = configure(run, redactor, inv)
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
    if ctx.settings.features.local_llm and not pull_models(ctx):
        return run.finish()
    from ultra_env import http

    http.prewarm()  # health needs it; `compose up --wait` leaves the CPU idle meanwhile
    if stack_up(ctx) and not inv.options.check:
        health(ctx, facts)
    return run.finish()


def cmd_health(inv: Invocation) -> int:
    run, redactor = start("health", inv)
    ctx = configure(run, redactor, inv)
    if ctx is not None:
        health(ctx)
    return run.finish()


def llm_targets(ctx: Context, provider: str | None = None, model: str | None = None) -> list:
    """The enabled providers (filtered by ``provider``/``model``); adds a failed task when none is left."""
    from ultra_env import local_models
    from ultra_env.modelnames import normalize
    from ultra_env.providers import registry

    root = local_models.api_for(ctx.settings).root if ctx.settings.features.local_llm else None
    found = registry.targets(ctx.settings, root)
    if provider:
        found = [t for t in found if t.provider.name == provider]
    if model:
        found = [t for t in found if t.model in (model, _normalized_or_same(model, normalize))]
        if not found and provider:
            base = registry.targets(ctx.settings, root)
            found = [registry.Target(t.provider, model) for t in base if t.provider.name == provider][:1]
    if not found:
        profile = ctx.settings.profile.value
        wanted = " ".join(x for x in (provider, model) if x)
        ctx.run.add(failed("providers", f"no enabled provider{' matches ' + wanted if wanted else ''} "
                           f"in the {profile} profile",
                           "invoke profile hybrid (or --local-llm), and set a cloud key in .env for cloud providers"))
        ctx.run.usage_error = bool(wanted)
    return found


def _normalized_or_same(model: str, normalize: Callable[[str], str]) -> str:
    try:
        return normalize(model)
    except ValueError:
        return model


def cmd_llm_ask(inv: Invocation, prompt: str, *, provider: str | None, model: str | None, stream: bool) -> int:
    from ultra_env import ask, report

    run, redactor = start("llm.ask", inv, quiet=True)
    ctx = configure(run, redactor, inv)
    if ctx is None:
        return run.finish()
    found = llm_targets(ctx, provider, model)
    if not found:
        return run.finish()
    printer = report.AnswerPrinter(redactor, as_json=inv.options.json)
    outcome = ask.ask(found[0], prompt, stream=stream and not inv.options.json, timeout=ctx.settings.timeouts.health,
                      on_text=printer.text)
    printer.outcome(outcome)
    if outcome.error is not None:
        run.add(failed(found[0].label, f"{outcome.error.kind}: {outcome.error.message}", "invoke doctor"))
        return run.finish()
    return 0


def cmd_llm_compare(inv: Invocation, prompt: str) -> int:
    from ultra_env import ask, report

    run, redactor = start("llm.compare", inv, quiet=True)
    ctx = configure(run, redactor, inv)
    if ctx is None:
        return run.finish()
    found = llm_targets(ctx)
    if not found:
        return run.finish()
    outcomes = ask.compare(found, prompt, timeout=ctx.settings.timeouts.health)
    report.print_comparison(outcomes, redactor, as_json=inv.options.json)
    return 0 if all(o.error is None for o in outcomes) else 1


def cmd_models_bench(inv: Invocation, *, requests: int, max_tokens: int, prompt_words: int,
                     concurrency: str) -> int:
    from ultra_env import bench, report

    run, redactor = start("models.bench", inv, quiet=True)
    ctx = configure(run, redactor, inv)
    if ctx is None:
        return run.finish()
    try:
        levels = sorted({int(level) for level in concurrency.split(",")})
        if not levels or levels[0] < 1 or requests < 1 or max_tokens < 1 or prompt_words < 0:
            raise ValueError
    except ValueError:
        run.add(failed("models.bench", f"bad numbers: --concurrency {concurrency!r}, --requests {requests}, "
                       f"--max-tokens {max_tokens}", "example: --requests 8 --concurrency 1,2,4 --max-tokens 64"))
        run.usage_error = True
        return run.finish()
    found = llm_targets(ctx)
    if not found:
        return run.finish()
    rows = bench.run(found, prompt_words=prompt_words, max_tokens=max_tokens, requests=requests,
                     concurrencies=levels, timeout=ctx.settings.timeouts.health)
    report.print_bench(rows, as_json=inv.options.json, redactor=redactor)
    return 0 if all(row.errors == 0 for row in rows) else 1


def cmd_models_pull(inv: Invocation, model: str | None) -> int:
    from ultra_env.config import ModelSpec

    run, redactor = start("models.pull", inv)
    ctx = configure(run, redactor, inv)
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
    from ultra_env import dmr, local_models, report

    run, redactor = start("models.list", inv, quiet=True)
    ctx = configure(run, redactor, inv)
    if ctx is None:
        return run.finish()
    try:
        models = local_models.api_for(ctx.settings).models()
    except dmr.DmrError as exc:
        run.add(failed("models", exc.cause, exc.fix or "invoke doctor"))
        return run.finish()
    report.print_models(models, as_json=inv.options.json)
    return 0


def cmd_models_rm(inv: Invocation, name: str, *, yes: bool, ask: Callable[[str], bool]) -> int:
    from ultra_env import dmr, local_models

    run, redactor = start("models.rm", inv)
    ctx = configure(run, redactor, inv)
    if ctx is None:
        return run.finish()
    if not yes and not ask(f"Remove {name} from Docker Model Runner? [y/N] "):
        run.add(failed(f"remove {name}", "not confirmed: nothing was removed", f"invoke models.rm {name} --yes"))
        run.usage_error = True
        return run.finish()
    try:
        api = local_models.api_for(ctx.settings)
        if api.find(name) is None:
            run.add(ok(f"remove {name}", "not present"))
        elif inv.options.check:
            run.add(changed(f"remove {name}", "would remove"))
        else:
            api.remove(name)
            run.add(changed(f"remove {name}", "removed"))
    except (dmr.DmrError, ValueError) as exc:
        run.add(failed(f"remove {name}", getattr(exc, "cause", str(exc)), getattr(exc, "fix", None)))
    return run.finish()


def cmd_up(inv: Invocation) -> int:
    run, redactor = start("up", inv)
    ctx = configure(run, redactor, inv)
    if ctx is not None:
        if not (inv.root / converge.COMPOSE_FILE).exists():
            run.add(failed("stack up", f"no {converge.COMPOSE_FILE} in {inv.root}", "invoke setup (or invoke render)"))
        else:
            stack_up(ctx)
    return run.finish()


def cmd_down(inv: Invocation, *, volumes: bool, yes: bool, ask: Callable[[str], bool]) -> int:
    from ultra_env import compose, proc

    run, redactor = start("down", inv)
    ctx = configure(run, redactor, inv)
    if ctx is None:
        return run.finish()
    project = project_of(ctx)
    if volumes and not yes and not ask(f"Delete the database and cache volumes of {project.name}? [y/N] "):
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
        run.add(failed("stack down", _last_line(done.output), f"docker compose -p {project.name} down"))
    elif present or (volumes and "Volume" in done.output):
        gone = ", ".join(s.service for s in present)
        run.add(changed("stack down", f"removed {gone or 'nothing running'}" + ("; volumes deleted" if volumes else "")))
    else:
        run.add(ok("stack down", "nothing was running"))
    return run.finish()


def cmd_status(inv: Invocation) -> int:
    from ultra_env import compose, proc, report

    run, redactor = start("status", inv, quiet=True)
    ctx = configure(run, redactor, inv)
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
    run, redactor = start("profile", inv)
    inv.flags.insert(0, Flag(f"invoke profile {name}", "profile", name))
    ctx = configure(run, redactor, inv)
    if ctx is None:
        return run.finish()
    new = ctx.settings.profile.value
    old = ctx.state.profile
    if old == new:
        run.add(ok("profile", f"{new} is already the active profile"))
    else:
        ctx.state.profile = new  # saved with the rendered files, so a failed render switches nothing
    rendered = render_files(ctx)
    if old != new:
        verb = "would switch" if inv.options.check else ("switched" if rendered else "did not switch")
        result = changed if rendered else failed
        run.add(result("profile", f"{verb} {old or 'local (default)'} → {new}"))
    return run.finish()


def show_profiles(inv: Invocation) -> int:
    from ultra_env import report

    run, redactor = start("profile", inv, quiet=True)
    ctx = configure(run, redactor, inv)
    if ctx is None:
        return run.finish()
    report.print_profiles(ctx.loaded, as_json=inv.options.json, redactor=redactor)
    return 0


def cmd_config(inv: Invocation) -> int:
    from ultra_env import report

    run, redactor = start("config", inv, quiet=True)
    ctx = configure(run, redactor, inv)
    if ctx is None:
        return run.finish()
    report.print_config(ctx.loaded, as_json=inv.options.json, redactor=redactor)
    return 0


def cmd_env_example(inv: Invocation, path: Path) -> int:
    from ultra_env import files, render

    run, _ = start("env-example", inv)
    text = render.render_env(Settings(), example=True)
    old = files.read_text(path)
    if old == text:
        run.add(ok(path.name, "up to date"))
    else:
        if not inv.options.check:
            files.write_atomic(path, text)
        run.add(changed(path.name, "would update" if inv.options.check else "updated",
                        diff=converge.unified_diff(path.name, old, text)))
    return run.finish()




COMMANDS = {"render": cmd_render, "setup": cmd_setup, "config": cmd_config, "doctor": cmd_doctor, "up": cmd_up,
            "status": cmd_status, "health": cmd_health, "models.list": cmd_models_list}


def confirm(question: str) -> bool:
    """Ask on the terminal; without one, the answer is no."""
    if not sys.stdin.isatty():
        return False
    return input(question).strip().lower() in ("y", "yes")


CHANGING = frozenset({"render", "profile", "setup", "up", "down", "models.pull", "models.rm"})


def main(command: str, toolkit_root: Path, *args: str | None, **flags: Any) -> int:
    """Entry point for ``tasks.py``: one run, under the project lock when it changes anything, and
    never a raw traceback: an unexpected error is reported with every known secret masked."""
    from ultra_env import lock

    root = project_root(toolkit_root)
    try:
        if command in CHANGING and not flags.get("check") and not (command == "profile" and not args[0]):
            try:
                with lock.exclusive(root, command):
                    return dispatch(command, toolkit_root, *args, **flags)
            except UltraError as exc:
                inv = Invocation(root=root, options=Options(json=bool(flags.get("json"))))
                run, _ = start(command, inv)
                run.add(failed("lock", exc.cause, exc.fix))
                return run.finish()
        return dispatch(command, toolkit_root, *args, **flags)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: files are either as before or fully written (atomic writes)\n")
        return 130
    except Exception:
        report_crash(root)
        return 1


def report_crash(root: Path) -> None:
    import traceback

    from ultra_env.redact import Redactor

    redactor = Redactor()
    redactor.add_env(os.environ)
    try:
        dotenv = converge.read_env(root)
        if dotenv is not None:
            redactor.add_env(dotenv.values())
    except Exception:  # the crash report must not crash; an unreadable .env has no secret to mask
        pass
    sys.stderr.write(redactor(traceback.format_exc()))
    sys.stderr.write("internal error: this is a bug in ultra-env (secrets above are masked); "
                     "please report it with the lines above\n")


def dispatch(command: str, toolkit_root: Path, *args: str | None, profile: str | None = None,
         local_llm: bool = False, check: bool = False, diff: bool = False, json: bool = False,
         force: bool = False, keep_going: bool = False, volumes: bool = False, yes: bool = False,
         stream: bool = False, early: Prefetch | None = None, **bench_options: Any) -> int:
    """Entry point for ``tasks.py``: turn flags into an Invocation and run ``command``."""
    flags = []
    if profile:
        flags.append(Flag("--profile", "profile", profile))
    if local_llm:
        flags.append(Flag("--local-llm", "features.local_llm", True))
    inv = Invocation(
        root=project_root(toolkit_root),
        templates=Path(os.environ.get(TEMPLATES_DIR_VAR) or toolkit_root / "templates").resolve(),
        options=Options(check=check, diff=diff, json=json, force=force, keep_going=keep_going),
        flags=flags,
    )
    if command in ("doctor", "setup"):
        return COMMANDS[command](inv, early)
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
    if command == "env-example":
        return cmd_env_example(inv, toolkit_root / "env.example")
    return COMMANDS[command](inv)
