"""What the hostile suites (tests/test_hostile_*.py) share: running `invoke` as a user does, with a
hang turned into a failure, and the rule every bad input must meet (a one-line cause, its fix, the
exit code, nothing written)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import Project, Result, clean_environ
from support import zygote

INVOKE = zygote.INVOKE  # `python -m invoke -r REPO`, for the tests that start it themselves
NO_DAEMON = {"DOCKER_HOST": "unix:///nonexistent/hostile/docker.sock"}
CRASHES = ("Traceback", "internal error")


def spawn(argv: list[str], cwd: Path, env: Any, **streams: Any) -> subprocess.Popen:
    """A child in a session of its own (so that a hang can be killed whole), stdin at /dev/null and
    its output captured, unless ``streams`` says otherwise."""
    options: dict[str, Any] = {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    options.update(streams)
    return subprocess.Popen(argv, cwd=cwd, env=env, start_new_session=True, **options)


def finish(process: subprocess.Popen, what: str, timeout: float) -> tuple[Any, Any]:
    """Its output; a hang is a failure of the test (the process group is killed first)."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"`{what}` hung for {timeout}s")


def invoke(project: Project, *args: str, timeout: float, env: dict | None = None, daemon: bool = True) -> Result:
    """`invoke ARGS` in the project as a user runs it. ``env`` may hold bytes (keys or values that
    are not UTF-8); without ``daemon``, Docker points at a socket that does not exist."""
    environ = {k.encode(): v.encode() for k, v in {**project.env, **({} if daemon else NO_DAEMON)}.items()}
    for key, value in (env or {}).items():
        environ[key if isinstance(key, bytes) else key.encode()] = value if isinstance(value, bytes) else value.encode()
    try:
        code, out, err = zygote.run(list(args), environ, project.root, timeout)
    except zygote.Hung as hung:
        pytest.fail(str(hung))
    return Result(code, zygote.text(out, "replace"), zygote.text(err, "replace"))


def snapshot(root: Path) -> dict[str, str]:
    """Every entry of the project by kind and content hash, without following links or opening
    FIFOs; `.ultra-env/` itself and its lock are left out (a refused run may take the lock)."""
    seen: dict[str, str] = {}
    if not root.is_dir():
        return seen
    for folder, dirs, names in os.walk(root, followlinks=False):
        for name in dirs + names:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if rel in (".ultra-env", ".ultra-env/lock"):
                continue
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                seen[rel] = "link:" + os.readlink(path)
            elif stat.S_ISREG(mode):
                seen[rel] = "file:" + hashlib.sha256(path.read_bytes()).hexdigest() + f":{stat.S_IMODE(mode):o}"
            elif stat.S_ISDIR(mode):
                seen[rel] = "dir"
            else:
                seen[rel] = f"special:{stat.S_IFMT(mode):o}"
    return seen


def no_crash(output: Result | str, markers: tuple[str, ...] = CRASHES) -> None:
    text = output if isinstance(output, str) else output.output
    for marker in markers:
        assert marker not in text, text[-3000:]


def human_failures(result: Result) -> list[tuple[str, str]]:
    """(the failed line, the line after it) for each failed task of human output."""
    lines = result.stdout.splitlines()
    found = []
    for index, line in enumerate(lines):
        text = line.strip()
        if text.startswith(("failed ", "✗ ")):
            found.append((text, lines[index + 1].strip() if index + 1 < len(lines) else ""))
    return found


def refusal(
    result: Result, before: dict[str, str], root: Path, codes: tuple[int, ...] = (2,), *, json_output: bool = False
) -> tuple[str, str]:
    """The rule for bad input: no crash, one of ``codes``, one failed task with a one-line cause and
    a fix, and the project as it was. Returns (cause, fix)."""
    no_crash(result.output)
    assert result.returncode in codes, (result.returncode, result.output[-3000:])
    if json_output:
        failed = [t for t in json.loads(result.stdout)["tasks"] if t["status"] == "failed"]
        assert len(failed) == 1 and failed[0]["fix"] and "\n" not in failed[0]["msg"], failed
        cause, fix = failed[0]["msg"], "fix: " + failed[0]["fix"]
    else:
        found = human_failures(result)
        assert len(found) == 1, result.stdout
        cause, fix = found[0]
        assert fix.startswith("fix: ") and len(fix) > len("fix: "), result.stdout
    assert snapshot(root) == before, "a refused run wrote files"
    return cause, fix


def refused(
    result: Result, before: dict[str, str], root: Path, codes: tuple[int, ...] = (2,), *, json_output: bool = False
) -> str:
    """``refusal``'s cause."""
    return refusal(result, before, root, codes, json_output=json_output)[0]


def offline_project(root: Path) -> Project:
    """A project folder whose Docker points at a socket that does not exist."""
    return Project(root, clean_environ(ULTRA_ENV_PROJECT_DIR=str(root), NO_COLOR="1", **NO_DAEMON))


def reference_renders(tmp_path: Path, timeout: float) -> dict[str, str]:
    """The docker-compose.yml a render makes for the local and the cloud profile, each rendered in a
    folder of its own: what the three files of an interrupted switch must agree with."""
    made = {}
    for profile in ("local", "cloud"):
        root = tmp_path / f"reference-{profile}"
        root.mkdir()
        done = invoke(offline_project(root), "render", "--profile", profile, timeout=timeout)
        assert done.returncode == 0, done.output
        made[profile] = offline_project(root).read("docker-compose.yml")
    return made
