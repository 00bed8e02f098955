"""``invoke health``: is the stack really usable? Each check retries until its timeout, and a
failure names the likely cause from the reference's list (section 7) with its fix."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ultra_env import concurrently, http, proc, runner_verdicts
from ultra_env.checks import health_rules, team_health
from ultra_env.config.settings import Settings
from ultra_env.engine.context import Context
from ultra_env.engine.run import Status, TaskResult, failed, from_error, ok, skipped, warn
from ultra_env.facts import host
from ultra_env.facts import model_runner as mr
from ultra_env.facts.gather import Facts
from ultra_env.llm.providers.base import ChatRequest, ChatResponse, ProviderError
from ultra_env.llm.providers.openai_compat import OpenAICompatible
from ultra_env.operations import compose, dmr
from ultra_env.operations.models import Connection, config_for, connect
from ultra_env.operations.stack import project_of

if TYPE_CHECKING:
    import httpx

PROMPT = [{"role": "user", "content": "Say hello in five words."}]
RUNNER, PROVIDER = http.raised(dmr.DmrError), http.raised(ProviderError)  # what health waits out
NOT_YET = http.raised(http.NotYet, http.HttpError)
STARTING = http.raised(http.NotYet, dmr.DmrError)  # a runner not running yet, or its status not read yet

# Run inside the backend container: can it reach the endpoint it was given? (`team`: the team
# server's, with the backend's key.)
INSIDE = """
import json, os, sys, urllib.request
team = sys.argv[1:] == ["team"]
if team:
    url = os.environ.get("TEAM_LLM_URL", "")
else:
    url = os.environ.get("LLM_URL") or (os.environ.get("MODEL_RUNNER_URL", "").rstrip("/") + "/v1")
if url in ("", "/v1"):
    print(json.dumps({"error": ("TEAM_LLM_URL is" if team else "neither LLM_URL nor MODEL_RUNNER_URL is")
                      + " set in the container"})); sys.exit(2)
request = urllib.request.Request(url.rstrip("/") + "/models")
if team and os.environ.get("TEAM_LLM_API_KEY"):
    request.add_header("Authorization", "Bearer " + os.environ["TEAM_LLM_API_KEY"])
try:
    with urllib.request.urlopen(request, timeout=10) as answer:
        ids = [m.get("id") for m in json.load(answer).get("data", [])]
    print(json.dumps({"url": url, "ids": ids}))
except Exception as exc:
    print(json.dumps({"url": url, "error": f"{type(exc).__name__}: {exc}"})); sys.exit(1)
"""


def verify(
    settings: Settings,
    project: compose.Project,
    *,
    desktop: bool,
    retry: http.Retry,
    status: mr.RunnerStatus | None = None,
    environ: Mapping[str, str] | None = None,
    stack_ready: bool = False,
) -> list[TaskResult]:
    """Every check, in a stable order. The prerequisites run one after another; the completion,
    the view from inside the stack and the backend's /health then run at the same time."""
    results: list[TaskResult] = []
    last: list[Callable[[], TaskResult]] = []
    down = None if stack_ready else _stack_down(project)
    if settings.features.team_llm:
        team = team_health.reachable(settings, retry, results)
        if team is not None:
            first = settings.team_models[0]
            fix = f"set [team] models to ones the team server serves (invoke doctor lists them), not {first}"
            last.append(lambda: _completion(team, first, retry, fix))
            if down is None:
                last.append(lambda: _inside(project, retry, team=True))
    if settings.features.local_llm:
        conn = _prerequisites(settings, desktop, retry, status, results, environ or {})
        if conn is not None:
            model = settings.models[0].name
            if isinstance(conn.runner, dmr.Api):
                runner = OpenAICompatible("docker-model-runner", conn.runner.root + dmr.OPENAI_PATH, retries=0)
                pull = f"invoke models.pull --model {model}"
                last.append(lambda: _completion(runner, model, retry, pull))
            else:
                results.append(
                    skipped(
                        "chat completion",
                        "the API does not answer from the host: the completion is checked from inside the stack",
                    )
                )
            if down is None:
                last.append(lambda: _inside(project, retry))
    elif not settings.features.team_llm:
        results.append(skipped("local model", f"{settings.profile.value} profile: no local models"))
    if down is not None:
        return results + concurrently.each(lambda check: check(), last) + [down]
    last.append(lambda: backend_health(settings, retry))
    results += concurrently.each(lambda check: check(), last)
    backend = results[-1]
    if backend.status is not Status.FAILED:
        results.append(analyze(settings, retry))
    return results


