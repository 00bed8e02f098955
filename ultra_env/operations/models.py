"""Local models through Docker Model Runner: reach it (API or CLI), pull what the configuration
asks for, and apply the context size and runtime flags where Compose does not."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ultra_env import runner_verdicts
from ultra_env.config.settings import ModelSpec, Settings
from ultra_env.engine.context import Context
from ultra_env.engine.plan import settled
from ultra_env.engine.run import Status, TaskResult, changed, from_error, ok, skipped, warn
from ultra_env.facts import model_runner as mr
from ultra_env.facts.gather import Facts
from ultra_env.facts.model_runner import api_root
from ultra_env.facts.probe import Probe
from ultra_env.operations import dmr, model_plan
from ultra_env.operations.render import RenderTarget


@dataclass
class Connection:
    """How this run reaches Model Runner, and what it said when asked first."""

    runner: dmr.Runner
    present: list[mr.LocalModel] | None = None  # GET /models' answer, when it gave one
    note: TaskResult | None = None  # why the CLI is used instead of the API, once
    status: mr.RunnerStatus | None = None
    found: dict[str, mr.LocalModel | None] = field(default_factory=dict)  # the runner's answer per name

    @property
    def via_cli(self) -> bool:
        return self.runner.via == "cli"

    @property
    def through(self) -> str:
        """`` (through the docker model CLI)`` when that is how a change was made, else nothing."""
        return " (through the docker model CLI)" if self.via_cli else ""

    def models(self) -> list[mr.LocalModel]:
        if self.present is None:
            self.present = self.runner.models()
        return self.present

    def find(self, name: str) -> mr.LocalModel | None:
        """The stored model the runner serves as ``name`` (it resolves names itself: a default
        registry, ``:latest``, ``hf.co/``), asked once per run and name."""
        if name not in self.found:
            self.found[name] = self.runner.find(name)
        return self.found[name]

    def changed(self) -> None:
        """The store changed: ask again."""
        self.present = None
        self.found.clear()


def connect(
    settings: Settings, environ: Mapping[str, str], *, status: mr.RunnerStatus | None = None, desktop: bool = False
) -> Connection:
    """The API when it answers from the host (``endpointHost`` when it is TCP, else
    ``model_runner.host_url``); the ``docker model`` CLI when the API does not answer but the runner
    runs (host-side TCP off), with a note saying so and how to turn it on."""
    timeout = settings.timeouts.probe
    configured = settings.model_runner.host_url
    if status is None:
        try:
            status = dmr.status(timeout, configured)
        except dmr.DmrError:
            status = None
    api = dmr.Api(api_root(Probe(value=status), configured), timeout=timeout, environ=environ)
    try:
        return Connection(api, present=api.models(), status=status)
    except dmr.Transient as exc:
        if api.root != configured.rstrip("/"):
            # Engine's endpointHost names port 12434 whatever the runner's port (reference section 3).
            fallback = dmr.Api(configured.rstrip("/"), timeout=timeout, environ=environ)
            try:
                return Connection(fallback, present=fallback.models(), status=status)
            except dmr.DmrError:
                pass
        if status is None or not status.running:
            return Connection(api, status=status)
        desktop = desktop or status.kind == "Docker Desktop"
        silent = runner_verdicts.api_silent(
            api.root, exc.cause, settings, holder=None, desktop_app=desktop, cli_fallback=True
        )
        note = warn("Model Runner API", silent.cause, silent.fix, area="Model Runner")
        return Connection(dmr.Cli(timeout=timeout, environ=environ), note=note, status=status)


def pull(
    conn: Connection, models: list[ModelSpec], *, check: bool, on_progress: Callable[[dmr.Progress], None]
) -> list[TaskResult]:
    """One task per model, as ``model_plan.pull`` decides: ok when present, changed when pulled,
    failed with the fix."""
    results = []
    for model in models:
        try:
            found = {model.name: conn.find(model.name)}
        except dmr.DmrError as exc:
            results.append(from_error(f"pull {model.name}", exc, "invoke doctor"))
            continue
        (step,) = model_plan.pull([model], found)
        results.append(settled(step, check=check) or _pull(conn, model, step.task, on_progress))
    return results


def _pull(conn: Connection, model: ModelSpec, task: str, on_progress: Callable[[dmr.Progress], None]) -> TaskResult:
    start = time.monotonic()
    seen: list[dmr.Progress] = []

    def progress(event: dmr.Progress) -> None:
        seen.append(event)
        on_progress(event)

    try:
        conn.runner.pull(model.name, progress)
    except dmr.DmrError as exc:
        return from_error(task, exc, f"invoke models.pull --model {model.name}")
    conn.changed()
    seconds = time.monotonic() - start
    total = max((p.total for p in seen), default=0)
    size = f"{total / 1e6:.1f} MB " if total else ""
    return changed(task, f"pulled {size}in {seconds:.1f}s{conn.through}")


def warm_up(
    conn: Connection,
    models: list[ModelSpec],
    *,
    check: bool,
    timeout: float,
    refuse: Callable[[ModelSpec, mr.LocalModel], TaskResult | None] = lambda spec, model: None,
) -> list[TaskResult]:
    """Each model loaded before anything asks it (the first answer then pays no load against its
    own timeout), with the time the load took; ``ok``: a loaded model changes no file or setting.
    ``refuse`` may stop a load first (a model that does not fit the runner's memory)."""
    if not isinstance(conn.runner, dmr.Api):
        return [skipped("load models", "the API does not answer from the host: the first request loads them")]
    if check:
        return [skipped(f"load {m.name}", "--check: nothing is loaded") for m in models]
    results = []
    for model in models:
        name = f"load {model.name}"
        try:
            stored = conn.find(model.name)
        except dmr.DmrError as exc:
            results.append(from_error(name, exc))
            continue
        refused = refuse(model, stored) if stored is not None else None
        if refused is not None:
            results.append(refused)
            continue
        start = time.monotonic()
        try:
            conn.runner.preload(model.name, timeout)
        except dmr.DmrError as exc:
            results.append(from_error(name, exc))
            continue
        results.append(ok(name, f"loaded in {time.monotonic() - start:.1f}s"))
    return results


def config_for(conn: Connection, configs: list[mr.AppliedConfig], name: str) -> mr.AppliedConfig | None:
    """The configuration applied to ``name`` (the runner resolves the name to a stored model)."""
    return model_plan.applied_to(configs, conn.find(name))


def configure(conn: Connection, models: list[ModelSpec], *, check: bool) -> list[TaskResult]:
    """Apply context size, runtime flags and keep-alive to ``models``, as ``model_plan.configure``
    decides: ok when already applied."""
    if not models:
        return []
    try:
        configs = conn.runner.applied() or []
        found = {m.name: conn.find(m.name) for m in models}
    except dmr.DmrError as exc:
        return [from_error(f"configure {m.name}", exc) for m in models]
    results = []
    for step in model_plan.configure(models, configs, found):
        result = settled(step, check=check)
        if result is None:
            assert step.model is not None
            model = step.model
            try:
                conn.runner.configure(model.name, model.context_size, model.runtime_flags, model.keep_alive)
            except dmr.DmrError as exc:
                result = from_error(step.task, exc)
            else:
                result = changed(step.task, f"applied {step.why.removeprefix('apply ')}{conn.through}")
        results.append(result)
    return results


def connect_runner(ctx: Context, facts: Facts | None = None) -> Connection:
    """How this run reaches Model Runner; says once when it must go through the CLI."""
    status = facts.model_status.value if facts is not None and facts.model_status is not None else None
    conn = connect(ctx.settings, ctx.variables, status=status, desktop=bool(facts and facts.desktop))
    if conn.note is not None:
        ctx.run.add(conn.note)
    return conn


def pull_models(
    ctx: Context,
    models: list[ModelSpec] | None = None,
    conn: Connection | None = None,
    progress: Callable[[dmr.Progress], None] | None = None,
) -> bool:
    """Pull the configured models (or ``models``), a task each; ``progress`` hears the bytes."""
    results = pull(
        conn or connect_runner(ctx),
        models or ctx.settings.models,
        check=ctx.inv.options.check,
        on_progress=progress or (lambda event: None),
    )
    for result in results:
        ctx.run.add(result)
    return not any(r.status is Status.FAILED for r in results)


def configure_models(ctx: Context, conn: Connection, facts: Facts | None = None) -> bool:
    """Apply context sizes and runtime flags that Compose will not: all of them without ``models:``,
    the runtime flags when Compose drops them (its version, or the plugin's)."""
    target = ctx.render_target or RenderTarget()
    plugin = facts.plugin("model").value if facts is not None else None
    compose = facts.plugin("compose").value if facts is not None else None
    models = model_plan.to_configure(
        ctx.settings.models,
        compose_block=target.models_block,
        compose_drops_flags=model_plan.compose_drops_flags(compose, plugin),
    )
    results = configure(conn, models, check=ctx.inv.options.check)
    for result in results:
        ctx.run.add(result)
    return not any(r.status is Status.FAILED for r in results)


def warm_models(
    ctx: Context, conn: Connection, refuse: Callable[[ModelSpec, mr.LocalModel], TaskResult | None]
) -> bool:
    """Load the configured models now, a task each (``warm_up``), unless ``refuse`` says no."""
    results = warm_up(
        conn, ctx.settings.models, check=ctx.inv.options.check, timeout=ctx.settings.timeouts.health, refuse=refuse
    )
    for result in results:
        ctx.run.add(result)
    return not any(r.status is Status.FAILED for r in results)
