"""Health's verdicts as data: the shipped backend's real answers (tests/fixtures/backend/, captured
from `python -m ultra_env.backend`) and what the backend container printed, in; the task out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ultra_env.checks import health_rules
from ultra_env.engine.run import Status

FIXTURES = Path(__file__).parent / "fixtures" / "backend"
URL = "http://127.0.0.1:8000/api/analyze"


def body(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


# (fixture, status, the models asked) -> status, words in the message, words in the fix
ANALYSES = [
    (
        "analyze-mock.json",
        200,
        ["mock:mock-echo"],
        Status.OK,
        ["1 answer(s)", "mock-echo: 0.0s", "tokens 5 in / 8 out", "not stored"],
        None,
    ),
    ("analyze-stored.json", 200, ["mock:mock-echo"], Status.OK, ["stored as analysis 1"], None),
    (
        "analyze-one-down.json",
        200,
        ["local:ai/smollm2:latest", "mock:mock-echo"],
        Status.FAILED,
        ["ai/smollm2:latest: connection: ConnectError"],
        "invoke health",
    ),
    (
        "analyze-mock.json",
        200,
        ["mock:mock-echo", "local:ai/smollm2"],
        Status.FAILED,
        ["?: missing: no entry"],
        "invoke health",
    ),
    (
        "analyze-unknown-model.json",
        400,
        ["local:ai/nope"],
        Status.FAILED,
        ["answered 400: unknown model 'local:ai/nope'"],
        "invoke render && invoke up",
    ),
]


@pytest.mark.parametrize(("fixture", "status", "models", "verdict", "words", "fix"), ANALYSES)
def test_analysis(
    fixture: str, status: int, models: list[str], verdict: Status, words: list[str], fix: str | None
) -> None:
    result = health_rules.analysis(URL, models, status, body(fixture), (FIXTURES / fixture).read_text())
    assert result.status is verdict
    assert all(word in result.msg for word in words), result.msg
    assert (result.fix or "").startswith(fix) if fix else result.fix is None


def test_an_analysis_answer_that_is_not_json() -> None:
    result = health_rules.analysis(URL, ["mock:mock-echo"], 502, None, "<html>Bad Gateway</html>")
    assert result.status is Status.FAILED and "502 with no JSON: <html>Bad Gateway" in result.msg


def test_backend_up_and_down() -> None:
    up = health_rules.backend_up("/api/health", "http://127.0.0.1:8000/api/health", body("health-200.json"))
    assert up.status is Status.OK and up.msg.endswith("200; mock:mock-echo answers (0.0s)")
    assert up.data == {"providers": body("health-200.json")["providers"]}
    yours = health_rules.backend_up("/health", "http://127.0.0.1:8000/health", None)  # your own Ultra's body
    assert yours.status is Status.OK and yours.msg == "http://127.0.0.1:8000/health: 200"
    down = health_rules.backend_down(
        "/api/health", "http://127.0.0.1:8000/api/health answered 503", body("health-503.json")
    )
    assert down.status is Status.FAILED
    assert down.msg.endswith("answered 503 (local does not answer; no database configured (DATABASE_URL))")
    assert down.fix == "invoke status; docker compose logs backend"
    silent = health_rules.backend_down("/api/health", "ConnectError: refused", None)
    assert silent.msg == "ConnectError: refused"


@pytest.mark.parametrize(
    ("said", "diagnosis"),
    [
        ("urlopen error [Errno -2] Name or service not known: model-runner.docker.internal", "cannot resolve"),
        ("getaddrinfo failed for model-runner.docker.internal", "cannot resolve"),
        ("<urlopen error [Errno 111] Connection refused>", "cannot reach its model endpoint"),
        ("model-runner.docker.internal: connection reset", "cannot reach its model endpoint"),
    ],
)
def test_unreachable_from_inside(said: str, diagnosis: str) -> None:
    result = health_rules.unreachable_from_inside(said)
    assert result.status is Status.FAILED and diagnosis in result.msg and result.fix
    assert ("extra_hosts" in (result.fix or "")) is (diagnosis == "cannot resolve")