def _prerequisites(
    settings: Settings,
    desktop: bool,
    retry: http.Retry,
    status: mr.RunnerStatus | None,
    results: list[TaskResult],
    environ: Mapping[str, str],
) -> Connection | None:
    """Runner running, API from the host (or the CLI), required models present; the way to the
    runner when all hold."""
    if status is None or not status.running:
        try:
            status = retry.run(
                lambda _: _running(settings.timeouts.probe, settings.model_runner.host_url), retry_if=STARTING
            )
        except (dmr.DmrError, http.NotYet) as exc:
            why = "not running" if isinstance(exc, http.NotYet) else runner_verdicts.status_unknown(exc.cause)
            down = runner_verdicts.runner_down(why, settings, desktop_app=desktop)
            results.append(failed("runner running", down.cause, down.fix))
            return None
    results.append(
        ok(
            "runner running",
            f"{status.kind or 'Docker Model Runner'}; " + ", ".join(f"{k}: {v}" for k, v in status.backends.items()),
        )
    )
    conn = connect(settings, environ, status=status, desktop=desktop)
    if conn.note is not None:
        results.append(conn.note)
    wanted = [m.name for m in settings.models if m.required]
    try:
        retry.run(lambda _: conn.models(), retry_if=RUNNER)
        missing = [name for name in wanted if retry.run(functools.partial(_find, conn, name), retry_if=RUNNER) is None]
    except dmr.DmrError as exc:
        results.append(_host_api_failure(settings, conn, exc, desktop))
        return None
    if isinstance(conn.runner, dmr.Api):
        results.append(ok("API from the host", f"{conn.runner.root}/models answers"))
    where = f"{conn.runner.root}/models/NAME" if isinstance(conn.runner, dmr.Api) else "docker model inspect"
    if missing:
        absent = runner_verdicts.model_missing(missing, where)
        results.append(failed("models served", absent.cause, absent.fix))
        return None
    results.append(ok("models served", ", ".join(wanted)))
    results += context_sizes(settings, conn)
    return conn


def _find(conn: Connection, name: str, _left: float) -> mr.LocalModel | None:
    return conn.find(name)


def context_sizes(settings: Settings, conn: Connection) -> list[TaskResult]:
    """The context size the runner really applies, read back: it is lost when the runner restarts
    (and, users report, when an idle model unloads), and then falls back to 4096."""
    wanted = [m for m in settings.models if m.context_size]
    if not wanted:
        return []
    try:
        configs = conn.runner.applied()
    except dmr.DmrError as exc:
        return [warn("context size", f"could not be read back: {exc.cause}", exc.fix)]
    if configs is None:
        return [skipped("context size", "this Model Runner cannot report what it applies (needs v1.0.10+)")]
    results = []
    for model in wanted:
        name = f"context size {model.name}"
        have = config_for(conn, configs, model.name)
        applied = have.context_size if have is not None else None
        if applied is not None and applied == model.context_size:
            results.append(_loaded(conn, model.name, applied, len(wanted) == 1))
            continue
        said = f"{applied} tokens" if applied else "nothing (the runner's default, 4096)"
        results.append(
            warn(
                name,
                f"the runner applies {said}, the configuration says {model.context_size} "
                "(lost when the runner restarts or the model is unloaded)",
                f"invoke setup (applies it again), or docker model configure --context-size "
                f"{model.context_size} {model.name}",
            )
        )
    return results


