"""The ``llm.*`` tasks: one prompt to one model, or to every enabled one side by side."""

from __future__ import annotations

from ultra_env.cli import output
from ultra_env.cli.command import command
from ultra_env.engine.context import Context
from ultra_env.engine.run import failed, from_error
from ultra_env.errors import ConfigError
from ultra_env.llm import ask as asking
from ultra_env.llm.bench import whole
from ultra_env.llm.targets import llm_targets


def _max_tokens(ctx: Context, task: str, text: str) -> int | None:
    try:
        return whole("max-tokens", text, f"example: invoke {task} --max-tokens 64")
    except ConfigError as exc:
        ctx.run.add(from_error(task, exc))
        return None


@command("llm.ask", quiet=True, positional=("prompt",))
def ask(
    ctx: Context,
    *,
    prompt: str,
    provider: str | None = None,
    model: str | None = None,
    stream: bool = False,
    max_tokens: str = str(asking.MAX_TOKENS),
) -> int | None:
    most = _max_tokens(ctx, "llm.ask", max_tokens)
    if most is None:
        return None
    found = llm_targets(ctx, provider, model)
    if not found:
        return None
    as_json = ctx.inv.options.json
    printer = output.AnswerPrinter(ctx.redactor, as_json=as_json)
    outcome = asking.ask(
        found[0],
        prompt,
        stream=stream and not as_json,
        timeout=ctx.settings.timeouts.health,
        max_tokens=most,
        on_text=printer.text,
    )
    if outcome.error is None:
        printer.outcome(outcome)
        return 0
    # A failure is the run's one document (JSON) or its failed task (people); never a second answer.
    ctx.run.add(
        failed(
            found[0].label, f"{outcome.error.kind}: {outcome.error.message}", "invoke doctor", data=outcome.to_dict()
        )
    )
    return None


@command("llm.compare", quiet=True, positional=("prompt",))
def compare(ctx: Context, *, prompt: str, max_tokens: str = str(asking.MAX_TOKENS)) -> int | None:
    most = _max_tokens(ctx, "llm.compare", max_tokens)
    if most is None:
        return None
    found = llm_targets(ctx)
    if not found:
        return None
    outcomes = asking.compare(found, prompt, timeout=ctx.settings.timeouts.health, max_tokens=most)
    output.print_comparison(outcomes, ctx.redactor, as_json=ctx.inv.options.json)
    return 0 if all(o.error is None for o in outcomes) else 1
