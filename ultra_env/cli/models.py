"""The ``models.*`` tasks: pull, list, remove and benchmark local models."""

from __future__ import annotations

from pydantic import ValidationError

from ultra_env.cli import output
from ultra_env.cli.command import command, confirm
from ultra_env.config.modelnames import InvalidModelName
from ultra_env.config.settings import ModelSpec
from ultra_env.engine.context import Context
from ultra_env.engine.plan import settled
from ultra_env.engine.run import changed, from_error, refused
from ultra_env.errors import ConfigError
from ultra_env.llm import bench as benchmark
from ultra_env.llm.targets import llm_targets
from ultra_env.operations import dmr, model_plan
from ultra_env.operations import models as local_models
from ultra_env.operations.models import connect_runner, pull_models


@command("models.pull", changes=True)
def pull(ctx: Context, *, model: str | None = None) -> None:
    models = None
    if model:
        try:
            models = [ModelSpec(name=model)]
        except ValidationError as exc:
            ctx.run.add(
                refused(
                    "pull",
                    f"--model: {exc.errors()[0]['msg'].removeprefix('Value error, ')}",
                    "example: --model ai/smollm2",
                )
            )
            return
    pull_models(ctx, models, progress=None if ctx.inv.options.json else output.PullProgress(ctx.redactor))


@command("models.list", quiet=True)
def list_(ctx: Context) -> int | None:
    conn = local_models.connect(ctx.settings, ctx.variables)
    if conn.note is not None:
        output.note(conn.note, ctx.redactor)
    try:
        models = conn.models()
    except dmr.DmrError as exc:
        ctx.run.add(from_error("models", exc, "invoke doctor"))
        return None
    output.print_models(models, as_json=ctx.inv.options.json, redactor=ctx.redactor)
    return 0


@command("models.rm", changes=True, positional=("name",))
def rm(ctx: Context, *, name: str, yes: bool = False) -> None:
    """``--force`` (the run's options) removes a model even while it is loaded."""
    run, options = ctx.run, ctx.inv.options
    task = f"remove {name}"
    if not yes and not options.check and not confirm(f"Remove {name} from Docker Model Runner? [y/N] "):
        run.add(refused(task, "not confirmed: nothing was removed", f"invoke models.rm {name} --yes"))
        return
    try:
        conn = connect_runner(ctx)
        step = model_plan.remove(name, conn.find(name))
        result = settled(step, check=options.check)
        if result is None:
            conn.runner.remove(step.tag or name, force=options.force)
            result = changed(task, f"removed{conn.through}")
        run.add(result)
    except InvalidModelName as exc:
        run.add(from_error(task, exc, "invoke models.list"))
    except dmr.DmrError as exc:
        run.add(from_error(task, exc))


@command("models.bench", quiet=True)
def bench(ctx: Context, *, requests: str, max_tokens: str, prompt_words: str, concurrency: str) -> int | None:
    run = ctx.run
    try:
        requests_n = benchmark.whole("requests", requests)
        max_tokens_n = benchmark.whole("max-tokens", max_tokens)
        prompt_words_n = benchmark.whole("prompt-words", prompt_words)
        levels = sorted({benchmark.whole("concurrency", level) for level in str(concurrency).split(",")})
    except ConfigError as exc:
        run.add(from_error("models.bench", exc))
        return None
    found = llm_targets(ctx)
    if not found:
        return None
    rows = benchmark.run(
        found,
        prompt_words=prompt_words_n,
        max_tokens=max_tokens_n,
        requests=requests_n,
        concurrencies=levels,
        timeout=ctx.settings.timeouts.health,
    )
    output.print_bench(rows, as_json=ctx.inv.options.json, redactor=ctx.redactor)
    return 0 if all(row.errors == 0 for row in rows) else 1