def _loaded(conn: Connection, model: str, size: int, alone: bool) -> TaskResult:
    """Stored is not loaded (docker/model-runner #1025): the context llama.cpp last loaded, from
    the runner's log, when one model is configured (the log does not say which model a line is of)."""
    name, stored = f"context size {model}", f"{size} tokens, as configured"
    if not alone or not isinstance(conn.runner, dmr.Api):
        return ok(name, stored)
    try:
        loaded = mr.parse_loaded_context(conn.runner.logs() or "")
    except dmr.DmrError:
        loaded = None
    if loaded is None or loaded == size:
        return ok(name, stored + (" and loaded" if loaded else ""))
    return warn(
        name,
        f"stored {size} tokens, but llama.cpp loaded the model with {loaded} (stored is not loaded: "
        "docker/model-runner #1025)",
        f"docker model unload {model}, then invoke setup (it loads the model again with the stored size)",
    )


def _running(timeout: float, api: str) -> mr.RunnerStatus:
    status = dmr.status(timeout, api)
    if not status.running:
        raise http.NotYet("Docker Model Runner is not running")
    return status


def _host_api_failure(settings: Settings, conn: Connection, exc: dmr.DmrError, desktop: bool) -> TaskResult:
    if not isinstance(conn.runner, dmr.Api):
        return from_error("models served", exc, "invoke doctor")
    root = conn.runner.root
    port = urlsplit(root).port
    holder = None if port is None or host.port_free(port) else host.port_holder(port)
    silent = runner_verdicts.api_silent(
        root, exc.cause, settings, holder=holder, desktop_app=desktop, cli_fallback=False
    )
    return failed("API from the host", silent.cause, silent.fix)


def _completion(provider: OpenAICompatible, model: str, retry: http.Retry, missing_fix: str) -> TaskResult:
    """A real completion, streamed and plain (``provider`` makes no retries of its own: ``retry`` does)."""
    name = "chat completion"
    try:
        # Streamed for the first token and the decode speed; plain (a few tokens) for the token counts.
        streamed: ChatResponse = retry.run(
            lambda left: provider.chat(ChatRequest(PROMPT, model, max_tokens=16, stream=True, timeout=left)),
            retry_if=PROVIDER,
        )
        plain: ChatResponse = retry.run(
            lambda left: provider.chat(ChatRequest(PROMPT, model, max_tokens=4, timeout=left)),
            retry_if=PROVIDER,
        )
    except ProviderError as exc:
        fix = missing_fix if exc.kind == "not_found" else "invoke doctor"
        if "context" in exc.message.lower():
            fix = f"raise context_size of {model} in ultra-env.toml [[models]]"
        return failed(name, f"{model}: {exc.kind}: {exc.message}", fix)
    usage = plain.usage
    if usage is None or usage.completion_tokens <= 0:
        return failed(name, f"{model} answered without token counts", "invoke doctor")
    speed = streamed.tokens_per_s
    data = {
        "model": model,
        "latency_s": round(plain.latency_s, 3),
        "ttft_s": round(streamed.ttft_s or 0, 3),
        "tokens_per_s": round(speed, 1) if speed else None,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "stream_latency_s": round(streamed.latency_s, 3),
        "finish_reason": plain.finish_reason,
    }
    msg = (
        f"{model}: streamed {streamed.chunks} tokens in {streamed.latency_s:.2f}s (first after "
        f"{data['ttft_s']:.3f}s, {data['tokens_per_s'] or '?'} tokens/s); plain {plain.latency_s:.2f}s, "
        f"tokens {usage.prompt_tokens} in / {usage.completion_tokens} out"
    )
    return ok(name, msg, data=data)


def _stack_down(project: compose.Project) -> TaskResult | None:
    """The stack's state from ``docker compose ps``; None (go on and wait) when it cannot be read."""
    try:
        return health_rules.stack_down(compose.ps(project))
    except proc.ProcError:
        return None


