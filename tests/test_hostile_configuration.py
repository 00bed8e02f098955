"""Hostile configuration: strings, numbers and types in `ultra-env.toml` and the task options.

Attacks the configuration surface of `render`, `config`, `models.bench` and `gen-docs --check`:
every configuration string that reaches the generated docker-compose.yml (`worker_command`,
`backend.command`, `model_runner.container_url`, provider base URLs and models, the backend's
source folder and Dockerfile) must reach Compose literally — a `$` is never interpolated, and
`${POSTGRES_PASSWORD}` in a command never puts the database password on the container's command
line (the real `docker compose config` of the rendered project is the oracle); control characters
and YAML indicators must arrive as written or be refused as the user's; NUL bytes, infinities,
huge numbers and values of the wrong type in ultra-env.toml; options of the wrong type
(`--requests x`, `--max-tokens 1e9`) and of absurd size.

Every refusal must be: exit 2 (the user's input) or 1 (the machine), one failed task with a
one-line cause and a `fix:`, no traceback, no "internal error", and no file written.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from conftest import REPO, Project
from support import hostile
from support.hostile import NO_DAEMON, no_crash, refusal, snapshot
from support.listener import Listener
from support.oracle import project_config

HANG = 60
invoke = functools.partial(hostile.invoke, timeout=HANG, daemon=False)
INJECTED = "INJECTED-BY-COMPOSE-7e1f"


# --- helpers (the shared ones are in support/hostile.py) ----------------------------------------


def compose_config(root: Path) -> dict:
    """`docker compose config` of the rendered project, with a variable that an interpolation would
    pull in."""
    return project_config(root, X=INJECTED)


def literal(value):
    """A value as `docker compose config` prints it, back to what it means (it writes $ as $$)."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [literal(v) for v in value]
    return value


def toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string for what these tests hold


# --- `$` never interpolated ----------------------------------------------------------------------

PATTERNS = {"every form of $": "pre-$X-${X}-$$-${X:-d}-${X?no}-post", "the database password": "${POSTGRES_PASSWORD}"}


def _field(name: str, value: str, root: Path) -> tuple[str, tuple[str, ...], callable]:
    """(ultra-env.toml text, render arguments, how to find the value in `docker compose config`)."""
    if name == "worker_command":
        return (
            f'worker_command = ["sh", "-c", {toml_string("echo " + value)}]\n[features]\nworker = true\n',
            ("--profile", "mock"),
            lambda c: c["services"]["worker"]["command"],
        )
    if name == "backend.command":
        return (
            f'[backend]\ncommand = ["serve", {toml_string("--flag=" + value)}]\n',
            ("--profile", "mock"),
            lambda c: c["services"]["backend"]["command"],
        )
    if name == "model_runner.container_url":
        return (
            '[model_runner]\ncompose_models = "off"\n'
            f"container_url = {toml_string('http://runner.local/' + value + '/engines/v1')}\n",
            ("--profile", "local"),
            lambda c: c["services"]["backend"]["environment"]["LLM_URL"],
        )
    if name == "providers.openai.base_url":
        return (
            f"[providers.openai]\nbase_url = {toml_string('http://gw.example/' + value + '/v1')}\n",
            ("--profile", "cloud"),
            lambda c: c["services"]["backend"]["environment"]["OPENAI_BASE_URL"],
        )
    if name == "providers.openai.default_model":
        return (
            f"[providers.openai]\ndefault_model = {toml_string('gpt-' + value)}\n",
            ("--profile", "cloud"),
            lambda c: c["services"]["backend"]["environment"]["OPENAI_MODEL"],
        )
    if name in ("backend.source", "backend.dockerfile"):
        source = root.parent / (f"ultra-src-{value}" if name == "backend.source" else "ultra-src")
        dockerfile = f"Dockerfile.{value}" if name == "backend.dockerfile" else "Dockerfile"
        source.mkdir(exist_ok=True)
        (source / dockerfile).write_text("FROM scratch\n")
        key = "context" if name == "backend.source" else "dockerfile"
        return (
            f"[backend]\nsource = {toml_string(str(source))}\ndockerfile = {toml_string(dockerfile)}\n",
            ("--profile", "mock"),
            lambda c: c["services"]["backend"]["build"][key],
        )
    raise AssertionError(name)  # pragma: no cover


def _expected(name: str, value: str, root: Path):
    return {
        "worker_command": ["sh", "-c", "echo " + value],
        "backend.command": ["serve", "--flag=" + value],
        "model_runner.container_url": "http://runner.local/" + value + "/engines/v1",
        "providers.openai.base_url": "http://gw.example/" + value + "/v1",
        "providers.openai.default_model": "gpt-" + value,
        "backend.source": str(root.parent / f"ultra-src-{value}"),
        "backend.dockerfile": f"Dockerfile.{value}",
    }[name]


