"""What ultra-env says about Docker Model Runner, worded once. Doctor's rules, health and the model
steps each find a runner that is down, an API that does not answer from the host or a model that
is not there; they ask here what it means and what fixes it, and only choose the task's name and
whether it fails the run. Pure: what was found comes in, a verdict goes out. Below ``checks``,
``operations`` and ``llm``, which all ask it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from ultra_env.config.settings import Settings


def enable_tcp(settings: Settings) -> str:
    """The command that makes Docker Desktop's Model Runner listen on the configured host port."""
    return f"docker desktop enable model-runner --tcp {settings.model_runner.host_port}"


@dataclass(frozen=True)
class Verdict:
    cause: str
    fix: str
    blocking: bool = True  # False: ultra-env works around it (through the docker model CLI)


def runner_down(why: str, settings: Settings, *, desktop_app: bool | None) -> Verdict:
    """The runner does not run (``why``: "not running", or why its status is unknown).
    ``desktop_app``: Docker Desktop with its settings screen (not Docker Desktop for Linux); None
    when it is not known which."""
    desktop = f"{enable_tcp(settings)} (or Settings → AI → Enable Docker Model Runner)"
    engine = "docker model install-runner --gpu auto (or: docker model start-runner)"
    if desktop_app is None:
        return Verdict(f"Docker Model Runner is {why}", f"{engine}; on Docker Desktop: {desktop}")
    fix = f"{desktop}, then wait for `docker model status`" if desktop_app else engine
    return Verdict(f"Docker Model Runner is {why}", fix)


def status_unknown(error: str) -> str:
    """``why`` for ``runner_down`` when the status could not be read."""
    return f"status unknown ({error})"


def api_silent(
    root: str, error: str, settings: Settings, *, holder: str | None, desktop_app: bool, cli_fallback: bool
) -> Verdict:
    """``GET {root}/models`` gave no answer from the host. ``holder``: the program on its port, if
    any; ``cli_fallback``: the runner runs, so ultra-env goes on through the docker model CLI."""
    port = urlsplit(root).port or settings.model_runner.host_port
    if holder and "model" not in holder:
        return Verdict(
            f"port {port} is held by {holder}, not by Model Runner",
            f"stop {holder} or free port {port}, then restart Model Runner",
        )
    instead = "; ultra-env uses the docker model CLI instead" if cli_fallback else ""
    if desktop_app:
        return Verdict(
            f"{root} does not answer ({error}): host-side TCP is off{instead}",
            enable_tcp(settings),
            blocking=not cli_fallback,
        )
    return Verdict(
        f"{root} does not answer ({error}){instead}",
        "set model_runner.host_url to where the API listens (the endpointHost of `docker model status --json`), "
        "or docker model reinstall-runner",
        blocking=not cli_fallback,
    )


def model_missing(names: list[str], where: str) -> Verdict:
    """Models the configuration needs that the runner does not serve (``where``: how it was asked)."""
    return Verdict(
        f"not pulled yet: {', '.join(names)} not in {where}", f"invoke models.pull --model {names[0]} (or invoke setup)"
    )
