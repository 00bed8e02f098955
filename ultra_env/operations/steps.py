"""The steps runs are made of: render, doctor, pull, stack up, health. Each adds its tasks to the
run in the Context and says whether the run may go on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from urllib.parse import urlsplit
from pathlib import Path
from typing import TYPE_CHECKING

from ultra_env import concurrently
from ultra_env.operations import converge
from ultra_env.operations.state import state_dir
from ultra_env.engine.context import Context
from ultra_env.config.settings import Settings
from ultra_env.errors import UltraError
from ultra_env.operations.render import Target
from ultra_env.engine.run import Status, TaskResult, changed, failed, ok, skipped, warn

if TYPE_CHECKING:
    from ultra_env.facts.gather import Facts, Prefetch, Probe


def detect_target(ctx: Context, facts: Facts | None = None) -> Target:
    """Which rendering the machine needs: Compose's ``models:`` or the fallback, Desktop or Engine."""
    from ultra_env.facts import gather

    settings = ctx.settings
    if not settings.features.local_llm:
        return Target()
    info = facts.docker_info if facts is not None else gather.docker_info(settings.timeouts.probe)
    target, report = target_for(settings, info)
    ctx.run.add(report)
    if not settings.model_runner.container_url:
        # The runner's own container-facing endpoint (`docker model status --json`), when it names
        # one: without models: the services get it as Compose would have given it, and Ultra's
        # MODEL_RUNNER_URL is derived from it either way.
        found = facts.model_status if facts is not None and facts.model_status is not None else \
            gather.model_status(settings.timeouts.probe, settings.model_runner.host_url)
        endpoint = found.value.endpoint if found.value is not None else None
        target = replace(target, runner_endpoint=usable_endpoint(endpoint))
    return target


def usable_endpoint(endpoint: str | None) -> str | None:
    """A status endpoint that names a host (old plugins printed ``http://:0/engines/v1/``)."""
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    return endpoint.rstrip("/") if parts.hostname and parts.port != 0 else None


def target_for(settings: Settings, info: Probe) -> tuple[Target, TaskResult]:
    from ultra_env.facts.gather import plugin_probe
    from ultra_env.operations.render import MODEL_VAR_SINCE, MODELS_SINCE, compose_support

    desktop = bool(info.value and info.value.desktop)
    compose = plugin_probe(info, "compose")
    kind = "Docker Desktop" if desktop else "Docker Engine"
    mode = settings.model_runner.compose_models
    name = "detect compose"
    models_block, model_var = compose_support(compose.value if compose.ok else None)
    if mode != "auto":
        return Target(models_block=mode == "on", desktop=desktop, model_var=model_var), ok(
            name, f"models: {mode} (model_runner.compose_models); {kind}")
    target = Target(models_block=models_block, desktop=desktop, model_var=model_var)
    if not compose.ok:
        return target, warn(name, f"Compose not found ({compose.error}); rendering for Compose ≥ {MODEL_VAR_SINCE}",
                            "install Docker Compose v2.38.1 or newer (Docker Desktop 4.43+)")
    if not models_block:
        return target, warn(
            name, f"Compose {compose.value} predates models: (needs {MODELS_SINCE}); rendering explicit Model Runner "
            "URLs, and setup applies context sizes itself", "update Docker Compose to 2.38.1+ (Docker Desktop 4.43+)")
    if not model_var:
        return target, ok(name, f"Compose {compose.value} ({kind}): models: with endpoint_var only (model_var needs "
                          f"{MODEL_VAR_SINCE}); the model name goes in the environment")
    return target, ok(name, f"Compose {compose.value} ({kind}): top-level models: supported")


_VERB = {"create": "created", "update": "updated", "overwrite": "overwritten", "mode": "fixed"}


_WOULD = {"create": "would create", "update": "would update", "overwrite": "would overwrite", "mode": "would fix"}