ESCAPED_FIELDS = [
    "worker_command",
    "backend.command",
    "model_runner.container_url",
    "providers.openai.base_url",
    "providers.openai.default_model",
    "backend.source",
    "backend.dockerfile",
]


@pytest.mark.compose
@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("name", ESCAPED_FIELDS)
def test_a_dollar_in_the_configuration_reaches_compose_literally(project: Project, name: str, pattern: str) -> None:
    value = PATTERNS[pattern]
    toml, args, find = _field(name, value, project.root)
    project.write("ultra-env.toml", toml)
    result = invoke(project, "render", *args, env=NO_DAEMON)
    no_crash(result)
    assert result.returncode == 0, result.output
    seen = find(compose_config(project.root))
    assert literal(seen) == _expected(name, value, project.root), seen
    password = next(
        line.split("=", 1)[1] for line in project.read(".env").splitlines() if line.startswith("POSTGRES_PASSWORD=")
    )
    assert password not in json.dumps(seen) and INJECTED not in json.dumps(seen)


CHARACTERS = {
    "NEL (U+0085)": "\u0085",
    "line separator (U+2028)": "\u2028",
    "paragraph separator (U+2029)": "\u2029",
    "DEL": "\u007f",
    "a C1 control (U+0090)": "\u0090",
    "escape": "\u001b[31m",
    "carriage return": "\r",
    "tab": "\t",
    "newline": "\n",
    "byte-order mark": "\ufeff",
    "noncharacter U+FFFE": "\ufffe",
    "noncharacter U+FFFF": "\uffff",
    "a lone surrogate": "\ud800",
    "YAML indicators": "*a &b !c |d >e %f @g `h",
    "quotes and backslashes": "'\"\\'\\\\\"",
    "a Jinja expression": "{{ 7*7 }}{% raw %}",
}


@pytest.mark.compose
@pytest.mark.parametrize("case", CHARACTERS)
def test_a_character_in_a_command_arrives_as_written_or_is_refused_as_the_users(project: Project, case: str) -> None:
    command = ["sh", "-c", f"echo a{CHARACTERS[case]}b"]
    before = snapshot(project.root)
    result = invoke(
        project,
        "render",
        "--profile",
        "mock",
        env={"ULTRA_ENV_FEATURES__WORKER": "true", "ULTRA_ENV_WORKER_COMMAND": json.dumps(command)},
    )
    no_crash(result)
    if result.returncode == 0:
        assert literal(compose_config(project.root)["services"]["worker"]["command"]) == command
    else:
        cause, fix = refusal(result, before, project.root, (2,))
        assert "worker_command" in cause and "templates" not in fix, result.stdout


# --- ultra-env.toml: NUL bytes, infinities, huge numbers, wrong types ------------------------------

NUL_FIELDS = {
    "worker_command": 'worker_command = ["sh", "-c", "echo a\\u0000b"]\n[features]\nworker = true\n',
    "backend.command": '[backend]\ncommand = ["serve\\u0000now"]\n',
    "backend.source": '[backend]\nsource = "/tmp/ultra\\u0000src"\n',
    "backend.dockerfile": '[backend]\nsource = "."\ndockerfile = "Docker\\u0000file"\n',
    "backend.wheelhouse": '[backend]\nwheelhouse = "/tmp/wheels\\u0000x"\n',
    "providers.openai.default_model": '[providers.openai]\ndefault_model = "gpt\\u0000x"\n',
    "providers.openai.base_url": '[providers.openai]\nbase_url = "http://gw.example/v1\\u0000x"\n',
    "model_runner.container_url": '[model_runner]\ncontainer_url = "http://runner.local/\\u0000/engines/v1"\n',
    "model_runner.host_url": '[model_runner]\nhost_url = "http://localhost:12434/\\u0000"\n',
    "endpoints.team.model": '[endpoints.team]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m\\u0000x"\n',
    "backend.health_path": '[backend]\nhealth_path = "/api/health\\u0000"\n',
}


@pytest.mark.parametrize("field", NUL_FIELDS)
def test_a_nul_byte_in_a_setting_is_refused_naming_it(project: Project, field: str) -> None:
    project.write("ultra-env.toml", NUL_FIELDS[field])
    before = snapshot(project.root)
    cause, _ = refusal(invoke(project, "render", "--profile", "hybrid", env=NO_DAEMON), before, project.root, (2,))
    assert field in cause, cause


