"""A model's keep-alive: read as Model Runner reads it, refused when it would not be, applied by
setup (Compose has no field for it, reference section 6.1) and read back from the runner, which
shows it its own way (`5m` as `5m0s`: the stand-in after pkg/inference/backend.go ParseKeepAlive)."""

from __future__ import annotations

import json

import pytest
from conftest import GEMMA, Project, StandIn
from pydantic import ValidationError

from ultra_env.config.settings import ModelSpec, duration_seconds
from ultra_env.operations.model_plan import same_keep_alive


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("-1", -1.0), ("5m", 300.0), ("1h30m", 5400.0), ("5m0s", 300.0), ("-1s", -1.0), ("1.5h", 5400.0)],
)
def test_durations_as_the_runner_reads_them(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "m", "1d", "5m;rm", "--keep-alive"])
def test_what_the_runner_would_refuse_is_refused_first(text: str) -> None:
    assert duration_seconds(text) is None
    with pytest.raises(ValidationError, match="Go duration"):
        ModelSpec(name="ai/smollm2", keep_alive=text)


def test_compared_in_seconds() -> None:
    assert same_keep_alive("5m0s", "5m") and same_keep_alive(None, None) and same_keep_alive("1h0m0s", None)
    assert not same_keep_alive(None, "5m") and not same_keep_alive("10m0s", "5m")


@pytest.mark.shared_stack
@pytest.mark.docker
@pytest.mark.llm
def test_setup_applies_keep_alive_and_a_second_run_changes_nothing(stack: Project, dmr: StandIn) -> None:
    env = {**dmr.env, "ULTRA_ENV_MODELS": json.dumps([{"name": GEMMA, "context_size": 2048, "keep_alive": "10m"}])}
    first = stack.invoke("setup", "--local-llm", "--json", timeout=900, **env)
    assert first.returncode == 0, first.stdout[-3000:]
    configured = {t["name"]: t for t in first.json()["tasks"]}[f"configure {GEMMA}"]
    assert configured["status"] == "changed" and "keep-alive 10m" in configured["msg"], configured
    again = stack.invoke("setup", "--local-llm", "--json", timeout=900, **env)
    changes = [t for t in again.json()["tasks"] if t["status"] == "changed"]
    assert again.returncode == 0 and changes == [], changes
