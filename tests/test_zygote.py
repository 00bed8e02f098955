"""The fork server the tests run `invoke` through (tests/support/zygote.py) must give what a new
`python -m invoke` process gives: the same exit code, bytes on stdout and stderr, environment and
folder, and a hang turned into ``Hung`` with the whole process group killed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import zygote
from support.hostile import NO_DAEMON
from support.listener import Listener

KEY = "sk-PLANTED-zygote-4c1e"


def environ(root: Path, **extra: str | bytes) -> dict[bytes, bytes]:
    env = {k.encode(): v.encode() for k, v in os.environ.items() if not k.startswith(("ULTRA_ENV_", "COMPOSE_"))}
    env[b"ULTRA_ENV_PROJECT_DIR"] = str(root).encode()
    env[b"NO_COLOR"] = b"1"
    env[b"DOCKER_HOST"] = NO_DAEMON["DOCKER_HOST"].encode()
    for key, value in extra.items():
        env[key.encode()] = value if isinstance(value, bytes) else value.encode()
    return env


CASES = {
    "the task list": (["--list"], {}),
    "an unknown task": (["nosuch"], {}),
    "the configuration, a key masked": (["config", "--json"], {"OPENAI_API_KEY": KEY, "ULTRA_ENV_PROFILE": "hybrid"}),
    "a value that is not UTF-8": (["config"], {"ULTRA_ENV_PROFILE": b"clo\xffud"}),
    "a dry run of a render": (["render", "--check", "--profile", "local"], {}),
    "the help of a task": (["setup", "--help"], {}),
}


@pytest.mark.parametrize("case", CASES)
def test_a_forked_run_is_a_new_process(case: str, tmp_path: Path) -> None:
    args, extra = CASES[case]
    forked, fresh = tmp_path / "forked", tmp_path / "fresh"
    forked.mkdir(), fresh.mkdir()
    by_fork = zygote.run(args, environ(forked, **extra), forked, timeout=60)
    by_exec = zygote._exec(args, environ(fresh, **extra), fresh, timeout=60)
    assert by_fork == by_exec
    assert KEY.encode() not in by_fork[1] + by_fork[2]
    assert sorted(p.name for p in forked.iterdir()) == sorted(p.name for p in fresh.iterdir())


def test_a_run_writes_in_its_own_folder_and_leaves_the_servers_folder_alone(tmp_path: Path) -> None:
    before = os.getcwd()
    code, out, err = zygote.run(["render", "--profile", "cloud"], environ(tmp_path), tmp_path, timeout=60)
    assert code == 0, (out, err)
    assert (tmp_path / "docker-compose.yml").is_file() and (tmp_path / ".env").is_file()
    assert os.getcwd() == before


def test_a_hang_raises_hung_with_what_was_printed_and_kills_the_group(tmp_path: Path) -> None:
    with Listener(hang_s=300) as docker:  # a Docker API that accepts and never answers
        env = environ(tmp_path, DOCKER_HOST=f"tcp://127.0.0.1:{docker.port}")
        with pytest.raises(zygote.Hung) as hung:
            zygote.run(["doctor"], env, tmp_path, timeout=3)
    with pytest.raises(ProcessLookupError):
        os.kill(hung.value.pid, 0)  # reaped: the server saw it die before run returned
    code, out, _ = zygote.run(["--list"], environ(tmp_path), tmp_path, timeout=60)
    assert code == 0 and b"setup" in out  # the server serves the next run


def test_a_different_locale_or_python_setting_takes_a_real_exec(tmp_path: Path) -> None:
    same = environ(tmp_path)
    assert not zygote._startup_differs(same)
    assert zygote._startup_differs({**same, b"PYTHONIOENCODING": b"latin-1"})
    assert zygote._startup_differs({**same, b"LC_ALL": b"C"})
    utf8 = zygote.run(["doctor"], same, tmp_path, 60)[1]
    ascii = zygote.run(["doctor"], {**same, b"PYTHONIOENCODING": b"ascii:backslashreplace"}, tmp_path, 60)[1]
    assert "✗".encode() in utf8 and "✗".encode() not in ascii and b"\\u2717" in ascii
