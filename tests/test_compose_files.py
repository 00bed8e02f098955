"""The Compose files ultra-env validates and runs are the ones a plain ``docker compose`` reads in
the project (issue 20, group 5): a ``compose.yaml`` that would replace the rendered file, an
override that is not YAML or no longer fits the stack, ``COMPOSE_FILE`` in ``.env`` or the
environment. Which files Compose picks is asked of the real Compose, never assumed."""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

import pytest
from conftest import TEST_IMAGES, Project, clean_environ
from support import hostile
from support.hostile import refusal, snapshot

from ultra_env.project import compose_files, envfile

pytestmark = pytest.mark.compose

invoke = functools.partial(hostile.invoke, timeout=120, daemon=False)


def service_file(name: str) -> str:
    """A Compose file whose one service is named after the file, so Compose's answer says which it read."""
    return f"services:\n  {service_of(name)}:\n    image: busybox\n"


def service_of(name: str) -> str:
    return name.replace(".", "-")


SCENARIOS = {
    "the rendered file alone": (["docker-compose.yml"], "", {}),
    "compose.yaml beside it": (["compose.yaml", "docker-compose.yml"], "", {}),
    "compose.yml beside it": (["compose.yml", "docker-compose.yml"], "", {}),
    "docker-compose.yaml beside it": (["docker-compose.yaml", "docker-compose.yml"], "", {}),
    "an override": (["docker-compose.yml", "docker-compose.override.yml"], "", {}),
    "two overrides": (["docker-compose.yml", "docker-compose.override.yml", "compose.override.yaml"], "", {}),
    "COMPOSE_FILE in .env": (["docker-compose.yml", "extra.yml"], "COMPOSE_FILE=docker-compose.yml:extra.yml\n", {}),
    "COMPOSE_FILE without the rendered file": (["docker-compose.yml", "extra.yml"], "COMPOSE_FILE=extra.yml\n", {}),
    "COMPOSE_FILE over an override": (
        ["docker-compose.yml", "docker-compose.override.yml", "extra.yml"],
        "COMPOSE_FILE=docker-compose.yml:extra.yml\n",
        {},
    ),
    "the environment over .env": (
        ["docker-compose.yml", "extra.yml", "other.yml"],
        "COMPOSE_FILE=docker-compose.yml:extra.yml\n",
        {"COMPOSE_FILE": "docker-compose.yml:other.yml"},
    ),
    "COMPOSE_PATH_SEPARATOR": (
        ["docker-compose.yml", "extra.yml"],
        "COMPOSE_PATH_SEPARATOR=,\nCOMPOSE_FILE=docker-compose.yml,extra.yml\n",
        {},
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_files_found_are_the_ones_compose_reads(tmp_path: Path, scenario: str) -> None:
    names, dotenv, environ = SCENARIOS[scenario]
    for name in names:
        (tmp_path / name).write_text(service_file(name), encoding="utf-8")
    (tmp_path / ".env").write_text(dotenv, encoding="utf-8")
    found = compose_files.find(tmp_path, environ, envfile.parse(dotenv).values())
    done = subprocess.run(
        ["docker", "compose", "config", "--services"],
        cwd=tmp_path,
        env=clean_environ(**environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == {service_of(p.name) for p in found.files}, (found.files, done.stdout)
    assert found.usable == (found.files[0].name == "docker-compose.yml")
    assert (found.problem() is None) == found.usable


def test_a_folder_with_nothing_rendered_yet_is_the_rendered_file_to_come(tmp_path: Path) -> None:
    found = compose_files.find(tmp_path, {}, {})
    assert found.files == (tmp_path / "docker-compose.yml",) and found.usable and not found.extra


# --- what the CLI does with them ------------------------------------------------------------------


def rendered(project: Project, *args: str, **env: str) -> None:
    done = invoke(project, "render", "--profile", "mock", *args, env=env)
    assert done.returncode == 0, done.output


FRONTEND = {"ULTRA_ENV_FEATURES__FRONTEND": "true", "ULTRA_ENV_IMAGES__FRONTEND": "ultra-test/frontend:1"}


@pytest.mark.parametrize(
    "override",
    [
        pytest.param("services: [\n", id="not YAML"),
        pytest.param("services:\n  llm:\n    environment: {X: '1'}\n", id="a service the stack lacks"),
        pytest.param("services:\n  backend:\n    ports: [nonsense]\n", id="a bad value"),
    ],
)
def test_render_refuses_an_override_compose_would_refuse(project: Project, override: str) -> None:
    rendered(project)
    project.write("docker-compose.override.yml", override)
    before = snapshot(project.root)
    for args in (("render",), ("render", "--profile", "cloud")):
        cause, fix = refusal(invoke(project, *args), before, project.root)
        assert "docker-compose.override.yml" in cause and "Compose refuses" in cause, cause
        assert "mv docker-compose.override.yml docker-compose.override.yml.off" in fix, fix
    switched = invoke(project, "profile", "cloud")
    assert switched.returncode == 2 and snapshot(project.root) == before, switched.output
    assert "Compose refuses docker-compose.override.yml" in hostile.human_failures(switched)[0][0], switched.stdout


def test_an_override_that_fitted_the_last_profile_is_refused_before_the_switch(project: Project) -> None:
    rendered(project, **FRONTEND)
    project.write("docker-compose.override.yml", "services:\n  frontend:\n    environment: {THEME: dark}\n")
    rendered(project, **FRONTEND)
    before = snapshot(project.root)
    cause, _ = refusal(invoke(project, "render", "--profile", "mock"), before, project.root)
    assert 'service "frontend"' in cause, cause


def test_doctor_judges_the_files_compose_will_read(project: Project) -> None:
    rendered(project)
    project.write("docker-compose.override.yml", "services: [\n")
    result = invoke(project, "doctor", "--json")
    verdicts = [t for t in json.loads(result.stdout)["tasks"] if t["name"] == "compose files"]
    assert [v["status"] for v in verdicts] == ["failed"], verdicts
    assert "docker-compose.yml + docker-compose.override.yml" in verdicts[0]["msg"]
    project.write("docker-compose.override.yml", "services:\n  backend:\n    environment: {EXTRA: '1'}\n")
    result = invoke(project, "doctor", "--json")
    verdicts = [t for t in json.loads(result.stdout)["tasks"] if t["name"] == "compose files"]
    assert [v["status"] for v in verdicts] == ["ok"], verdicts


@pytest.mark.parametrize(
    ("planted", "dotenv", "named"),
    [
        pytest.param("compose.yaml", "", "compose.yaml", id="compose.yaml"),
        pytest.param("compose.yml", "", "compose.yml", id="compose.yml"),
        pytest.param("mine.yml", "COMPOSE_FILE=mine.yml\n", "COMPOSE_FILE in .env", id="COMPOSE_FILE"),
    ],
)
def test_a_file_that_would_replace_the_rendered_one_is_refused_with_the_move(
    project: Project, planted: str, dotenv: str, named: str
) -> None:
    rendered(project)
    project.write(planted, "services:\n  mine:\n    image: busybox\n")
    if dotenv:
        project.write(".env", project.read(".env") + dotenv)
    before = snapshot(project.root)
    for args, code in ((("render",), 2), (("up",), 2), (("setup", "--profile", "mock"), 1)):  # setup: doctor's ✗
        result = invoke(project, *args)
        hostile.no_crash(result.output)
        assert result.returncode == code, (args, result.output)
        lines = [cause for cause, _ in hostile.human_failures(result)]
        assert any(named in line and "docker-compose.yml" in line for line in lines), (args, result.stdout)
        assert snapshot(project.root) == before
    if not dotenv:
        fix = hostile.human_failures(invoke(project, "render"))[0][1]
        assert f"move what {planted} adds into docker-compose.override.yml" in fix, fix


def test_a_fitting_override_is_validated_and_said(project: Project) -> None:
    rendered(project)
    project.write("docker-compose.override.yml", "services:\n  backend:\n    environment: {EXTRA: '1'}\n")
    result = invoke(project, "render", "--profile", "cloud")
    assert result.returncode == 0, result.output
    assert "accepts the rendered files with docker-compose.override.yml" in result.stdout, result.stdout


@pytest.mark.docker
def test_up_runs_the_override_it_validated(project: Project) -> None:
    """``up --check`` plans from ``docker compose config --hash``: a service only the override
    (or COMPOSE_FILE's extra file) has is in the plan only when ultra-env hands Compose that file."""
    project.env.update(TEST_IMAGES)
    rendered(project)
    project.write("docker-compose.override.yml", "services:\n  sidecar:\n    image: ultra-test/busybox:1\n")
    project.write("extra.yml", "services:\n  helper:\n    image: ultra-test/busybox:1\n")
    result = hostile.invoke(project, "up", "--check", timeout=120)
    assert result.returncode == 0, result.output
    assert "create" in result.stdout and "sidecar" in result.stdout and "helper" not in result.stdout, result.stdout
    result = hostile.invoke(project, "up", "--check", timeout=120, env={"COMPOSE_FILE": "docker-compose.yml:extra.yml"})
    assert result.returncode == 0, result.output
    assert "helper" in result.stdout and "sidecar" not in result.stdout, result.stdout
