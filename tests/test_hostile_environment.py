"""Hostile process environment: what `ULTRA_ENV_*` variables, key variables and the variables
ultra-env reads about its folders can hold.

Attacks the environment surface of `render`, `config`, `doctor` and `llm.ask`: the configuration
order (`ULTRA_ENV_PROVIDERS__OPENAI__KEY_VAR=MY_HOLDER` must make `MY_HOLDER` the key, exactly as
`key_var` in ultra-env.toml does; an invalid `key_var` is refused), JSON nested 10,000 deep, values
that overflow (ports 10**30, context sizes 1e400, timeouts inf/nan/-1/1e300), bytes that are not
UTF-8 in values and names, `ULTRA_ENV_PROJECT_DIR` / `ULTRA_ENV_TEMPLATES_DIR` naming what is not
a folder, and URL userinfo (`http://user:pass@host`) in every URL setting, which must be masked in
every output and kept out of `.ultra-env/state.json` in any form.

Every refusal must be: exit 2 (the user's input) or 1 (the machine), one failed task with a
one-line cause and a `fix:`, no traceback, no "internal error", and no file written.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import urllib.parse
from pathlib import Path

import pytest
from conftest import REPO, Project
from support import hostile
from support.hostile import NO_DAEMON, no_crash, refused, snapshot
from support.listener import Listener

HANG = 60
invoke = functools.partial(hostile.invoke, timeout=HANG, daemon=False)


# --- helpers (the shared ones are in support/hostile.py) ----------------------------------------


# --- configuration order: which variable holds a provider's key ----------------------------------

HOLDER_KEY = "sk-proj-HOSTILE-holder-4c1d8e"
WRONG_KEY = "sk-proj-HOSTILE-wrong-00000000"
KEY_VAR_SOURCES = {
    "the holder in the environment": (
        {"ULTRA_ENV_PROVIDERS__OPENAI__KEY_VAR": "MY_HOLDER", "MY_HOLDER": HOLDER_KEY},
        None,
        None,
    ),
    "the holder in .env": ({"ULTRA_ENV_PROVIDERS__OPENAI__KEY_VAR": "MY_HOLDER"}, f"MY_HOLDER={HOLDER_KEY}\n", None),
    "the holder in .env, expanded": (
        {"ULTRA_ENV_PROVIDERS__OPENAI__KEY_VAR": "MY_HOLDER", "REAL_ONE": HOLDER_KEY},
        "MY_HOLDER=${REAL_ONE}\n",
        None,
    ),
    "a JSON table": (
        {"ULTRA_ENV_PROVIDERS": '{"openai": {"key_var": "MY_HOLDER"}}', "MY_HOLDER": HOLDER_KEY},
        None,
        None,
    ),
    "over OPENAI_API_KEY": (
        {"ULTRA_ENV_PROVIDERS__OPENAI__KEY_VAR": "MY_HOLDER", "MY_HOLDER": HOLDER_KEY, "OPENAI_API_KEY": WRONG_KEY},
        f"OPENAI_API_KEY={WRONG_KEY}\n",
        None,
    ),
    "ultra-env.toml (the reference)": ({"MY_HOLDER": HOLDER_KEY}, None, '[providers.openai]\nkey_var = "MY_HOLDER"\n'),
}


@pytest.mark.parametrize("case", KEY_VAR_SOURCES)
def test_key_var_makes_the_holder_the_key_that_is_sent(project: Project, case: str) -> None:
    env, dotenv, toml = KEY_VAR_SOURCES[case]
    if dotenv:
        project.write(".env", dotenv)
    if toml:
        project.write("ultra-env.toml", toml)
    with Listener() as listener:
        env = {**env, "ULTRA_ENV_PROVIDERS__OPENAI__BASE_URL": f"{listener.url}/v1"}
        result = invoke(project, "llm.ask", "hi", "--provider", "openai", "--profile", "cloud", env=env)
        no_crash(result)
        assert [seen.headers.get("Authorization") for seen in listener.seen] == [f"Bearer {HOLDER_KEY}"], result.output
    assert HOLDER_KEY not in result.output and WRONG_KEY not in result.output


KEY_VAR_PROVIDERS = {
    "openai": "sk-proj-HOSTILE-o-11111111",
    "anthropic": "sk-ant-HOSTILE-a-22222222",
    "google": "AIzaHOSTILE-g-33333333",
}


@pytest.mark.parametrize("provider", KEY_VAR_PROVIDERS)
def test_key_var_from_the_environment_is_exactly_key_var_from_the_file(
    project: Project, tmp_path: Path, provider: str
) -> None:
    holder = f"TEAM_{provider.upper()}_HOLDER"
    by_env = invoke(
        project,
        "config",
        "--json",
        env={f"ULTRA_ENV_PROVIDERS__{provider.upper()}__KEY_VAR": holder, holder: KEY_VAR_PROVIDERS[provider]},
    )
    other = tmp_path / "by-file"
    other.mkdir()
    (other / "ultra-env.toml").write_text(f'[providers.{provider}]\nkey_var = "{holder}"\n')
    by_file = invoke(
        Project(other, {**project.env, "ULTRA_ENV_PROJECT_DIR": str(other)}),
        "config",
        "--json",
        env={holder: KEY_VAR_PROVIDERS[provider]},
    )
    for result in (by_env, by_file):
        no_crash(result)
        assert result.returncode == 0, result.output
        assert KEY_VAR_PROVIDERS[provider] not in result.output
    env_rows, file_rows = by_env.json(), by_file.json()
    assert (
        env_rows[f"providers.{provider}.key_var"]["value"]
        == file_rows[f"providers.{provider}.key_var"]["value"]
        == holder
    )
    assert (
        env_rows[f"providers.{provider}.api_key"]
        == file_rows[f"providers.{provider}.api_key"]
        == {"value": "*** (set)", "origin": f"env {holder}"}
    )


INVALID_KEY_VARS = {
    "a space": "MY HOLDER",
    "a leading digit": "1HOLDER",
    "a dash": "MY-HOLDER",
    "an equals sign": "MY=HOLDER",
    "a dollar": "$HOLDER",
    "empty": "",
    "a newline": "MY\nHOLDER",
    "a non-ASCII letter": "\u00c9T\u00c9",
}


@pytest.mark.parametrize("case", INVALID_KEY_VARS)
def test_an_invalid_key_var_in_the_environment_is_refused(project: Project, case: str) -> None:
    before = snapshot(project.root)
    result = invoke(
        project, "render", "--profile", "cloud", env={"ULTRA_ENV_PROVIDERS__OPENAI__KEY_VAR": INVALID_KEY_VARS[case]}
    )
    cause = refused(result, before, project.root, (2,))
    assert "key_var" in cause


def test_an_invalid_endpoint_key_var_is_refused(project: Project) -> None:
    before = snapshot(project.root)
    endpoints = {"team": {"base_url": "http://127.0.0.1:9/v1", "model": "m", "key_var": "TEAM TOKEN"}}
    result = invoke(
        project, "render", "--profile", "hybrid", env={"ULTRA_ENV_ENDPOINTS": json.dumps(endpoints), **NO_DAEMON}
    )
    assert "key_var" in refused(result, before, project.root, (2,))


# --- nesting 10,000 deep -------------------------------------------------------------------------

DEPTH = 10_000
DEEP = {
    "ULTRA_ENV_MODELS": "[" * DEPTH + "]" * DEPTH,
    "ULTRA_ENV_ENDPOINTS": '{"a": ' * DEPTH + "1" + "}" * DEPTH,
    "ULTRA_ENV_PROVIDERS": '{"openai": ' + '{"x": ' * DEPTH + "1" + "}" * DEPTH + "}",
    "ULTRA_ENV_BACKEND__COMMAND": "[" * DEPTH + '"x"' + "]" * DEPTH,
    "ULTRA_ENV_WORKER_COMMAND": "[" * DEPTH + "]" * DEPTH,
    "ULTRA_ENV_FEATURES": '{"worker": ' * DEPTH + "true" + "}" * DEPTH,
    "ULTRA_ENV_" + "__".join(["NEST"] * 5000): "1",  # nested by the name itself
}


@pytest.mark.parametrize("name", DEEP, ids=lambda n: n[:40])
def test_nesting_ten_thousand_deep_is_refused(project: Project, name: str) -> None:
    before = snapshot(project.root)
    cause = refused(invoke(project, "render", "--profile", "mock", env={name: DEEP[name]}), before, project.root, (2,))
    assert name[:30] in cause


# --- values that overflow ------------------------------------------------------------------------

OVERFLOWS = {
    "port 10**30": ("ULTRA_ENV_PORTS__BACKEND", str(10**30)),
    "port -1": ("ULTRA_ENV_PORTS__BACKEND", "-1"),
    "port 65536": ("ULTRA_ENV_PORTS__BACKEND", "65536"),
    "port 1e400": ("ULTRA_ENV_PORTS__POSTGRES", "1e400"),
    "port inf": ("ULTRA_ENV_PORTS__REDIS", "inf"),
    "probe timeout inf": ("ULTRA_ENV_TIMEOUTS__PROBE", "inf"),
    "probe timeout -inf": ("ULTRA_ENV_TIMEOUTS__PROBE", "-inf"),
    "probe timeout nan": ("ULTRA_ENV_TIMEOUTS__PROBE", "nan"),
    "probe timeout -1": ("ULTRA_ENV_TIMEOUTS__PROBE", "-1"),
    "probe timeout 0": ("ULTRA_ENV_TIMEOUTS__PROBE", "0"),
    "probe timeout 1e400": ("ULTRA_ENV_TIMEOUTS__PROBE", "1e400"),
    "probe timeout Infinity": ("ULTRA_ENV_TIMEOUTS__PROBE", "Infinity"),
    "probe timeout 1e300": ("ULTRA_ENV_TIMEOUTS__PROBE", "1e300"),
    "probe timeout 10**30": ("ULTRA_ENV_TIMEOUTS__PROBE", str(10**30)),
    "up timeout inf": ("ULTRA_ENV_TIMEOUTS__UP", "inf"),
    "build timeout 1e300": ("ULTRA_ENV_TIMEOUTS__BUILD", "1e300"),
    "health timeout inf": ("ULTRA_ENV_TIMEOUTS__HEALTH", "inf"),
    "context_size 1e400": ("ULTRA_ENV_MODELS", '[{"name": "ai/smollm2", "context_size": 1e400}]'),
    "context_size 10**30": ("ULTRA_ENV_MODELS", f'[{{"name": "ai/smollm2", "context_size": {10**30}}}]'),
    "context_size -1": ("ULTRA_ENV_MODELS", '[{"name": "ai/smollm2", "context_size": -1}]'),
    "size_mb 10**400": ("ULTRA_ENV_MODELS", '[{"name": "ai/smollm2", "size_mb": 1%s}]' % ("0" * 400)),
}


@pytest.mark.parametrize("case", OVERFLOWS)
def test_a_value_that_overflows_is_refused_before_anything_runs(project: Project, case: str) -> None:
    name, value = OVERFLOWS[case]
    before = snapshot(project.root)
    result = invoke(project, "render", "--profile", "mock", env={name: value})
    cause = refused(result, before, project.root, (2,))
    assert name in cause, cause


@pytest.mark.parametrize("case", ["probe timeout 1e300", "probe timeout 10**30", "size_mb 10**400"])
def test_doctor_survives_a_value_that_overflows(project: Project, case: str) -> None:
    name, value = OVERFLOWS[case]
    result = invoke(project, "doctor", "--local-llm", env={name: value})
    no_crash(result)
    assert result.returncode == 2, result.output


# --- bytes that are not UTF-8 --------------------------------------------------------------------

NOT_UTF8 = {
    "a timeout": ({b"ULTRA_ENV_TIMEOUTS__PROBE": b"1\xff"}, None, b"ULTRA_ENV_TIMEOUTS__PROBE"),
    "a key_var": ({b"ULTRA_ENV_PROVIDERS__OPENAI__KEY_VAR": b"MY_\xffHOLDER"}, None, b"KEY_VAR"),
    "the holder key_var names": (
        {b"ULTRA_ENV_PROVIDERS__OPENAI__KEY_VAR": b"MY_HOLDER", b"MY_HOLDER": b"sk-proj-\xff\xfe-holder"},
        None,
        b"MY_HOLDER",
    ),
    "a variable a .env line expands": (
        {b"MY_OPENAI": b"sk-proj-\xff-expanded"},
        "OPENAI_API_KEY=${MY_OPENAI}\n",
        b"OPENAI_API_KEY",
    ),
    "the name of an ULTRA_ENV_ variable": ({b"ULTRA_ENV_PORTS__BACK\xffEND": b"8000"}, None, b"ULTRA_ENV_PORTS"),
    "a JSON value": ({b"ULTRA_ENV_MODELS": b'[{"name": "ai/smol\xfflm2"}]'}, None, b"ULTRA_ENV_MODELS"),
}


@pytest.mark.parametrize("case", NOT_UTF8)
def test_environment_bytes_that_are_not_utf8_are_refused(project: Project, case: str) -> None:
    env, dotenv, named = NOT_UTF8[case]
    if dotenv:
        project.write(".env", dotenv)
    before = snapshot(project.root)
    result = invoke(project, "render", "--profile", "cloud", env=env)
    cause = refused(result, before, project.root, (2,))
    assert named.decode() in cause, cause


@pytest.mark.parametrize("variable", ["DOCKER_HOST", "DOCKER_CONFIG", "HOME"])
def test_doctor_survives_a_docker_variable_that_is_not_utf8(project: Project, variable: str) -> None:
    result = invoke(project, "doctor", "--json", env={variable: b"/tmp/caf\xe9/hostile"})
    no_crash(result)
    assert result.returncode in (1, 2), result.output
    document = json.loads(result.stdout)
    assert all(t["fix"] for t in document["tasks"] if t["status"] == "failed"), document


@pytest.mark.parametrize("variable", ["ULTRA_ENV_PROJECT_DIR", "ULTRA_ENV_TEMPLATES_DIR"])
def test_a_folder_whose_name_is_not_utf8(project: Project, tmp_path: Path, variable: str) -> None:
    folder = os.fsencode(tmp_path) + b"/caf\xe9"
    env = {variable: folder}
    if variable == "ULTRA_ENV_PROJECT_DIR":
        os.mkdir(folder)
        target = Project(Path(os.fsdecode(folder)), project.env)
    else:  # a copy of the shipped templates, under a name that is not UTF-8
        import shutil

        shutil.copytree(REPO / "templates", os.fsdecode(folder))
        target = project
    before = snapshot(target.root)
    result = invoke(project, "render", "--profile", "mock", env=env)
    no_crash(result)
    if result.returncode == 0:  # a POSIX path may hold any byte: then it works all the way
        assert (target.root / "docker-compose.yml").is_file() and (target.root / ".env").is_file()
    else:
        cause = refused(result, before, target.root, (2,))
        assert variable in cause, cause


# --- the folders ultra-env is pointed at ----------------------------------------------------------


def _folder_case(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"hostile-{kind.replace(' ', '-')}"
    if kind == "a regular file":
        path.write_text("not a folder\n")
    elif kind == "a FIFO":
        os.mkfifo(path)
    elif kind == "a folder without templates":
        path.mkdir()
    elif kind == "a folder whose template is a FIFO":
        path.mkdir()
        os.mkfifo(path / "docker-compose.yml.j2")
        (path / "env.j2").write_text("A=1\n")
    return path


@pytest.mark.parametrize("kind", ["missing", "a regular file", "a FIFO"])
def test_a_project_dir_that_is_not_a_folder_is_the_users_to_fix(project: Project, tmp_path: Path, kind: str) -> None:
    path = _folder_case(tmp_path, kind)
    result = invoke(project, "render", "--profile", "mock", env={"ULTRA_ENV_PROJECT_DIR": str(path)})
    no_crash(result)
    assert result.returncode == 2, result.output
    lines = result.stdout.splitlines()
    failed = [i for i, line in enumerate(lines) if line.startswith("failed")]
    assert len(failed) == 1 and "ULTRA_ENV_PROJECT_DIR" in lines[failed[0]], result.stdout
    assert lines[failed[0] + 1].strip().startswith("fix:")
    assert not (tmp_path / "hostile-missing").exists()


@pytest.mark.parametrize(
    "kind", ["missing", "a regular file", "a folder without templates", "a folder whose template is a FIFO"]
)
def test_a_templates_dir_that_holds_no_templates_is_the_users_to_fix(
    project: Project, tmp_path: Path, kind: str
) -> None:
    path = _folder_case(tmp_path, kind)
    before = snapshot(project.root)
    result = invoke(project, "render", "--profile", "mock", env={"ULTRA_ENV_TEMPLATES_DIR": str(path)}, timeout=30)
    cause = refused(result, before, project.root, (2,))
    assert "ULTRA_ENV_TEMPLATES_DIR" in cause, cause
    assert "git checkout" not in result.stdout, result.stdout  # the shipped templates are fine


# --- URL userinfo in every URL setting -----------------------------------------------------------

PASSWORDS = {  # (userinfo as written in the URL, the fragments that must never be shown)
    "plain": ("alUSERa1:plainPWa1", ["alUSERa1", "plainPWa1"]),
    "an @ in the password": ("boUSERb2:P@ssPWb2", ["boUSERb2", "ssPWb2"]),
    "a quote in the password": ("cyUSERc3:it'sPWc3", ["cyUSERc3", "sPWc3"]),
    "percent-encoded": ("deUSERd4:P%40ssPWd4", ["deUSERd4", "ssPWd4"]),
}
URL_SETTINGS = {
    "provider base_url": lambda info: {"ULTRA_ENV_PROVIDERS__OPENAI__BASE_URL": f"http://{info}@127.0.0.1:9/v1"},
    "model_runner.host_url": lambda info: {"ULTRA_ENV_MODEL_RUNNER__HOST_URL": f"http://{info}@127.0.0.1:9"},
    "endpoint base_url": lambda info: {
        "ULTRA_ENV_ENDPOINTS": json.dumps({"team": {"base_url": f"http://{info}@127.0.0.1:9/v1", "model": "m"}})
    },
}
OUTPUTS = [
    ("render", "--profile", "hybrid", "--diff"),
    ("render", "--profile", "hybrid", "--diff", "--json"),
    ("config",),
    ("config", "--json"),
    ("doctor", "--profile", "hybrid"),
    ("doctor", "--profile", "hybrid", "--json"),
    ("llm.ask", "hi", "--provider", "openai", "--profile", "hybrid"),
    ("llm.ask", "hi", "--provider", "team", "--profile", "hybrid"),
    ("llm.compare", "hi", "--profile", "hybrid", "--json"),
]


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("setting", URL_SETTINGS)
def test_url_userinfo_is_masked_in_every_output(project: Project, setting: str, password: str) -> None:
    info, fragments = PASSWORDS[password]
    env = {**URL_SETTINGS[setting](info), **NO_DAEMON, "OPENAI_API_KEY": "sk-proj-HOSTILE-url-55555555"}
    for args in OUTPUTS:
        result = invoke(project, *args, env=env)
        no_crash(result)
        shown = [f for f in fragments if f in result.output]
        assert shown == [], (args, result.output[-2000:])
    state_file = project.root / ".ultra-env" / "state.json"
    assert state_file.is_file(), "the render above wrote its state"
    assert [f for f in fragments if f in state_file.read_text(encoding="utf-8")] == []


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.parametrize("password", PASSWORDS)
def test_the_state_holds_no_url_password_in_any_form(project: Project, password: str) -> None:
    info, fragments = PASSWORDS[password]
    env = {"ULTRA_ENV_MODEL_RUNNER__HOST_URL": f"http://{info}@127.0.0.1:9", **NO_DAEMON}
    result = invoke(project, "render", env=env)
    assert result.returncode == 0, result.output
    secret = info.split(":", 1)[1]
    forms = {
        secret,
        urllib.parse.unquote(secret),
        urllib.parse.quote(secret, safe=""),
        json.dumps(secret)[1:-1],
        base64.b64encode(secret.encode()).decode(),
        secret.encode().hex(),
    }
    text = (project.root / ".ultra-env" / "state.json").read_text(encoding="utf-8")
    assert [form for form in forms if form in text] == []
    # nor a hash of a value that holds it (an unsalted hash of a password is the password, given time)
    from ultra_env.project.envfile import parse

    holders = [value for value in parse((project.root / ".env").read_text()).values().values() if secret in value]
    assert holders, "the URL reaches .env"
    digests = [
        getattr(hashlib, algorithm)(value.encode()).hexdigest()
        for value in holders
        for algorithm in ("sha256", "sha1", "md5", "sha512")
    ]
    stored = [s.split(":", 1)[-1] for s in _strings(json.loads(text))]
    assert [s for s in stored if len(s) >= 12 and any(s in digest for digest in digests)] == []


def test_a_url_password_stays_out_of_the_compose_file(project: Project) -> None:
    """README: secrets live only in .env; the generated docker-compose.yml holds none."""
    info, fragments = PASSWORDS["plain"]
    result = invoke(
        project,
        "render",
        "--profile",
        "cloud",
        env={"ULTRA_ENV_PROVIDERS__OPENAI__BASE_URL": f"https://{info}@gateway.example/v1"},
    )
    assert result.returncode == 0, result.output
    compose = project.read("docker-compose.yml")
    assert "plainPWa1" not in compose


def test_an_endpoint_key_under_an_ordinary_name_is_never_printed(project: Project) -> None:
    secret = "teamgpu-HOSTILE-9d8c7b6a5f"
    body = json.dumps({"error": {"message": f"invalid api key {secret}", "type": "invalid_request_error"}}).encode()
    with Listener(status=401, body=body) as listener:
        endpoints = {"team": {"base_url": f"{listener.url}/v1", "model": "m", "key_var": "TEAMGPU"}}
        env = {"ULTRA_ENV_ENDPOINTS": json.dumps(endpoints), "TEAMGPU": secret, **NO_DAEMON}
        for args in (
            ("llm.ask", "hi", "--provider", "team", "--profile", "hybrid"),
            ("llm.ask", "hi", "--provider", "team", "--profile", "hybrid", "--json"),
            ("llm.compare", "hi", "--profile", "hybrid"),
        ):
            result = invoke(project, *args, env=env)
            no_crash(result)
            assert secret not in result.output, (args, result.output)
        assert listener.seen, "the endpoint was asked"