TOML_NUMBERS = {
    "ports.backend 10**30": ("[ports]\nbackend = 1000000000000000000000000000000\n", "ports.backend"),
    "ports.postgres inf": ("[ports]\npostgres = inf\n", "ports.postgres"),
    "timeouts.probe inf": ("[timeouts]\nprobe = inf\n", "timeouts.probe"),
    "timeouts.health nan": ("[timeouts]\nhealth = nan\n", "timeouts.health"),
    "timeouts.up -inf": ("[timeouts]\nup = -inf\n", "timeouts.up"),
    "timeouts.build 1e300": ("[timeouts]\nbuild = 1e300\n", "timeouts.build"),
    "context_size 1e400": ('[[models]]\nname = "ai/smollm2"\ncontext_size = 1e400\n', "models.0.context_size"),
    "size_mb 10**30": (
        '[[models]]\nname = "ai/smollm2"\nsize_mb = 1000000000000000000000000000000\n',
        "models.0.size_mb",
    ),
}


@pytest.mark.parametrize("case", TOML_NUMBERS)
def test_a_number_in_the_file_that_overflows_is_refused(project: Project, case: str) -> None:
    text, field = TOML_NUMBERS[case]
    project.write("ultra-env.toml", text)
    before = snapshot(project.root)
    cause, _ = refusal(invoke(project, "render", "--profile", "mock"), before, project.root, (2,))
    assert field in cause and "ultra-env.toml" in cause, cause


TOML_TYPES = {
    "a number as the profile": "profile = 5\n",
    "a string as the features": 'features = "all"\n',
    "a table as the models": "[models]\nname = 'ai/smollm2'\n",
    "a number as a model name": "[[models]]\nname = 5\n",
    "a list as the providers": "providers = []\n",
    "a string as a command": 'worker_command = "sh -c x"\n',
    "an invalid key_var": '[providers.openai]\nkey_var = "1 BAD"\n',
    "an invalid endpoint key_var": (
        '[endpoints.team]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\nkey_var = "A-B"\n'
    ),
    "a datetime as a port": "[ports]\nbackend = 1979-05-27T07:32:00Z\n",
}


@pytest.mark.parametrize("case", TOML_TYPES)
def test_a_value_of_the_wrong_type_in_the_file_is_refused(project: Project, case: str) -> None:
    project.write("ultra-env.toml", TOML_TYPES[case])
    before = snapshot(project.root)
    cause, _ = refusal(invoke(project, "render", env=NO_DAEMON), before, project.root, (2,))
    assert "ultra-env.toml" in cause, cause


# --- options of the wrong type and of absurd size ------------------------------------------------

BENCH_OPTIONS = {
    "--requests x": ["--requests", "x"],
    "--requests 1e9": ["--requests", "1e9"],
    "--max-tokens 1e9": ["--max-tokens", "1e9"],
    "--max-tokens x": ["--max-tokens", "x"],
    "--prompt-words many": ["--prompt-words", "many"],
    "--requests -5": ["--requests", "-5"],
    "--concurrency x": ["--concurrency", "x"],
    "--concurrency 1,,2": ["--concurrency", "1,,2"],
    "--requests 10**26": ["--requests", str(10**26), "--concurrency", "1"],
    "--concurrency 10**20": ["--concurrency", str(10**20), "--requests", "1"],
    "--max-tokens 10**30": ["--max-tokens", str(10**30), "--requests", "1", "--concurrency", "1"],
}


@pytest.mark.parametrize("case", BENCH_OPTIONS)
def test_bad_bench_options_are_refused_before_any_request(project: Project, case: str) -> None:
    with Listener(status=401) as listener:
        env = {
            "ULTRA_ENV_PROVIDERS__OPENAI__BASE_URL": f"{listener.url}/v1",
            "OPENAI_API_KEY": "sk-proj-HOSTILE-bench-1",
        }
        before = snapshot(project.root)
        result = invoke(project, "models.bench", "--profile", "cloud", *BENCH_OPTIONS[case], env=env)
        cause, fix = refusal(result, before, project.root, (2,))
        assert listener.seen == [], "a request went out for options that were refused"
    assert BENCH_OPTIONS[case][0] in cause + fix, result.stdout


@pytest.mark.parametrize(
    "environ",
    [
        {"ULTRA_ENV_MODELS": "[" * 10_000 + "]" * 10_000},
        {"ULTRA_ENV_PORTS__BACKEND": "eighty"},
        {"ULTRA_ENV_TIMEOUTS__PROBE": "inf", "ULTRA_ENV_TEMPLATES_DIR": "/nonexistent/hostile"},
    ],
    ids=["deep models", "bad port", "inf timeout and no templates"],
)
def test_gen_docs_check_ignores_the_configuration_and_writes_nothing(project: Project, environ: dict) -> None:
    generated = [REPO / "env.example", REPO / "docs" / "profiles-and-flags.md"]
    before = {p: p.read_bytes() for p in generated}
    plain = invoke(project, "gen-docs", "--check")  # the same check without the hostile variables
    result = invoke(project, "gen-docs", "--check", env=environ)
    no_crash(result)
    assert (result.returncode, result.stdout) == (plain.returncode, plain.stdout), result.output
    assert {p: p.read_bytes() for p in generated} == before
