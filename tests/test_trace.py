"""``-v`` / ULTRA_ENV_DEBUG=1: each command and request a run makes, on stderr, timed, with its result,
and masked like everything else ultra-env prints."""

from __future__ import annotations

import io
import json
import re

import pytest
from conftest import Project

from ultra_env import trace
from ultra_env.engine.redact import Redactor

KEY = "sk-trace-7f6e5d4c3b2a1908"
PASSWORD = "pw-trace-5a4b3c2d"
LINE = re.compile(r"^\[(run |http) +\d+\.\d{3}s\] (.+) -> (.+)$")


@pytest.fixture
def traced(project: Project) -> Project:
    (project.root / ".env").write_text(f"OPENAI_API_KEY={KEY}\n")
    (project.root / "ultra-env.toml").write_text(
        f'profile = "local"\n[model_runner]\nhost_url = "http://runner:{PASSWORD}@127.0.0.1:9"\n'
    )
    return project


def lines(stderr: str) -> list[tuple[str, str, str]]:
    return [m.groups() for m in map(LINE.match, stderr.splitlines()) if m]  # type: ignore[misc]


@pytest.mark.parametrize("how", [("-v",), ("--verbose",), ("ULTRA_ENV_DEBUG", "1")])
def test_each_command_and_request_is_shown_timed_and_masked(traced: Project, how: tuple[str, ...]) -> None:
    flags, env = (list(how), {}) if how[0].startswith("-") else ([], {how[0]: how[1]})
    result = traced.call("doctor", "--json", *flags, **env)
    json.loads(result.stdout)  # the trace stays on stderr: the document is whole
    seen = lines(result.stderr)
    commands = [what for kind, what, _ in seen if kind == "run "]
    requests = [what for kind, what, _ in seen if kind == "http"]
    assert any(c.startswith("docker version") for c in commands), result.stderr
    assert any(c.startswith("docker info") for c in commands)  # a probe started before the run
    assert "GET http://***@127.0.0.1:9/models" in requests  # the runner asked where it was told, masked
    assert all(result for _, _, result in seen)
    assert PASSWORD not in result.stderr and KEY not in result.stderr


def test_nothing_is_traced_unless_asked(traced: Project) -> None:
    result = traced.call("doctor", "--json", ULTRA_ENV_DEBUG="0")
    assert lines(result.stderr) == []


def test_lines_from_before_the_run_wait_for_its_mask() -> None:
    """A probe started before the run (the configuration not read yet) is held, then printed through
    the first mask; a redactor the run adds later masks every line after it."""
    trace.arm(True, {})
    trace.command(["docker", "info", f"--token={KEY}"], 0.25, "exit 0")
    known, learned = Redactor(), Redactor()
    known.add(KEY)
    learned.add(PASSWORD)
    out = io.StringIO()
    with trace.tracing(known, out):
        trace.request("POST", f"http://h:1/x?p={PASSWORD}", 0.5, "200")
        trace.mask_with(learned)
        trace.request("GET", f"http://h:1/x?p={PASSWORD}", 0.125, "HttpError: refused")
    trace.command(["after"], 0.0, "exit 0")  # the run is over: not printed, not held
    assert out.getvalue().splitlines() == [
        "[run    0.250s] docker info --token=*** -> exit 0",
        f"[http   0.500s] POST http://h:1/x?p={PASSWORD} -> 200",
        "[http   0.125s] GET http://h:1/x?p=*** -> HttpError: refused",
    ]
    assert trace._pending is None and trace._stream is None
