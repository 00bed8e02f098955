"""Health of the team's shared model server (the team profile): it answers with this developer's
key and serves the models asked there; then ``health`` asks it for a real completion."""

from __future__ import annotations

from ultra_env import http
from ultra_env.config.settings import Settings
from ultra_env.engine.run import TaskResult, failed, ok
from ultra_env.llm.providers.base import ProviderError
from ultra_env.llm.providers.openai_compat import OpenAICompatible

TEAM = "team"
INSIDE = "team server from inside the stack"


def reachable(settings: Settings, retry: http.Retry, results: list[TaskResult]) -> OpenAICompatible | None:
    """The team server's client when it lists every model asked there; else None, and why in ``results``."""
    team = settings.team
    key = team.api_key.get_secret_value() if team.api_key else None
    provider = OpenAICompatible(TEAM, team.url or "", key, retries=0, stream_usage=True)  # `retry` retries
    try:
        served = retry.run(
            lambda left: provider.list_models(min(left, settings.timeouts.probe)),
            retry_if=lambda exc: isinstance(exc, ProviderError) and exc.transient,
        )
    except ProviderError as exc:
        fix = (
            f"put the key your team's operator gave you in .env: {team.key_var}=…"
            if exc.kind == "auth"
            else "invoke doctor (it says whether the server answers, takes the key and serves the models)"
        )
        results.append(failed("team server", f"{team.url}: {exc.kind}: {exc.message}", fix))
        return None
    results.append(ok("team server", f"{team.url} answers with the key in {team.key_var}"))
    missing = [name for name in settings.team_models if name not in served]
    if missing:
        results.append(
            failed(
                "team models served",
                f"not served by {team.url}: {', '.join(missing)} (it serves: {', '.join(served) or 'nothing'})",
                "set [team] models to ones it serves, or ask your team's operator to add them",
            )
        )
        return None
    results.append(ok("team models served", ", ".join(settings.team_models)))
    return provider


def unreachable_from_inside(said: str) -> TaskResult:
    """The backend container could not list the team server's models; ``said`` is what it printed."""
    if "401" in said or "403" in said:
        return failed(
            INSIDE,
            f"the team server refused the backend's key: {said[:200]}",
            "the backend reads the key when it starts: after editing .env, run invoke up",
        )
    return failed(
        INSIDE,
        f"the backend cannot reach the team server: {said[:200]}",
        "a server on this machine must listen beyond 127.0.0.1 (containers come through Docker's bridge); "
        "a remote one must be reachable from Docker's network (a VPN may not be)",
    )