def render_files(ctx: Context, facts: Facts | None = None) -> bool:
    """Render, validate and write ``docker-compose.yml`` and ``.env``. True when nothing failed."""
    from ultra_env.operations import image as build
    from ultra_env.operations import render

    opts = ctx.inv.options
    target = ctx.target = detect_target(ctx, facts)
    try:
        backend, image_context = build.plan(ctx.settings, ctx.root)
        compose_text = render.render_compose(ctx.settings, target, backend, ctx.inv.templates)
        generated = converge.generated_secrets(ctx.dotenv)
        ctx.redactor.add(*generated.values())
        env_text = render.render_env(ctx.settings, generated=generated, templates_dir=ctx.inv.templates)
        plans = [
            converge.plan_generated(ctx.root, converge.COMPOSE_FILE, compose_text, ctx.state, force=opts.force),
            converge.plan_env(ctx.root, ctx.dotenv, env_text, ctx.state),
        ]
    except UltraError as exc:
        ctx.run.add(failed("render templates", exc.cause, exc.fix))
        ctx.run.usage_error = exc.exit_code == 2
        return False
    conflicts = [p for p in plans if p.action == "conflict"]
    if any(p.writes for p in plans) and not conflicts:
        result, users_file = _validate(plans, env_text)
        ctx.run.add(result)
        if result.status is Status.FAILED:
            ctx.run.usage_error = users_file
            return False
    if conflicts:
        for plan in plans:
            ctx.run.add(_conflict_result(plan) if plan.action == "conflict" else skipped(
                plan.name, "not written: another generated file has a conflict"))
        return False
    backups: list[str] = []
    staged = False
    if not opts.check:
        try:
            if image_context is not None:
                staged = build.stage(image_context, state_dir(ctx.root))
            ctx.state.backend_image = backend.image
            backups = converge.apply(ctx.root, plans, ctx.state)
        except UltraError as exc:
            ctx.run.add(failed("write files", exc.cause, exc.fix))
            return False
    for plan in plans:
        ctx.run.add(_file_result(plan, opts.check, backups))
    if staged:
        ctx.run.add(changed("backend build context", f"staged for {backend.image} (.ultra-env/build/)"))
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


def _validate(plans: list[converge.FilePlan], template_env: str) -> tuple[TaskResult, bool]:
    """Ask the real Compose about the candidate files before any of them is written. When it
    refuses them but takes the same Compose file with the template's own .env, the fault is a
    value of yours in .env (True: exit 2, its line named), not the template's."""
    from ultra_env import proc
    from ultra_env.operations import compose
    from ultra_env.operations import envfile

    name = "validate compose file"
    by_name = {p.name: p.new for p in plans}
    try:
        problem = compose.validate(by_name[converge.COMPOSE_FILE], by_name[converge.ENV_FILE])
        if problem is None:
            return ok(name, "docker compose config accepts the rendered files"), False
        template_fault = problem.startswith("failed to read") is False and compose.validate(
            by_name[converge.COMPOSE_FILE], template_env) is not None
    except proc.ProcError as exc:
        return skipped(name, f"Compose cannot run here ({exc}); the files are not validated"), False
    if template_fault:
        return failed(name, problem, "fix templates/docker-compose.yml.j2 (or git checkout -- templates/)"), False
    line = _culprit(by_name[converge.COMPOSE_FILE], by_name[converge.ENV_FILE], template_env)
    where = f"{converge.ENV_FILE}:{line}" if line else converge.ENV_FILE
    said = problem.removeprefix(f"failed to read {converge.ENV_FILE}: ")
    return failed(name, f"Compose refuses a value of {where}: {said}", f"fix {where}"), True


CULPRITS_TRIED = 12


def _culprit(compose_text: str, env_text: str, template_env: str) -> int | None:
    """The line of the value of yours that Compose refuses: each value that differs from the
    template's is put back to the template's (or left out), one at a time, until Compose accepts."""
    from ultra_env.operations import compose
    from ultra_env.operations import envfile

    doc, template = envfile.parse(env_text, converge.ENV_FILE), envfile.parse(template_env)
    theirs = template.values()
    suspects = [e for e in doc.entries if e.key is not None and theirs.get(e.key) != e.value][:CULPRITS_TRIED]
    for suspect in suspects:
        kept = [e for e in doc.entries if e is not suspect]
        fixed = envfile.EnvDoc(kept + ([envfile.Entry(f"\n{envfile.assignment(suspect.key, theirs[suspect.key])}\n")]
                                       if suspect.key in theirs else []))
        if compose.validate(compose_text, fixed.render()) is None:
            return envfile.line_of(doc, suspect.key) if doc.last(suspect.key) is suspect else None
    return None


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


def live_keys(ctx: Context) -> None:
    """``doctor --live``: does each configured cloud key still work? One models-list call each, at
    once; the key itself is never printed."""
    from ultra_env.llm.providers import registry
    from ultra_env.llm.providers.base import ProviderError

    settings = ctx.settings
    if not settings.features.cloud_llm:
        ctx.run.add(skipped("keys (live)", f"{settings.profile.value} profile: no cloud providers"))
        return
    keyed = {name: key for name in settings.providers if (key := registry.cloud_key(settings, name))}

    def check(name: str) -> TaskResult:
        provider = settings.providers[name]
        task = f"{name} key (live)"
        try:
            models = registry.cloud_provider(name, keyed[name], provider.base_url).list_models(timeout=15)
        except ProviderError as exc:
            if exc.kind == "auth":
                return failed(task, f"{name} refused {provider.key_var} ({exc.status}): invalid, expired or revoked",
                              f"put a valid key in .env: {provider.key_var}=…")
            if exc.kind == "quota":
                return failed(task, f"{name} accepts {provider.key_var} but its quota is spent: {exc.message}",
                              "raise the limit or add credit in the provider's console")
            if exc.kind in ("connection", "timeout"):
                return warn(task, f"{name} could not be reached ({exc.kind}): offline?", "try again when online")
            return warn(task, f"{name}: {exc.kind}: {exc.message}", "invoke doctor --live again later")
        return ok(task, f"{provider.key_var} accepted ({len(models)} models visible)")

    if not keyed:
        return
    for result in concurrently.each(check, keyed):
        result.area = "Cloud keys"
        ctx.run.add(result)


