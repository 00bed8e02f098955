"""Hostile, round three (issue 20, groups 6 and 7): what the CLI does with a provider it has no
client for, a FIFO where a wheel should be, the profile tasks without a terminal or a name.

Every refusal meets `hostile.refusal`: a one-line cause, a fix, a non-zero exit, nothing written.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
from conftest import Project
from support import hostile
from support.hostile import no_crash, refusal, snapshot
from support.oracle import project_config

HANG = 60
invoke = functools.partial(hostile.invoke, timeout=HANG, daemon=False)

# --- group 7: a provider table ultra-env has no client for ----------------------------------------

MISTRAL = '[providers.mistral]\nkey_var = "MISTRAL_API_KEY"\ndefault_model = "mistral-small"\n'


@pytest.mark.parametrize(
    "args",
    [
        ("llm.ask", "hello"),
        ("llm.compare", "hello"),
        ("doctor", "--live"),
        ("config",),
        ("render",),
    ],
)
@pytest.mark.parametrize("where", ["toml", "env"])
def test_an_unknown_provider_is_a_configuration_error_naming_the_ones_that_exist(
    project: Project, args: tuple[str, ...], where: str
) -> None:
    env = {"MISTRAL_API_KEY": "mk-secret-mistral-123456", "ULTRA_ENV_PROFILE": "cloud"}
    if where == "toml":
        project.write("ultra-env.toml", MISTRAL)
    else:
        env |= {
            "ULTRA_ENV_PROVIDERS__MISTRAL__KEY_VAR": "MISTRAL_API_KEY",
            "ULTRA_ENV_PROVIDERS__MISTRAL__DEFAULT_MODEL": "m",
        }
    project.write(".env", "OPENAI_API_KEY=sk-secret-openai-123456\n")
    before = snapshot(project.root)
    result = invoke(project, *args, env=env)
    cause, fix = refusal(result, before, project.root)
    assert "mistral" in cause and all(name in cause for name in ("openai", "anthropic", "google")), cause
    assert "endpoints" in fix, fix
    assert "secret" not in result.output


# --- group 7: what is not a wheel in backend.wheelhouse ------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "link-to-fifo", "folder", "device"])
def test_a_non_regular_file_in_the_wheelhouse_is_refused_never_opened(
    project: Project, tmp_path: Path, kind: str
) -> None:
    house = tmp_path / "wheelhouse"
    house.mkdir()
    (house / "good-1.0-py3-none-any.whl").write_bytes(b"PK")
    bad = house / "bad-1.0-py3-none-any.whl"
    if kind == "fifo":
        os.mkfifo(bad)
    elif kind == "link-to-fifo":
        os.mkfifo(tmp_path / "pipe")
        bad.symlink_to(tmp_path / "pipe")
    elif kind == "folder":
        bad.mkdir()
    else:
        bad.symlink_to("/dev/zero")
    before = snapshot(project.root)
    result = invoke(project, "render", env={"ULTRA_ENV_BACKEND__WHEELHOUSE": str(house), "ULTRA_ENV_PROFILE": "mock"})
    cause, fix = refusal(result, before, project.root)
    assert bad.name in cause and "wheelhouse" in cause, cause
    assert str(bad) in fix, fix


# --- group 6: onboard with no terminal ------------------------------------------------------------


def test_onboard_without_a_terminal_asks_nothing_and_changes_nothing(project: Project) -> None:
    """stdin at /dev/null: the profile it would have asked for is not chosen for the user."""
    assert invoke(project, "profile", "mock").returncode == 0
    before = snapshot(project.root)
    state = (project.root / ".ultra-env" / "state.json").read_bytes()
    result = invoke(project, "onboard")
    cause, fix = refusal(result, before, project.root)
    assert "terminal" in cause, cause
    assert "--profile" in fix and "--yes" in fix, fix
    assert (project.root / ".ultra-env" / "state.json").read_bytes() == state
    assert invoke(project, "profiles").stdout.startswith("active profile: mock")


# --- group 6: invoke profile ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", " "])
def test_an_empty_profile_name_is_refused_not_taken_as_keep(project: Project, name: str) -> None:
    assert invoke(project, "profile", "mock").returncode == 0
    before = snapshot(project.root)
    cause, fix = refusal(invoke(project, "profile", name), before, project.root)
    assert "empty profile name" in cause, cause
    assert "invoke profile NAME" in fix and "invoke profiles" in fix, fix


def test_a_switch_under_ultra_env_profile_says_the_variable_overrides_it(project: Project) -> None:
    result = invoke(project, "profile", "mock", env={"ULTRA_ENV_PROFILE": "cloud"})
    no_crash(result)
    assert result.returncode == 0, result.output
    lines = result.stdout.splitlines()
    warned = [i for i, line in enumerate(lines) if line.startswith("warn") and "PROFILE=cloud overrides" in line]
    assert warned and "unset ULTRA_ENV_PROFILE" in lines[warned[0] + 1], result.stdout
    assert invoke(project, "profiles").stdout.startswith("active profile: mock")  # saved, as it says
    plain = invoke(project, "profile", "cloud")
    assert "overrides" not in plain.stdout, plain.stdout


def test_local_llm_on_a_switch_says_it_is_for_this_run_only(project: Project) -> None:
    result = invoke(project, "profile", "cloud", "--local-llm")
    no_crash(result)
    assert result.returncode == 0, result.output
    assert "--local-llm" in result.stdout and "this run only" in result.stdout, result.stdout
    assert "local_llm = true" in result.stdout, result.stdout
    project.write("ultra-env.toml", "[features]\nlocal_llm = true\n")  # kept: nothing to warn about
    kept = invoke(project, "profile", "hybrid", "--local-llm")
    assert kept.returncode == 0 and "this run only" not in kept.stdout, kept.stdout


# --- group 6: what the rendered stack gives the backend (the real Compose is the oracle) ------------


def compose_environment(root: Path, service: str = "backend") -> dict[str, str]:
    """The service's environment as `docker compose config` resolves it, from the project's files alone."""
    seen = project_config(root)["services"][service].get("environment") or {}
    return {k: v.replace("$$", "$") for k, v in seen.items() if v is not None}


KEY = "sk-custom-var-key-5f5f5f"


@pytest.mark.compose
def test_a_custom_key_var_reaches_the_backend_under_its_providers_name(project: Project) -> None:
    project.write("ultra-env.toml", '[providers.openai]\nkey_var = "TEAM_OPENAI_TOKEN"\n')
    result = invoke(project, "render", "--profile", "cloud", env={"TEAM_OPENAI_TOKEN": KEY})
    no_crash(result)
    assert result.returncode == 0, result.output
    assert KEY not in result.output and KEY not in project.read("docker-compose.yml")
    env = compose_environment(project.root)
    assert env.get("OPENAI_API_KEY") == KEY, sorted(env)
    # an edit of the key in .env reaches the backend without a render: it is passed by reference
    project.write(".env", project.read(".env").replace(KEY, KEY + "-rotated"))
    assert compose_environment(project.root)["OPENAI_API_KEY"] == KEY + "-rotated"


# --- group 6: passwords in DATABASE_URL / REDIS_URL ------------------------------------------------

URL_BREAKERS = ["p@ss/w#rd", "a:b", "100%", "x?y", "sp ace", "h#sh", "naïve"]


@pytest.mark.compose
@pytest.mark.parametrize("var", ["POSTGRES_PASSWORD", "REDIS_PASSWORD"])
@pytest.mark.parametrize("password", URL_BREAKERS)
def test_a_password_a_url_cannot_carry_is_refused_naming_it(project: Project, var: str, password: str) -> None:
    project.write(".env", f"{var}='{password}'\n")
    before = snapshot(project.root)
    cause, fix = refusal(invoke(project, "render", "--profile", "mock"), before, project.root)
    assert var in cause and "URL" in cause and password not in cause, cause
    assert var in fix, fix


@pytest.mark.compose
@pytest.mark.parametrize("password", [None, "Ab9-._~z", "-", "~~~"])
def test_the_urls_the_backend_gets_carry_the_passwords_exactly(project: Project, password: str | None) -> None:
    """Parsed by urllib.parse from what the real Compose hands the backend."""
    from urllib.parse import unquote, urlsplit

    if password is not None:
        project.write(".env", f"POSTGRES_PASSWORD={password}\nREDIS_PASSWORD={password}\n")
    result = invoke(project, "render", "--profile", "mock")
    assert result.returncode == 0, result.output
    env = compose_environment(project.root)
    dotenv = dict(line.split("=", 1) for line in project.read(".env").splitlines() if "=" in line and line[0] != "#")
    for url, var, host in (("DATABASE_URL", "POSTGRES_PASSWORD", "postgres"), ("REDIS_URL", "REDIS_PASSWORD", "redis")):
        parts = urlsplit(env[url])
        assert parts.hostname == host and not parts.fragment and not parts.query, url
        assert unquote(parts.password or "") == dotenv[var].strip("'\"") != "", url
        if password is not None:
            assert dotenv[var].strip("'\"") == password


# --- group 6: .env saved by an editor while Compose validates -------------------------------------

EDITING_DOCKER = """#!/bin/sh
# The real docker, after an "editor" saved .env, when Compose is asked to validate (config -q).
case " $* " in *" config -q "*) printf 'MINE=saved-meanwhile\\n' >> "$EDITED_ENV";; esac
exec {docker} "$@"
"""


@pytest.mark.compose
def test_an_env_saved_while_compose_validates_is_kept_and_nothing_written(project: Project, tmp_path: Path) -> None:
    """The run's new .env was made from the file as it was read: should it differ at commit, the
    whole write is dropped (docker-compose.yml too) and the user's save stays."""
    import shutil

    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "docker").write_text(EDITING_DOCKER.format(docker=shutil.which("docker")), encoding="utf-8")
    (shim / "docker").chmod(0o755)
    project.write(".env", "OPENAI_API_KEY=sk-secret-openai-123456\n")
    env = {"PATH": f"{shim}:{os.environ['PATH']}", "EDITED_ENV": str(project.root / ".env")}
    result = invoke(project, "render", "--profile", "mock", env=env)
    no_crash(result.output)
    assert result.returncode != 0, result.output
    assert ".env changed while this run was at work" in result.stdout, result.stdout
    assert project.read(".env").endswith("MINE=saved-meanwhile\n"), project.read(".env")
    assert "sk-secret" not in result.output
    assert sorted(p.name for p in project.root.iterdir()) == [".env", ".ultra-env"], list(project.root.iterdir())
    assert not list(project.root.rglob("*.tmp")), "temp files left"
    assert not (project.root / ".ultra-env" / "state.json").exists()
    again = invoke(project, "render", "--profile", "mock")
    assert again.returncode == 0, again.output
    assert "MINE=saved-meanwhile" in project.read(".env")
