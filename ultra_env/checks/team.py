"""Doctor's verdicts on the team's shared model server (the team profile): reachable, over TLS
beyond this machine, the key accepted, each model served. The local runner is not checked."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from ultra_env.config.settings import Settings
from ultra_env.engine.run import Status, TaskResult
from ultra_env.facts.gather import Facts

AREA = "Team server"
LOOPBACK = ("localhost", "127.0.0.1", "::1")
ASK_OPERATOR = "ask your team's operator (docs/team.md: they run invoke server.status)"


def result(name: str, status: Status, msg: str, fix: str | None = None) -> TaskResult:
    return TaskResult(name, status, msg, fix, area=AREA)


def team_checks(facts: Facts, settings: Settings) -> Iterator[TaskResult]:
    team = settings.team
    if not settings.features.team_llm or not team.url or facts.team_server is None:
        return
    host = urlsplit(team.url).hostname or ""
    if team.url.startswith("http://") and host not in LOOPBACK and not host.startswith("127."):
        yield result(
            "TLS",
            Status.WARN,
            f"{team.url} is plain http: your key crosses the network in clear text",
            "use the server's https:// URL in [team] url (the operator's proxy has TLS)",
        )
    probe = facts.team_server
    answer = probe.value
    if answer is None:
        tls = "CERTIFICATE_VERIFY_FAILED" in (probe.error or "") or "SSL" in (probe.error or "")
        fix = (
            "this machine does not trust the server's certificate: point SSL_CERT_FILE at the team's CA file"
            if tls
            else f"check [team] url and your network (VPN?); {ASK_OPERATOR}"
        )
        yield result("team server", Status.FAILED, f"{team.url} does not answer: {probe.error}", fix)
        return
    key_var = team.key_var
    if answer.status in (401, 403):
        said = "refused the key in" if team.api_key else "needs a key, and none is set in"
        yield result(
            "team server",
            Status.FAILED,
            f"{team.url} {said} {key_var} ({answer.status})",
            f"put the key your team's operator gave you in .env: {key_var}=…",
        )
        return
    if answer.status != 200:
        yield result("team server", Status.FAILED, f"{team.url}/models answered {answer.status}", ASK_OPERATOR)
        return
    if team.api_key is None:
        yield result(
            "team server",
            Status.WARN,
            f"{team.url} answers without a key: anyone who reaches it can use it",
            f"{ASK_OPERATOR}: a shared server belongs behind the authenticating proxy",
        )
    else:
        yield result("team server", Status.OK, f"{team.url}: the key in {key_var} is accepted")
    served = ", ".join(answer.models) or "nothing"
    for model in settings.team_models:
        if model in answer.models:
            yield result(f"model {model}", Status.OK, "served by the team server")
        else:
            yield result(
                f"model {model}",
                Status.FAILED,
                f"not served by the team server (it serves: {served})",
                f"set [team] models to ones it serves, or {ASK_OPERATOR} to add it",
            )
