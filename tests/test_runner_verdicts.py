"""What ultra-env says about Model Runner, as data: what was found in, the verdict out; and the
wording lives in that one module, which doctor, health and the model steps ask."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ultra_env import runner_verdicts as rv
from ultra_env.config.settings import Settings

SETTINGS = Settings(profile="local", features={"local_llm": True}, model_runner={"host_url": "http://localhost:12555"})
ROOT = "http://localhost:12555"
TCP = "docker desktop enable model-runner --tcp 12555"

# (why, desktop_app) -> (cause, fix)
DOWN = [
    ("not running", False, "Docker Model Runner is not running", "docker model install-runner --gpu auto"),
    ("not running", True, "Docker Model Runner is not running", f"{TCP} (or Settings → AI"),
    (rv.status_unknown("exit 1"), False, "Docker Model Runner is status unknown (exit 1)", "docker model install"),
    ("not answering", None, "Docker Model Runner is not answering", f"; on Docker Desktop: {TCP}"),
]


@pytest.mark.parametrize(("why", "desktop_app", "cause", "fix"), DOWN)
def test_a_runner_that_is_down(why: str, desktop_app: bool | None, cause: str, fix: str) -> None:
    verdict = rv.runner_down(why, SETTINGS, desktop_app=desktop_app)
    assert verdict.cause == cause and fix in verdict.fix and verdict.blocking


# (holder, desktop_app, cli_fallback) -> (cause has, fix has, blocking)
SILENT = [
    ("nginx", False, True, "port 12555 is held by nginx, not by Model Runner", "stop nginx or free port 12555", True),
    ("nginx", True, False, "port 12555 is held by nginx", "then restart Model Runner", True),
    ("com.docker.model", True, True, "host-side TCP is off; ultra-env uses the docker model CLI", TCP, False),
    (None, True, False, f"{ROOT} does not answer (refused): host-side TCP is off", TCP, True),
    (None, False, True, f"{ROOT} does not answer (refused); ultra-env uses the docker model CLI", "host_url", False),
    (None, False, False, f"{ROOT} does not answer (refused)", "docker model reinstall-runner", True),
]


@pytest.mark.parametrize(("holder", "desktop_app", "fallback", "cause", "fix", "blocking"), SILENT)
def test_an_api_that_does_not_answer_from_the_host(
    holder: str | None, desktop_app: bool, fallback: bool, cause: str, fix: str, blocking: bool
) -> None:
    verdict = rv.api_silent(ROOT, "refused", SETTINGS, holder=holder, desktop_app=desktop_app, cli_fallback=fallback)
    assert cause in verdict.cause and fix in verdict.fix and verdict.blocking is blocking
    if not fallback:
        assert "CLI" not in verdict.cause


def test_models_not_pulled() -> None:
    verdict = rv.model_missing(["ai/smollm2", "ai/gemma3"], "GET /models/NAME")
    assert verdict.cause == "not pulled yet: ai/smollm2, ai/gemma3 not in GET /models/NAME"
    assert verdict.fix.startswith("invoke models.pull --model ai/smollm2")


def test_the_wording_lives_in_one_module() -> None:
    """Doctor's rules, health and the model steps ask runner_verdicts; none words it again."""
    package = Path(rv.__file__).parent
    phrases = re.compile(r"host-side TCP is off|is held by \{|docker model install-runner --gpu|not pulled yet")
    found = sorted(
        str(p.relative_to(package)) for p in package.rglob("*.py") if phrases.search(p.read_text(encoding="utf-8"))
    )
    assert found == ["runner_verdicts.py"]
