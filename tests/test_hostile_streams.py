"""Hostile standard streams: where ultra-env's output goes and where its input comes from.

Attacks the stream surface of `render`, `profile`, `config`, `doctor`, `llm.ask`, `models.rm`,
`down`, `onboard` and `gen-docs --check`: stdout or stderr closed, an encoding that cannot show
the output (`PYTHONIOENCODING=ascii`, `ascii:strict`, `latin-1` with ✓, →, é in it), stdin closed
or never answering, and output piped to a reader that is gone (`| head -1`, a closed pipe).

The rule: no traceback, the exit code the same run gives with ordinary streams, nothing
half-written (a render that ran is complete: the next one changes nothing), and machine-readable
output (`--json`) still exact.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, Project, Result, clean_environ
from support import hostile
from support.hostile import CRASHES, INVOKE, NO_DAEMON, finish, spawn
from support.listener import Listener

HANG = 60
ANSWER = "h\u00e9llo \u2713 \u2014 na\u00efve \u2192 \u65e5\u672c"
CHAT = json.dumps(
    {
        "id": "c1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }
).encode()
MODEL = "gpt-4o-mini-\u00fcn\u00ef\u2713"


# --- helpers (the shared ones are in support/hostile.py) ----------------------------------------


def run(
    project: Project,
    *args: str,
    env: dict[str, str] | None = None,
    stdin=subprocess.DEVNULL,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    close: tuple[int, ...] = (),
    timeout: float = HANG,
) -> Result:
    """`invoke ARGS` in the project with the given streams; ``close`` names descriptors the child
    starts without (closed, not redirected). A hang is a failure; the process group is killed."""

    def closing() -> None:
        for fd in close:
            os.close(fd)

    process = spawn(
        [*INVOKE, *args],
        project.root,
        {**project.env, **(env or {})},
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        preexec_fn=closing if close else None,
    )
    out, err = finish(process, f"invoke {' '.join(args)}", timeout)
    decode = lambda data: data.decode("utf-8", "replace") if isinstance(data, bytes) else (data or "")  # noqa: E731
    return Result(process.returncode, decode(out), decode(err))


def no_crash(text: str) -> None:
    hostile.no_crash(text, (*CRASHES, "Exception ignored", "BrokenPipeError", "UnicodeEncodeError"))


@pytest.fixture
def twins(tmp_path: Path) -> tuple[Project, Project]:
    """Two identical projects: one run with hostile streams, its twin with ordinary ones."""
    made = []
    for name in ("hostile", "ordinary"):
        root = tmp_path / name
        root.mkdir()
        made.append(Project(root, clean_environ(ULTRA_ENV_PROJECT_DIR=str(root), NO_COLOR="1", **NO_DAEMON)))
    return made[0], made[1]


@pytest.fixture
def provider() -> Listener:
    """A cloud provider (OpenAI's API) that answers every call with a non-ASCII answer."""
    with Listener(status=200, body=CHAT) as listener:
        yield listener


def provider_env(listener: Listener) -> dict[str, str]:
    return {"ULTRA_ENV_PROVIDERS__OPENAI__BASE_URL": f"{listener.url}/v1", "OPENAI_API_KEY": "sk-proj-HOSTILE-s-1234"}


SETUPS: dict[str, Callable[[Project], None]] = {
    "fresh": lambda p: None,
    "rendered": lambda p: _must(p, "render", "--profile", "mock"),
    "unicode model": lambda p: p.write("ultra-env.toml", f'[providers.openai]\ndefault_model = "{MODEL}"\n'),
    "unicode comment": lambda p: (
        _must(p, "render", "--profile", "mock"),
        p.write(".env", p.read(".env").replace("ULTRA_PROFILE=", "# caf\u00e9 \u2713\nULTRA_PROFILE=")),
    ),
}


def _must(project: Project, *args: str) -> None:
    done = run(project, *args)
    assert done.returncode == 0, done.output


def settled(project: Project, env: dict[str, str] | None = None) -> None:
    """Nothing half-written: the files that a run wrote are whole, so the next render changes nothing."""
    if not (project.root / ".env").exists():
        return
    profile = next(
        (line.split("=", 1)[1] for line in project.read(".env").splitlines() if line.startswith("ULTRA_PROFILE=")),
        "mock",
    )
    env = {k: v for k, v in (env or {}).items() if k != "OPENAI_API_KEY"}  # a key in the environment fills .env
    again = run(project, "render", "--profile", profile, "--check", "--json", env=env)
    assert again.returncode == 0, again.output
    assert again.json()["recap"]["changed"] == 0, again.stdout


# --- stdout or stderr closed ---------------------------------------------------------------------

CLOSED_STDOUT = {
    "render": ("fresh", ("render", "--profile", "mock")),
    "profile switch": ("rendered", ("profile", "cloud", "--diff")),
    "profile show": ("rendered", ("profile",)),
    "config": ("unicode model", ("config",)),
    "config --json": ("unicode model", ("config", "--json")),
    "doctor": ("fresh", ("doctor",)),
    "an error": ("fresh", ("render", "--profile", "staging")),
    "llm.ask": ("fresh", ("llm.ask", "hi", "--provider", "openai", "--profile", "cloud")),
    "gen-docs --check": ("fresh", ("gen-docs", "--check")),
}


@pytest.mark.parametrize("case", CLOSED_STDOUT)
def test_a_closed_stdout(twins: tuple[Project, Project], provider: Listener, case: str) -> None:
    setup, args = CLOSED_STDOUT[case]
    hostile, ordinary = twins
    for project in twins:
        SETUPS[setup](project)
    env = provider_env(provider)
    expected = run(ordinary, *args, env=env).returncode
    result = run(hostile, *args, env=env, stdout=None, close=(1,))
    no_crash(result.stderr)
    assert result.returncode == expected, result.stderr
    settled(hostile, env)


@pytest.mark.parametrize(
    "args",
    [("llm.ask", "hi", "--provider", "openai", "--profile", "cloud"), ("render", "--profile", "mock")],
    ids=["llm.ask", "render"],
)
def test_a_closed_stderr(twins: tuple[Project, Project], provider: Listener, args: tuple[str, ...]) -> None:
    hostile, ordinary = twins
    env = provider_env(provider)
    expected = run(ordinary, *args, env=env)
    result = run(hostile, *args, env=env, stderr=None, close=(2,))
    assert result.returncode == expected.returncode, result.stdout
    no_crash(result.stdout)
    assert result.stdout == expected.stdout or args[0] == "render", result.stdout  # the answer itself is all there
    settled(hostile, env)


# --- an encoding that cannot show the output -----------------------------------------------------

UNENCODABLE = {
    "profile switch (→)": ("rendered", ("profile", "cloud")),
    "doctor (✓ ✗)": ("fresh", ("doctor",)),
    "config (a model named in Unicode)": ("unicode model", ("config",)),
    "render --diff (a comment in Unicode)": ("unicode comment", ("render", "--profile", "cloud", "--diff")),
    "llm.ask (an answer in Unicode)": ("fresh", ("llm.ask", "hi", "--provider", "openai", "--profile", "cloud")),
}


@pytest.mark.parametrize("encoding", ["ascii", "ascii:strict", "latin-1"])
@pytest.mark.parametrize("case", UNENCODABLE)
def test_an_encoding_that_cannot_show_the_output(
    twins: tuple[Project, Project], provider: Listener, case: str, encoding: str
) -> None:
    setup, args = UNENCODABLE[case]
    hostile, ordinary = twins
    for project in twins:
        SETUPS[setup](project)
    env = provider_env(provider)
    expected = run(ordinary, *args, env={**env, "PYTHONIOENCODING": "utf-8"})
    result = run(hostile, *args, env={**env, "PYTHONIOENCODING": encoding})
    no_crash(result.output)
    assert result.returncode == expected.returncode, result.output
    assert len(result.stdout.splitlines()) == len(expected.stdout.splitlines()), result.stdout  # nothing cut short
    settled(hostile, env)


JSON_UNDER_ASCII = {
    "config --json": (
        "unicode model",
        ("config", "--json"),
        lambda doc: doc["providers.openai.default_model"]["value"] == MODEL,
    ),
    "llm.ask --json": (
        "fresh",
        ("llm.ask", "hi", "--provider", "openai", "--profile", "cloud", "--json"),
        lambda doc: ANSWER in json.dumps(doc, ensure_ascii=False),
    ),
    # (a comment of the user's is no longer diff context: ultra-env shows only what it owns)
    "render --json --diff": (
        "unicode model",
        ("render", "--profile", "cloud", "--json", "--diff"),
        lambda doc: MODEL in json.dumps(doc, ensure_ascii=False),
    ),
}


@pytest.mark.parametrize("case", JSON_UNDER_ASCII)
def test_json_output_stays_exact_on_an_ascii_stream(
    twins: tuple[Project, Project], provider: Listener, case: str
) -> None:
    """JSON can say every character in ASCII (\\u escapes): a machine's document is never altered."""
    setup, args, exact = JSON_UNDER_ASCII[case]
    hostile, _ = twins
    SETUPS[setup](hostile)
    result = run(hostile, *args, env={**provider_env(provider), "PYTHONIOENCODING": "ascii"})
    no_crash(result.output)
    assert result.returncode == 0, result.output
    assert exact(json.loads(result.stdout)), result.stdout


# --- stdin closed, or never answering ------------------------------------------------------------

CLOSED_STDIN = {
    "models.rm": ("fresh", ("models.rm", "ai/smollm2")),
    "down --volumes": ("rendered", ("down", "--volumes")),
    "onboard": ("fresh", ("onboard",)),
    "render": ("fresh", ("render", "--profile", "mock")),
    "profile switch": ("rendered", ("profile", "cloud")),
    "llm.ask": ("fresh", ("llm.ask", "hi", "--provider", "openai", "--profile", "cloud")),
}


@pytest.mark.parametrize("case", CLOSED_STDIN)
def test_a_closed_stdin(twins: tuple[Project, Project], provider: Listener, case: str) -> None:
    setup, args = CLOSED_STDIN[case]
    hostile, ordinary = twins
    for project in twins:
        SETUPS[setup](project)
    env = provider_env(provider)
    expected = run(ordinary, *args, env=env)  # stdin at /dev/null: no terminal, so the answer is no
    result = run(hostile, *args, env=env, stdin=None, close=(0,))
    no_crash(result.output)
    assert result.returncode == expected.returncode, result.output
    if args[0] in ("models.rm", "down"):
        assert result.returncode == 2 and "--yes" in result.stdout, result.stdout
    settled(hostile, env)


@pytest.mark.parametrize(
    "args",
    [("models.rm", "ai/smollm2"), ("down", "--volumes"), ("onboard",)],
    ids=["models.rm", "down --volumes", "onboard"],
)
def test_a_stdin_that_never_answers_is_not_waited_for(twins: tuple[Project, Project], args: tuple[str, ...]) -> None:
    hostile, ordinary = twins
    for project in twins:
        SETUPS["rendered"](project)
    expected = run(ordinary, *args)
    read_end, write_end = os.pipe()  # held open and never written: a read would block for ever
    try:
        result = run(hostile, *args, stdin=read_end, timeout=HANG)
    finally:
        os.close(read_end)
        os.close(write_end)
    no_crash(result.output)
    assert result.returncode == expected.returncode, result.output


# --- output piped to a reader that went away -----------------------------------------------------

PIPED = {
    "render --diff": ("fresh", ("render", "--profile", "mock", "--diff")),
    "profile switch --diff": ("rendered", ("profile", "cloud", "--diff")),
    "config": ("unicode model", ("config",)),
    "config --json": ("unicode model", ("config", "--json")),
    "doctor": ("fresh", ("doctor",)),
}


@pytest.mark.parametrize("case", PIPED)
def test_a_reader_that_is_already_gone(twins: tuple[Project, Project], case: str) -> None:
    setup, args = PIPED[case]
    hostile, ordinary = twins
    for project in twins:
        SETUPS[setup](project)
    expected = run(ordinary, *args).returncode
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write gets EPIPE
    try:
        result = run(hostile, *args, stdout=write_end)
    finally:
        os.close(write_end)
    no_crash(result.stderr)
    assert result.returncode == expected, result.stderr
    settled(hostile)


@pytest.mark.parametrize("case", PIPED)
def test_piped_to_head(twins: tuple[Project, Project], case: str) -> None:
    setup, args = PIPED[case]
    hostile, ordinary = twins
    for project in twins:
        SETUPS[setup](project)
    expected = run(ordinary, *args)
    invoke = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "invoke", "-r", str(REPO), *args])
    script = f'{invoke} 2>stderr.txt | head -1; echo "${{PIPESTATUS[0]}}" > status.txt'
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=hostile.root,
        env=hostile.env,
        capture_output=True,
        text=True,
        timeout=HANG,
        stdin=subprocess.DEVNULL,
    )
    stderr = (hostile.root / "stderr.txt").read_text(errors="replace")
    (hostile.root / "stderr.txt").unlink()
    status = int((hostile.root / "status.txt").read_text())
    (hostile.root / "status.txt").unlink()
    no_crash(stderr)
    assert done.stdout == expected.stdout.splitlines(keepends=True)[0], done.stdout
    assert status == expected.returncode, stderr
    settled(hostile)