def doctor(ctx: Context, early: Prefetch | None = None) -> Facts:
    """Gather the facts once, concurrently, and add every check to the run."""
    from ultra_env.checks.rules import run_checks
    from ultra_env.facts.gather import gather

    facts = gather(ctx.settings, early)
    for check in run_checks(facts, ctx.settings):
        ctx.run.add(check)
    if ctx.inv.options.live:
        live_keys(ctx)
    return facts


def connect_runner(ctx: Context, facts: Facts | None = None):  # -> local_models.Connection
    """How this run reaches Model Runner; says once when it must go through the CLI."""
    from ultra_env.operations import models as local_models

    status = facts.model_status.value if facts is not None and facts.model_status is not None else None
    conn = local_models.connect(ctx.settings, ctx.variables, status=status, desktop=bool(facts and facts.desktop))
    if conn.note is not None:
        ctx.run.add(conn.note)
    return conn


def pull_models(ctx: Context, models: list | None = None, conn=None) -> bool:
    from ultra_env.operations import models as local_models
    from ultra_env.cli import output as report

    progress = (lambda event: None) if ctx.inv.options.json else report.PullProgress()
    results = local_models.pull(conn or connect_runner(ctx), models or ctx.settings.models,
                                check=ctx.inv.options.check, on_progress=progress)
    for result in results:
        ctx.run.add(result)
    return not any(r.status is Status.FAILED for r in results)


FLAGS_THROUGH_COMPOSE = "1.0.6"  # Compose passes runtime flags only to plugins this new (reference section 6)


def configure_models(ctx: Context, conn, facts: Facts | None = None) -> bool:
    """Apply context sizes and runtime flags that Compose will not: all of them without ``models:``,
    the runtime flags when the plugin is too old for Compose to pass them."""
    from ultra_env.operations import models as local_models
    from ultra_env.facts.versions import at_least

    target = ctx.target or Target()
    plugin = facts.plugin("model").value if facts is not None else None
    old_plugin = at_least(plugin, FLAGS_THROUGH_COMPOSE) is False
    models = [m for m in ctx.settings.models
              if not target.models_block or (m.runtime_flags and old_plugin)]
    results = local_models.configure(conn, models, check=ctx.inv.options.check)
    for result in results:
        ctx.run.add(result)
    return not any(r.status is Status.FAILED for r in results)


def health(ctx: Context, facts: Facts | None = None) -> bool:
    from ultra_env.checks import health as checks

    known = facts.model_status.value if facts is not None and facts.model_status is not None else None
    results = checks.run_checks(ctx.settings, project_of(ctx), desktop=bool(facts and facts.desktop),
                                retry=checks.Retrying(ctx.settings.timeouts.health), status=known,
                                environ=ctx.variables)
    for result in results:
        ctx.run.add(result)
    return not any(r.status is Status.FAILED for r in results)


def project_of(ctx: Context):  # -> compose.Project
    from ultra_env.operations import compose

    return compose.Project(ctx.root, ctx.settings.project_name)


def stack_up(ctx: Context) -> bool:
    """``docker compose up --wait``; reports what Compose created or recreated, then each service."""
    from ultra_env import proc
    from ultra_env.operations import compose

    project = project_of(ctx)
    name = "stack up"
    if not build_backend(ctx, project):
        ctx.run.add(skipped(name, "the backend has no image"))
        return False
    try:
        if ctx.inv.options.check:
            if not (ctx.root / converge.COMPOSE_FILE).exists():
                ctx.run.add(changed(name, "would create the whole stack (docker-compose.yml is not written yet)"))
                return True
            plan = compose.planned_changes(project, ctx.state.up_hashes)
            ctx.run.add(changed(name, "would " + ", ".join(plan)) if plan else ok(name, "every container is up to date"))
            return True
        done = compose.up(project, ctx.settings.timeouts.up)
        after = [] if done.ok else compose.ps(project)
    except proc.ProcError as exc:
        ctx.run.add(failed(name, str(exc), "check `docker compose version` and that the daemon runs (invoke doctor)"))
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
    ctx.run.add(failed(name, f"docker compose up failed: {last_line(done.output) or f'exit {done.returncode}'}",
                       "see the services below; `docker compose logs SERVICE` has the rest"))
    for service in after:
        ctx.run.add(service_result(project, service))
    return False