def _inside(project: compose.Project, retry: http.Retry, *, team: bool = False) -> TaskResult:
    name = "team server from inside the stack" if team else "API from inside the stack"

    def attempt() -> dict:
        try:
            done = project.run("exec", "-T", "backend", "python3", "-c", INSIDE, *(["team"] if team else []))
        except proc.ProcError as exc:
            raise http.NotYet(exc.cause) from None
        try:
            answer = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise http.NotYet(done.output.splitlines()[-1] if done.output else f"exit {done.returncode}") from None
        if "error" in answer:
            raise http.NotYet(json.dumps(answer))
        return answer

    try:
        answer = retry.run(lambda _: attempt(), retry_if=NOT_YET)
    except http.NotYet as exc:
        return (
            team_health.unreachable_from_inside(exc.cause) if team else health_rules.unreachable_from_inside(exc.cause)
        )
    return ok(name, f"backend reaches {answer['url']} ({len(answer['ids'])} model(s))")


def backend_health(settings: Settings, retry: http.Retry) -> TaskResult:
    """``GET backend.health_path``: 200, and for the shipped backend what it says of each provider."""
    path = settings.backend.health_path
    url = f"http://127.0.0.1:{settings.ports.backend}{path}"
    seen: list[Any] = []

    def attempt() -> httpx.Response:
        response = http.get(url, timeout=10)
        seen.append(response)
        if response.status_code != 200:
            raise http.NotYet(f"{url} answered {response.status_code}")
        return response

    try:
        response = retry.run(lambda _: attempt(), retry_if=NOT_YET)
    except (http.NotYet, http.HttpError) as exc:
        last = seen[-1] if seen else None
        return health_rules.backend_down(path, exc.cause, _json(last) if last is not None else None)
    return health_rules.backend_up(path, url, _json(response))


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


ANALYZE_PROMPT = "Say hello in five words."


def analyze(settings: Settings, retry: http.Retry) -> TaskResult:
    """Ultra's job, for real: one prompt through the running backend's ``POST /api/analyze``,
    answered by the local models, the team server's (or the mock); cloud models are not asked (they
    cost money)."""
    name = "backend /api/analyze"
    if settings.own_backend:
        return skipped(name, "your own backend: its /api/analyze is Ultra's contract, not checked here")
    models = [f"local:{m.name}" for m in settings.models] if settings.features.local_llm else []
    models += [f"team:{name}" for name in settings.team_models] if settings.features.team_llm else []
    if settings.features.mock_llm:
        models.append("mock:mock-echo")
    if not models:
        return skipped(
            name,
            f"{settings.profile.value} profile: only cloud models, which an analysis would bill "
            '(ask them: invoke llm.compare "…")',
        )
    url = f"http://127.0.0.1:{settings.ports.backend}/api/analyze"

    def attempt(left: float) -> Any:
        response = http.post(
            url, json={"prompt": ANALYZE_PROMPT, "models": models, "max_tokens": 16}, timeout=max(left, 1.0)
        )
        if response.status_code >= 500:
            raise http.NotYet(f"{url} answered {response.status_code}: {response.text[:200]}")
        return response  # a 4xx is the backend's final word: no retry changes it

    try:
        response = retry.run(attempt, retry_if=NOT_YET)
    except (http.NotYet, http.HttpError) as exc:
        return from_error(name, exc, "docker compose logs backend")
    return health_rules.analysis(url, models, response.status_code, _json(response), response.text)


def run_health(ctx: Context, facts: Facts | None = None, *, stack_ready: bool = False) -> bool:
    """``stack_ready``: the step before saw every service up and ready (setup's ``up``), so the
    stack is not asked again whether it is down."""
    known = facts.model_status.value if facts is not None and facts.model_status is not None else None
    results = verify(
        ctx.settings,
        project_of(ctx),
        desktop=bool(facts and facts.desktop),
        retry=http.Retry(within_s=ctx.settings.timeouts.health),
        status=known,
        environ=ctx.variables,
        stack_ready=stack_ready,
    )
    for result in results:
        ctx.run.add(result)
    return not any(r.status is Status.FAILED for r in results)
