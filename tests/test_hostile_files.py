"""Hostile files: what a user (or an accident) leaves where ultra-env reads and writes.

Attacks the file surface of `render`, `profile` and `config`: `.env`, `ultra-env.toml`,
`docker-compose.yml` and `.ultra-env/state.json` replaced by a directory, a FIFO, a link to
/dev/zero, 50 MB of text, bytes that are not UTF-8 or are NUL, deeply nested TOML, state files of
the wrong shape; `.env` files exactly as Docker Compose reads them (multi-line PEM keys, `${VAR}`
and `${VAR:-default}`, every key name Compose accepts), differential against the real
`docker compose config`; secrets a `.env` holds (commented-out old keys, values echoed by parse
errors); and a write error on one of the three files of a transaction (`chattr +i`).

Every refusal must be: exit 2 (the user's input) or 1 (the machine), one failed task with a
one-line cause and a `fix:`, no traceback, no "internal error", and no file written.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Project
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import hostile
from support.hostile import human_failures, no_crash, refused, snapshot
from support.oracle import compose_values

HANG = 30  # seconds: a run that takes longer is hanging (a FIFO read, /dev/zero, a loop)
invoke = functools.partial(hostile.invoke, timeout=HANG, daemon=False)


# --- helpers (the shared ones are in support/hostile.py) ----------------------------------------


@pytest.fixture
def rendered(project: Project) -> Project:
    """A project after a first render (mock: no Docker needed)."""
    first = invoke(project, "render", "--profile", "mock")
    assert first.returncode == 0, first.output
    return project


def owned_line(project: Project, key: str) -> str:
    return next(line for line in project.read(".env").splitlines() if line.startswith(key + "="))


# --- special files where regular files are expected ----------------------------------------------

HUGE = 50 * 1024 * 1024


def make_special(path: Path, kind: str) -> None:
    if kind == "directory":
        path.mkdir()
        (path / "inside").write_text("A=1\n")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "50 MB":
        with path.open("w", encoding="utf-8") as handle:
            if path.name == ".env":
                handle.write("A=1\nPADDING=")
            else:
                handle.write('profile = "mock"\n# ')
            chunk = "x" * (1024 * 1024)
            for _ in range(HUGE // len(chunk)):
                handle.write(chunk)
            handle.write("\n")
    else:  # pragma: no cover
        raise AssertionError(kind)


SPECIAL_KINDS = ["directory", "fifo", "link to /dev/zero"]
INPUT_FILES = [".env", "ultra-env.toml"]
READERS = [("render", "--profile", "mock"), ("config", "--json")]


@pytest.mark.parametrize("reader", READERS, ids=lambda r: " ".join(r))
@pytest.mark.parametrize("name", INPUT_FILES)
@pytest.mark.parametrize("kind", SPECIAL_KINDS)
def test_an_input_file_that_is_not_a_regular_file_is_refused(
    project: Project, kind: str, name: str, reader: tuple[str, ...]
) -> None:
    make_special(project.root / name, kind)
    before = snapshot(project.root)
    result = invoke(project, *reader)
    cause = refused(result, before, project.root, (1, 2), json_output="--json" in reader)
    assert name in cause, cause


@pytest.mark.parametrize("name", INPUT_FILES)
def test_a_50_mb_input_file_is_read_whole_as_compose_reads_it(project: Project, name: str) -> None:
    """The real `docker compose config` reads a 50 MB .env; so does ultra-env, and keeps it whole."""
    make_special(project.root / name, "50 MB")
    size = (project.root / name).stat().st_size
    result = invoke(project, "render", "--profile", "mock")
    assert result.returncode == 0, result.output[-500:]
    assert (project.root / name).stat().st_size >= size
    if name == ".env":
        assert (project.root / name).read_bytes().startswith(b"A=1\nPADDING=xxxx")


OWN_FILES = ["docker-compose.yml", ".ultra-env/state.json"]


@pytest.mark.parametrize("name", OWN_FILES)
@pytest.mark.parametrize("kind", ["directory", "fifo", "link to /dev/zero"])
def test_a_generated_file_replaced_by_a_special_file_is_refused(rendered: Project, kind: str, name: str) -> None:
    path = rendered.root / name
    path.unlink()
    make_special(path, kind)
    before = snapshot(rendered.root)
    cause = refused(invoke(rendered, "render", "--profile", "cloud"), before, rendered.root, (1, 2))
    assert Path(name).name in cause, cause


# --- bytes that are not text ---------------------------------------------------------------------

TOML_BYTES = {
    "not UTF-8": b'profile = "mo\xffck"\n',
    "a NUL byte": b'profile = "mock"\x00\n',
}


@pytest.mark.parametrize("case", TOML_BYTES)
def test_a_config_file_of_bytes_is_refused_naming_it(project: Project, case: str) -> None:
    (project.root / "ultra-env.toml").write_bytes(TOML_BYTES[case])
    before = snapshot(project.root)
    cause = refused(invoke(project, "render"), before, project.root, (2,))
    assert "ultra-env.toml" in cause


@pytest.mark.compose
def test_a_nul_byte_in_a_env_value_is_read_as_compose_reads_it(project: Project, tmp_path: Path) -> None:
    text = b"BLOB=a\x00b\n"
    assert compose_values(tmp_path / "oracle", text, ["BLOB"], {}) == {"BLOB": "a\x00b"}  # Compose reads it
    (project.root / ".env").write_bytes(text)
    result = invoke(project, "render", "--profile", "mock")
    no_crash(result)
    assert result.returncode == 0, result.output
    assert (project.root / ".env").read_bytes().startswith(text)


STATE_FIELDS = {  # one field of the state a render wrote, replaced
    "a number as the profile": ("profile", 5),
    "an unknown profile": ("profile", "staging"),
    "a NUL in the profile": ("profile", "cloud\x00"),
    "a list as the profile": ("profile", ["cloud"]),
    "a number as the file hash": ("files", {"docker-compose.yml": 7}),
    "a number as an env fingerprint": ("env", {"ULTRA_PROFILE": 5}),
}


@pytest.mark.parametrize("case", STATE_FIELDS)
def test_a_state_file_of_the_wrong_shape_is_reported_as_such(rendered: Project, case: str) -> None:
    path = rendered.root / ".ultra-env" / "state.json"
    state = json.loads(path.read_text(encoding="utf-8"))
    field, value = STATE_FIELDS[case]
    state[field] = {**state[field], **value} if isinstance(value, dict) else value
    path.write_text(json.dumps(state), encoding="utf-8")
    before = snapshot(rendered.root)
    cause = refused(invoke(rendered, "render"), before, rendered.root, (1, 2))
    assert "state.json" in cause, cause


def test_a_state_file_that_is_not_utf8_is_reported_as_such(rendered: Project) -> None:
    path = rendered.root / ".ultra-env" / "state.json"
    path.write_bytes(path.read_bytes().replace(b'"version"', b'"versi\xf6n"', 1))
    before = snapshot(rendered.root)
    cause = refused(invoke(rendered, "render"), before, rendered.root, (1, 2))
    assert "state.json" in cause, cause


def test_a_compose_file_that_is_not_utf8_is_refused_naming_it(rendered: Project) -> None:
    path = rendered.root / "docker-compose.yml"
    path.write_bytes(path.read_bytes() + b"# caf\xe9\n")
    before = snapshot(rendered.root)
    cause = refused(invoke(rendered, "render", "--profile", "cloud"), before, rendered.root, (1, 2))
    assert "docker-compose.yml" in cause


# --- deeply nested TOML --------------------------------------------------------------------------

DEEP_TOML = {
    "5000 nested tables": "[" + ".".join(["a"] * 5000) + "]\nx = 1\n",
    "5000 nested arrays": "x = " + "[" * 5000 + "]" * 5000 + "\n",
    "3000 nested inline tables": "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n",
}


@pytest.mark.parametrize("case", DEEP_TOML)
def test_deeply_nested_toml_is_refused(project: Project, case: str) -> None:
    project.write("ultra-env.toml", DEEP_TOML[case])
    before = snapshot(project.root)
    cause = refused(invoke(project, "render"), before, project.root, (2,))
    assert "ultra-env.toml" in cause


def test_deeply_nested_toml_is_refused_in_json_too(project: Project) -> None:
    project.write("ultra-env.toml", DEEP_TOML["5000 nested tables"])
    before = snapshot(project.root)
    refused(invoke(project, "config", "--json"), before, project.root, (2,), json_output=True)


# --- .env as Compose reads it --------------------------------------------------------------------

OPENAI = "sk-proj-HOSTILE-interp-7f3a9c2e1b"
KEY_REFERENCES = {
    "braced": "OPENAI_API_KEY=${MY_OPENAI}\n",
    "double-quoted": 'OPENAI_API_KEY="${MY_OPENAI}"\n',
    "bare $NAME": "OPENAI_API_KEY=$MY_OPENAI\n",
    "with an unused default": "OPENAI_API_KEY=${MY_OPENAI:-sk-not-this-one}\n",
    "nested default": "OPENAI_API_KEY=${UNSET_HOSTILE_VAR:-${MY_OPENAI}}\n",
    "exported": "export OPENAI_API_KEY=${MY_OPENAI}\n",
    "colon separator": "OPENAI_API_KEY: ${MY_OPENAI}\n",
    "from a key above": f"HOLDER_OF_IT={OPENAI}\nOPENAI_API_KEY=${{HOLDER_OF_IT}}\n",
}


@pytest.mark.parametrize("case", KEY_REFERENCES)
def test_an_expanded_key_is_the_real_key_and_stays_unwritten(project: Project, case: str) -> None:
    text = KEY_REFERENCES[case]
    project.write(".env", text)
    env = {"MY_OPENAI": OPENAI} if "MY_OPENAI" in text else {}
    shown = invoke(project, "config", "--json", env=env)
    no_crash(shown)
    assert shown.returncode == 0, shown.output
    row = shown.json()["providers.openai.api_key"]
    assert row["value"] == "*** (set)" and ".env" in row["origin"], row
    assert OPENAI not in shown.output
    switched = invoke(project, "profile", "cloud", env=env)
    no_crash(switched)
    assert switched.returncode == 0, switched.output
    assert OPENAI not in switched.output
    assert (project.root / ".env").read_text(encoding="utf-8").startswith(text)  # the line as the user wrote it
    if "MY_OPENAI" in text:  # a key that lives in the environment is never copied into a file
        assert not [p for p in project.root.rglob("*") if p.is_file() and OPENAI in p.read_text(errors="replace")]


HOST_VAR = {"HOSTILE_HOST_VAR": "from-the-host"}
COMPOSE_FORMS = {  # each is read by `docker compose config` (checked first): ultra-env must read and keep it
    "PEM double-quoted over lines": 'TLS_KEY="-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0B\n'
    'AQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----"\n',
    "PEM single-quoted over lines": "TLS_KEY='-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----'\n",
    "PEM with \\n escapes": 'TLS_KEY="-----BEGIN PRIVATE KEY-----\\nMIIB\\n-----END PRIVATE KEY-----\\n"\n',
    "dotted key": "app.name=ultra\n",
    "dashed key": "my-key=1\n",
    "bracketed key": "list[0]=a\n",
    "key starting with a digit": "1ST=x\n",
    "non-ASCII key": "\u00c9T\u00c9=chaud\n",
    "colon separator": "SEP: value\n",
    "export": "export EXP=1\n",
    "default of an unset variable": "DFLT=${UNSET_HOSTILE_VAR:-fallback}\n",
    "host variable": "FROM_HOST=${HOSTILE_HOST_VAR}\n",
    "inline comment": "IC=value # a note\n",
    "lone key from the host": "HOSTILE_HOST_VAR\n",
}


def _key_of(text: str) -> str:
    first = text.split("\n", 1)[0].removeprefix("export ")
    for separator in ("=", ":"):
        if separator in first:
            return first.split(separator, 1)[0].strip()
    return first.strip()


@pytest.mark.compose
@pytest.mark.parametrize("case", COMPOSE_FORMS)
def test_what_compose_reads_survives_renders_byte_for_byte(project: Project, tmp_path: Path, case: str) -> None:
    text = COMPOSE_FORMS[case].encode("utf-8")
    key = _key_of(COMPOSE_FORMS[case])
    expected = compose_values(tmp_path / "before", text, [key], HOST_VAR)
    assert expected is not None and key in expected, "the oracle must accept this vector"
    (project.root / ".env").write_bytes(text)
    for args in (("render", "--profile", "mock"), ("profile", "cloud"), ("profile", "mock")):
        result = invoke(project, *args, env=HOST_VAR)
        no_crash(result)
        assert result.returncode == 0, result.output
        assert "edited since" not in result.output
    after = (project.root / ".env").read_bytes()
    assert after.startswith(text), after[:400]
    assert compose_values(tmp_path / "after", after, [key], HOST_VAR)[key] == expected[key]


USER_TEXT_FOR_OWNED_KEYS = {  # the user's own text for a key ultra-env owns, resolving to ultra-env's value
    "USE_MODEL_RUNNER": "USE_MODEL_RUNNER=${HOSTILE_UMR:-false}",
    "ENABLE_MOCK_LLM": "ENABLE_MOCK_LLM=${HOSTILE_MOCK-true}",
    "ENABLE_CLOUD_LLM": 'ENABLE_CLOUD_LLM="${HOSTILE_CLOUD:-false}"',
    "ULTRA_PROFILE": "ULTRA_PROFILE=${HOSTILE_PROFILE:-mock}",
}


@pytest.mark.parametrize("key", USER_TEXT_FOR_OWNED_KEYS)
def test_a_line_the_user_wrote_for_an_owned_key_is_kept(rendered: Project, key: str) -> None:
    ours = owned_line(rendered, key)
    text = rendered.read(".env").replace(ours + "\n", USER_TEXT_FOR_OWNED_KEYS[key] + "\n")
    rendered.write(".env", text)
    for args in (("render", "--profile", "cloud"), ("render", "--profile", "hybrid")):
        result = invoke(rendered, *args)
        no_crash(result)
        assert result.returncode == 0, result.output
    assert USER_TEXT_FOR_OWNED_KEYS[key] + "\n" in rendered.read(".env")


COMPOSE_REFUSED_VALUES = {  # `.env` values the rendered file makes Compose refuse: the user's to fix
    "empty POSTGRES_USER": "POSTGRES_USER=\n",
    "empty POSTGRES_DB": "POSTGRES_DB=\n",
    "POSTGRES_USER from an unset variable": "POSTGRES_USER=${HOSTILE_UNSET_USER}\n",
    "invalid COMPOSE_PROJECT_NAME": "COMPOSE_PROJECT_NAME=Bad Name!\n",
    "COMPOSE_DISABLE_ENV_FILE": "COMPOSE_DISABLE_ENV_FILE=true\n",
}


@pytest.mark.compose
@pytest.mark.parametrize("case", COMPOSE_REFUSED_VALUES)
def test_a_env_value_compose_refuses_is_blamed_on_its_line(project: Project, case: str) -> None:
    project.write(".env", "# mine\n" + COMPOSE_REFUSED_VALUES[case])
    before = snapshot(project.root)
    result = invoke(project, "render", "--profile", "mock")
    cause = refused(result, before, project.root, (2,))
    assert ".env:2" in cause, cause
    assert "templates" not in human_failures(result)[0][1], result.stdout


# Differential, end to end: a generated `.env` is read by `invoke render` as `docker compose config`
# reads it, and what ultra-env writes back resolves, under Compose, to exactly the same values.
ORACLE_KEYS = ["K0", "K1", "app.cfg", "1ST", "OPENAI_API_KEY"]
_WORD = st.text(st.sampled_from("abcXYZ019_-./:@%+,"), min_size=1, max_size=8)
_SPACED = st.text(st.sampled_from("abcXYZ019 _-./:@%+,#"), max_size=8)


@st.composite
def env_texts(draw: st.DrawFn) -> str:
    statements = []
    for key in draw(st.lists(st.sampled_from(ORACLE_KEYS), min_size=1, max_size=6)):
        ref = draw(st.sampled_from(["K0", "K1", "HOSTILE_HOST_VAR", "HOSTILE_UNSET"]))
        value = draw(
            st.one_of(
                _WORD,
                _SPACED.map(lambda v: f"'{v}'"),
                _SPACED.map(lambda v: f'"{v}"'),
                st.tuples(_WORD, _WORD).map(lambda t: f'"-----BEGIN KEY-----\n{t[0]}\n{t[1]}\n-----END KEY-----"'),
                st.tuples(_WORD, st.sampled_from(["\\n", "\\t", '\\"', "\\\\", "\\$", "$$"]), _WORD).map(
                    lambda t: f'"{t[0]}{t[1]}{t[2]}"'
                ),
                st.sampled_from(
                    [
                        f"${ref}",
                        f"${{{ref}}}",
                        f"${{{ref}:-dflt}}",
                        f"${{{ref}-x}}",
                        f"${{{ref}:+alt}}",
                        f'"${{{ref}:-a b}}"',
                        f"pre${{{ref}}}post",
                        f"{ref}#not-a-comment",
                        "${HOSTILE_UNSET:?needed}",
                        '"unterminated',
                        "${}",
                        "$$literal",
                    ]
                ),
            )
        )
        prefix = draw(st.sampled_from(["", "export ", "  "]))
        separator = draw(st.sampled_from(["=", ": ", " = "]))
        statements.append(f"{prefix}{key}{separator}{value}")
        if draw(st.booleans()):
            statements.append(draw(st.sampled_from(["", "# a comment", "#K0=commented", "   # indented"])))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(statements) + newline


@pytest.mark.compose
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=env_texts())
def test_render_reads_and_keeps_env_files_as_compose_does(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    base = tmp_path_factory.mktemp("dotenv")
    host = {"HOSTILE_HOST_VAR": "host value"}
    data = text.encode("utf-8")
    theirs = compose_values(base / "oracle-before", data, ORACLE_KEYS, host)
    root = base / "project"
    root.mkdir()
    (root / ".env").write_bytes(data)
    from conftest import clean_environ

    project = Project(root, clean_environ(ULTRA_ENV_PROJECT_DIR=str(root), NO_COLOR="1"))
    before = snapshot(root)
    result = invoke(project, "render", "--profile", "mock", env=host)
    if theirs is None:  # Compose refuses the file: so must ultra-env, naming .env, writing nothing
        cause = refused(result, before, root, (2,))
        assert ".env" in cause and "templates" not in cause, (text, cause)
        return
    no_crash(result)
    assert result.returncode == 0, (text, result.output)
    written = (root / ".env").read_bytes()
    assert written.startswith(data), (text, written[:300])
    again = compose_values(base / "oracle-after", written, ORACLE_KEYS, host)
    assert again is not None, text
    assert {k: again.get(k) for k in theirs} == theirs, text
    if "OPENAI_API_KEY" in theirs:
        row = invoke(project, "config", "--json", env=host).json()["providers.openai.api_key"]
        assert (row["value"] == "*** (set)") == bool(theirs["OPENAI_API_KEY"]), (text, row)


# --- secrets a .env holds ------------------------------------------------------------------------


def _secret(tag: str) -> str:
    return "sk-proj-" + hashlib.sha256(tag.encode()).hexdigest()[:20]


COMMENTED_KEYS = {
    "# KEY=": "# OLD_OPENAI_KEY={s}",
    "#KEY=": "#OLD_OPENAI_KEY={s}",
    "# export KEY=": "# export OLD_OPENAI_KEY={s}",
    "# KEY: ": "# OLD_OPENAI_KEY: {s}",
    "#   KEY = ": "#   OLD_OPENAI_KEY = {s}",
    "indented with a tab": "\t# OLD_OPENAI_KEY={s}",
    "a name starting with a digit": "# 1OLD_KEY={s}",
    "a bracketed name": "# keys[0]={s}",
    "a non-ASCII name": "# \u00c9CL\u00c9={s}",
    "a name Compose would not take": "# OLD KEY={s}",
    "the bare key": "# {s}",
    "after an owned value": None,  # `ULTRA_PROFILE=mock # was sk-...`
}


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
@pytest.mark.parametrize("case", COMMENTED_KEYS)
def test_a_commented_out_old_key_is_not_diff_context(rendered: Project, case: str, as_json: bool) -> None:
    secret = _secret(case)
    ours = owned_line(rendered, "ULTRA_PROFILE")
    form = COMMENTED_KEYS[case]
    planted = f"{ours} # was {secret}\n" if form is None else form.format(s=secret) + "\n" + ours + "\n"
    rendered.write(".env", rendered.read(".env").replace(ours + "\n", planted))
    args = ["render", "--profile", "cloud", "--diff"] + (["--json"] if as_json else [])
    result = invoke(rendered, *args)
    no_crash(result)
    assert result.returncode == 0, result.output
    assert "ULTRA_PROFILE" in result.stdout  # the diff is shown, and its context with it
    assert secret not in result.output and secret[8:] not in result.output


ECHOING_ERRORS = {
    "an unterminated double quote": 'GITHUB_TOKEN="{s}\nA=1\n',
    "an unterminated single quote": "GITHUB_TOKEN='{s}\nA=1\n",
    "an invalid ${{": "DEPLOY_NOTE={s}${{\n",
}


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
@pytest.mark.parametrize("case", ECHOING_ERRORS)
def test_a_env_parse_error_never_echoes_the_value(project: Project, case: str, as_json: bool) -> None:
    secret = _secret(case)
    project.write(".env", ECHOING_ERRORS[case].format(s=secret))
    before = snapshot(project.root)
    args = ["config", "--json"] if as_json else ["render"]
    result = invoke(project, *args)
    assert secret not in result.output and secret[8:] not in result.output, result.output
    cause = refused(result, before, project.root, (2,), json_output=as_json)
    assert ".env:" in cause


# --- a write error on one file of the transaction ------------------------------------------------


def chattr(path: Path, flag: str) -> bool:
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", flag, str(path)], capture_output=True, timeout=10).returncode == 0


@pytest.mark.parametrize("name", ["docker-compose.yml", ".env", ".ultra-env/state.json"])
def test_a_write_error_on_one_file_switches_nothing(project: Project, name: str) -> None:
    first = invoke(project, "render")
    assert first.returncode == 0, first.output
    trio = ["docker-compose.yml", ".env", ".ultra-env/state.json"]
    before = {n: (project.root / n).read_bytes() for n in trio}
    target = project.root / name
    if not chattr(target, "+i"):
        pytest.skip("chattr +i is not available here")
    try:
        result = invoke(project, "profile", "cloud")
    finally:
        chattr(target, "-i")
    no_crash(result)
    assert result.returncode == 1, result.output
    assert {n: (project.root / n).read_bytes() for n in trio} == before
    assert "did not switch" in result.stdout or "nothing was switched" in result.stdout, result.stdout
    assert "fix:" in result.stdout
    leftovers = [p.name for p in project.root.rglob(".*.tmp")] + [p.name for p in project.root.rglob(".*.old")]
    assert leftovers == []
    assert not (project.root / ".ultra-env" / "journal.json").exists()
    again = invoke(project, "profile", "cloud")
    assert again.returncode == 0 and "edited since" not in again.output, again.output
