"""Render, validate with the real Compose, and write the project's files: ``docker-compose.yml``,
``.env`` and the state, as one transaction."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ultra_env import proc
from ultra_env.engine.context import Context
from ultra_env.engine.plan import DONE, Action
from ultra_env.engine.run import Status, TaskResult, changed, failed, from_error, ok, refused, skipped, warn
from ultra_env.errors import UltraError
from ultra_env.operations import compose, converge, render
from ultra_env.operations import image as build
from ultra_env.operations.render_target import detect_target
from ultra_env.project import envfile
from ultra_env.project.compose_files import ComposeFiles
from ultra_env.project.state import state_dir

if TYPE_CHECKING:
    from ultra_env.facts.gather import Facts


def render_files(ctx: Context, facts: Facts | None = None) -> bool:
    """Render, validate and write ``docker-compose.yml`` and ``.env``. True when nothing failed."""

    opts = ctx.inv.options
    target = ctx.render_target = detect_target(ctx, facts)
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
        ctx.run.add(from_error("render templates", exc))
        return False
    conflicts = [p for p in plans if p.action is Action.CONFLICT]
    found = ctx.compose_files
    if (any(p.writes for p in plans) or found.extra or found.problem()) and not conflicts:
        result = ctx.run.add(_validate(plans, env_text, found))
        if result.status is Status.FAILED:
            return False
    if conflicts:
        for plan in plans:
            ctx.run.add(
                _conflict_result(plan)
                if plan.action is Action.CONFLICT
                else skipped(plan.name, "not written: another generated file has a conflict")
            )
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
            ctx.run.add(from_error("write files", exc))
            return False
    for plan in plans:
        ctx.run.add(file_result(plan, opts.check, backups))
    if staged:
        ctx.run.add(changed("backend build context", f"staged for {backend.image} (.ultra-env/build/)"))
    git = git_exposure(ctx.root)
    if git is not None:
        ctx.run.add(git)
    return True


def git_exposure(root: Path) -> TaskResult | None:
    """A warning when ``.env`` (secrets) is tracked by git or would be committed by ``git add``."""

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
        return warn(
            ".env and git",
            ".env is tracked by git: your keys are in its history",
            "git rm --cached .env && echo .env >> .gitignore (and rotate the keys it held)",
        )
    ignored = git("check-ignore", "-q", "--", converge.ENV_FILE)
    if ignored is not None and ignored.returncode == 1:
        return warn(
            ".env and git", ".env is not git-ignored: `git add .` would commit your keys", "echo .env >> .gitignore"
        )
    return None


def _validate(plans: list[converge.FilePlan], template_env: str, found: ComposeFiles) -> TaskResult:
    """Ask the real Compose about the candidate files before any of them is written, then with the
    files Compose merges over them (an override), as ``up`` will read them. When Compose refuses
    the rendered files but takes the same Compose file with the template's own .env, the fault is a
    value of yours in .env (exit 2, its line named), not the template's."""

    name = "validate compose file"
    shadowed = found.problem()
    if shadowed is not None:
        return refused(name, *shadowed)
    by_name = {p.name: p.new for p in plans}
    try:
        problem = compose.validate(by_name[converge.COMPOSE_FILE], by_name[converge.ENV_FILE])
        if problem is None and found.extra:
            return _validate_over(by_name, found)
        if problem is None:
            return ok(name, "docker compose config accepts the rendered files")
        template_fault = (
            problem.startswith("failed to read") is False
            and compose.validate(by_name[converge.COMPOSE_FILE], template_env) is not None
        )
    except proc.ProcError as exc:
        return skipped(name, f"Compose cannot run here ({exc}); the files are not validated")
    if template_fault:
        return failed(name, problem, "fix templates/docker-compose.yml.j2 (or git checkout -- templates/)")
    line = _culprit(by_name[converge.COMPOSE_FILE], by_name[converge.ENV_FILE], template_env)
    where = f"{converge.ENV_FILE}:{line}" if line else converge.ENV_FILE
    said = problem.removeprefix(f"failed to read {converge.ENV_FILE}: ")
    return refused(name, f"Compose refuses a value of {where}: {said}", f"fix {where}")


def _validate_over(by_name: dict[str, str], found: ComposeFiles) -> TaskResult:
    """The rendered files are good; Compose must also take them with the files merged over them."""
    name, over = "validate compose file", found.names(found.extra)
    try:
        problem = compose.validate(by_name[converge.COMPOSE_FILE], by_name[converge.ENV_FILE], found.extra, found.root)
    except proc.ProcError as exc:
        return skipped(name, f"Compose cannot run here ({exc}); the files are not validated")
    if problem is None:
        return ok(name, f"docker compose config accepts the rendered files with {over}")
    return refused(name, f"Compose refuses {over} over the rendered files: {problem}", found.extra_fix())


CULPRITS_TRIED = 12


def _culprit(compose_text: str, env_text: str, template_env: str) -> int | None:
    """The line of the value of yours that Compose refuses: each value that differs from the
    template's is put back to the template's (or left out), one at a time, until Compose accepts."""

    doc, template = envfile.parse(env_text, converge.ENV_FILE), envfile.parse(template_env)
    theirs = template.values()
    suspects = [e for e in doc.entries if e.key is not None and theirs.get(e.key) != e.value][:CULPRITS_TRIED]
    for suspect in suspects:
        if suspect.key is None:
            continue
        kept = [e for e in doc.entries if e is not suspect]
        fixed = envfile.EnvDoc(
            kept
            + (
                [envfile.Entry(f"\n{envfile.assignment(suspect.key, theirs[suspect.key])}\n")]
                if suspect.key in theirs
                else []
            )
        )
        if compose.validate(compose_text, fixed.render()) is None:
            return envfile.line_of(doc, suspect.key) if doc.last(suspect.key) is suspect else None
    return None


def _conflict_result(plan: converge.FilePlan) -> TaskResult:
    return failed(
        plan.name,
        "edited since ultra-env last wrote it; your edits are kept and nothing was written",
        "move your changes to docker-compose.override.yml, then `invoke render --force` (keeps a backup)",
        diff=plan.diff,
    )


def file_result(plan: converge.FilePlan, check: bool, backups: list[str]) -> TaskResult:
    notes = "; ".join(plan.notes)
    if not plan.writes:
        return ok(plan.name, "up to date" + (f" ({notes})" if notes else ""))
    verb = f"would {plan.action}" if check else DONE[plan.action]
    extra = [notes] if notes else []
    if plan.action is Action.OVERWRITE and backups:
        extra.append(f"backup: {', '.join(b for b in backups if plan.name in b)}")
    return changed(plan.name, verb + (f": {'; '.join(extra)}" if extra else ""), diff=plan.diff)
