"""Health's verdicts as pure rules: what the backend's answers and a failed reach from inside the
stack mean, each failure with its fix (``health.py`` asks, these judge)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ultra_env.engine.run import TaskResult, failed, ok
from ultra_env.operations.compose import Service

INSIDE = "API from inside the stack"
ANALYZE = "backend /api/analyze"


def stack_down(services: Sequence[Service], backend: str = "backend") -> TaskResult | None:
    """A stack whose backend is not running cannot answer however long health waits: say so at
    once (None while it runs, restarts or is being created: then waiting can help)."""
    found = [s for s in services if s.service == backend]
    if not found:
        return failed("stack", "the stack is not up: no backend container", "invoke up (or invoke setup)")
    if all(s.state in ("exited", "dead", "removing", "paused") for s in found):
        first = found[0]
        return failed(
            "stack",
            f"the backend container is {first.state} (exit code {first.exit_code})",
            "docker compose logs backend; then invoke up",
        )
    return None


def unreachable_from_inside(said: str) -> TaskResult:
    """The backend container could not reach its model endpoint; ``said`` is what it printed."""
    resolving = ("resolve", "Name or service", "getaddrinfo", "Errno -")
    if "model-runner.docker.internal" in said and any(word in said for word in resolving):
        return failed(
            INSIDE,
            f"the backend cannot resolve model-runner.docker.internal ({said[:160]})",
            "on Docker Engine use Compose ≥ 2.38 models: (invoke render) or "
            "extra_hosts: model-runner.docker.internal:host-gateway",
        )
    return failed(
        INSIDE,
        f"the backend cannot reach its model endpoint: {said[:200]}",
        "invoke doctor; check the firewall between containers and the host",
    )


def backend_down(path: str, said: str, body: Any) -> TaskResult:
    """No 200 from the health path in time; the shipped backend's ``problems`` say why."""
    problems = body.get("problems") if isinstance(body, dict) else None
    why = f" ({'; '.join(str(p) for p in problems)})" if isinstance(problems, list) and problems else ""
    return failed(f"backend {path}", f"{said}{why}", "invoke status; docker compose logs backend")


def backend_up(path: str, url: str, body: Any) -> TaskResult:
    """A 200; the shipped backend's body says how each provider answers (your own Ultra's may not)."""
    name = f"backend {path}"
    providers = body.get("providers") if isinstance(body, dict) else None
    if not isinstance(providers, list):
        return ok(name, f"{url}: 200")
    shown = ", ".join(
        f"{p.get('provider')}:{p.get('model')} {'answers' if p.get('reachable') else 'does not answer'}"
        f" ({p.get('latency_s')}s)"
        for p in providers
        if isinstance(p, dict)
    )
    return ok(name, f"{url}: 200; {shown or 'no provider enabled'}", data={"providers": providers})


def analysis(url: str, models: list[str], status: int, body: Any, text: str) -> TaskResult:
    """``POST /api/analyze``'s answer: one result per model asked, none failed."""
    if not isinstance(body, dict):
        return failed(ANALYZE, f"{url} answered {status} with no JSON: {text[:200]}", "docker compose logs backend")
    if status != 200:
        said = (body.get("error") or {}).get("message")
        return failed(
            ANALYZE,
            f"{url} answered {status}: {said or text[:200]}",
            "invoke render && invoke up (the backend runs with the models it was started with)",
        )
    results = body.get("results") or []
    broken = [r for r in results if r.get("error")]
    if broken or len(results) != len(models):
        first: dict[str, Any] = (
            broken[0] if broken else {"model": "?", "error": {"kind": "missing", "message": "no entry"}}
        )
        return failed(
            ANALYZE,
            f"{first['model']}: {first['error']['kind']}: {first['error']['message']}",
            "invoke health (the checks above say which part is down)",
        )

    def count(value: Any) -> str:
        return "?" if value is None else str(value)

    numbers = "; ".join(
        f"{r['model']}: {r['latency_s']}s, first token {r['first_token_s']}s, "
        f"tokens {count(r['tokens_in'])} in / {count(r['tokens_out'])} out"
        for r in results
    )
    stored = f"; stored as analysis {body['id']}" if body.get("id") else "; not stored (see /api/health)"
    return ok(ANALYZE, f"{len(results)} answer(s): {numbers}{stored}", data={"id": body.get("id"), "results": results})