def build_backend(ctx: Context, project) -> bool:
    """The backend's image: the shipped one is built once per content (its tag is its digest), your
    Ultra from ``backend.source`` each time (Docker's cache makes an unchanged one quick);
    ``images.backend`` is pulled by Compose like any other image."""
    import time

    from ultra_env import proc
    from ultra_env.operations import image as build
    from ultra_env.operations import compose

    settings = ctx.settings
    if settings.images.backend:
        return True
    name = "backend image"
    try:
        image = ctx.state.backend_image or build.plan(settings, ctx.root)[0].image
        source = settings.backend.source
        before = compose.image_id(image)
        if before and not source:
            ctx.run.add(ok(name, f"{image} is built"))
            return True
        if ctx.inv.options.check:
            ctx.run.add(changed(name, f"would build {image}" + (f" from {source}" if source else "")))
            return True
        start = time.monotonic()
        done = project.run("build", "backend", timeout=settings.timeouts.build)
    except (proc.ProcError, UltraError) as exc:
        ctx.run.add(failed(name, getattr(exc, "cause", str(exc)), "invoke doctor"))
        return False
    if not done.ok:
        fix = (f"docker compose -p {project.name} build backend shows the whole output" +
               ("; without a package index, set backend.wheelhouse (docs/ultra-backend.md)" if not source else ""))
        ctx.run.add(failed(name, f"building {image} failed: {last_line(done.output) or f'exit {done.returncode}'}",
                           fix))
        return False
    seconds = time.monotonic() - start
    if source and compose.image_id(image) == before:
        ctx.run.add(ok(name, f"{image} is up to date with {source}"))
    else:
        ctx.run.add(changed(name, f"built {image} in {seconds:.0f}s" + (f" from {source}" if source else "")))
    return True


def remember_up(ctx: Context, project) -> None:
    """Record what the services were made from, so that ``--check`` can tell later (see compose)."""
    from ultra_env import proc
    from ultra_env.operations import compose
    from ultra_env.operations import state as state_mod

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


def service_result(project, service) -> TaskResult:
    from ultra_env import proc
    from ultra_env.operations import compose

    name = f"service {service.service}"
    if service.ready:
        return ok(name, service.health or "running")
    try:
        tail = compose.logs(project, service.service).strip().splitlines()[-8:]
    except proc.ProcError as exc:
        tail = [f"(no logs: {exc})"]
    detail = f"{service.state}" + (f", {service.health}" if service.health else "") + (
        f", exit code {service.exit_code}" if service.state == "exited" else "")
    probe = last_healthcheck_output(service.container)
    said = f"; its healthcheck said: {probe}" if probe else ""
    return failed(name, f"not healthy ({detail}){said}; last log lines:\n" + "\n".join(f"  | {l}" for l in tail),
                  f"docker compose -p {project.name} logs {service.service}")


def last_healthcheck_output(container: str) -> str | None:
    """What the container's last healthcheck printed. ``docker inspect`` runs through our wrapper
    (a timeout); python-on-whales' typed model reads its JSON (imported only on this failure path:
    the package takes ≈0.4 s to import)."""
    import json

    from ultra_env import proc

    try:
        done = proc.run(["docker", "inspect", "--type", "container", container], timeout=15)
    except proc.ProcError:
        return None
    if not done.ok:
        return None
    from python_on_whales.components.container.models import ContainerInspectResult

    try:
        health = ContainerInspectResult.model_validate(json.loads(done.stdout)[0]).state.health
    except (ValueError, IndexError):
        return None
    if health is None or not health.log:
        return None
    last = (health.log[-1].output or "").strip().splitlines()
    return last[-1][:200] if last else f"exit code {health.log[-1].exit_code}"


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def llm_targets(ctx: Context, provider: str | None = None, model: str | None = None) -> list:
    """The enabled providers (filtered by ``provider``/``model``); adds a failed task when none is left."""
    from ultra_env.operations import dmr
    from ultra_env.operations import models as local_models
    from ultra_env.config.modelnames import normalize
    from ultra_env.llm.providers import registry

    root = None
    if ctx.settings.features.local_llm:
        conn = local_models.connect(ctx.settings, ctx.variables)
        if conn.note is not None:  # the CLI cannot answer a prompt: the local model needs the API
            ctx.run.add(conn.note)
        root = conn.runner.root if isinstance(conn.runner, dmr.Api) else ctx.settings.model_runner.host_url
    environ = ctx.variables  # endpoint keys: .env, env
    found = registry.targets(ctx.settings, root, environ)
    if provider:
        found = [t for t in found if t.provider.name == provider]
    if model:
        found = [t for t in found if t.model in (model, _normalized_or_same(model, normalize))]
        if not found and provider:
            base = registry.targets(ctx.settings, root, environ)
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
