"""ultra-env's pytest plugin (issue 22): another project's suite (tests/sample_suite, standing for
Ultra's) run as its own pytest in its own folder, against the DMR stand-in with the real llama.cpp
and Gemma 3 270M, then with no runner at all, then with the runner required."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import GEMMA, StandIn, clean_environ, refused_port

SAMPLE = Path(__file__).resolve().parent / "sample_suite"
NEEDS_MODEL = 3  # the sample's tests that ask for dmr_model


def sample_project(tmp_path: Path) -> Path:
    root = tmp_path / "ultra"
    shutil.copytree(SAMPLE, root / "tests")
    return root


def run_sample(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The sample's own pytest: the plugin named with -p and nothing else auto-loaded, so that the
    run is the same whether or not ultra-env's entry point is installed in this environment."""
    env = {**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "ULTRA_ENV_PROJECT_DIR": str(root)}
    env.pop("CI", None)
    env.pop("ULTRA_ENV_REQUIRE_DMR", None)
    env.update({k: v for k, v in (a.split("=", 1) for a in args if a.startswith("ENV:")) for k in [k[4:]]})
    argv = [a for a in args if not a.startswith("ENV:")]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "ultra_env.pytest_plugin", "-p", "no:cacheprovider", "-q", "-rs", *argv],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_the_suite_gets_a_model_pulled_loaded_and_named(tmp_path: Path, dmr: StandIn) -> None:
    assert httpx.get(f"{dmr.url}/models", timeout=30).json() == [], "nothing pulled yet: the plugin pulls it"
    done = run_sample(sample_project(tmp_path), clean_environ(**dmr.env))
    assert done.returncode == 0 and "4 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    summary = done.stdout.split("local models (ultra-env)", 1)[1]
    for name in ("test_the_adapter_gets_text_and_token_counts", "test_a_marker_picks_the_model"):
        assert f"{name}: {GEMMA} at {dmr.url}" in summary, summary
    assert len(httpx.get(f"{dmr.url}/models", timeout=30).json()) == 1, "pulled"


def test_with_xdist_the_summary_still_names_the_model(tmp_path: Path, dmr: StandIn) -> None:
    done = run_sample(sample_project(tmp_path), clean_environ(**dmr.env), "-p", "xdist", "-n", "2", "-v")
    assert done.returncode == 0 and "4 passed" in done.stdout, done.stdout[-3000:]
    assert "ultra-env: local models through Docker Model Runner" in done.stdout  # the header (-q hides it)
    assert done.stdout.count(f": {GEMMA} at ") == NEEDS_MODEL, done.stdout[-2000:]


@pytest.fixture
def no_runner(tmp_path: Path) -> Iterator[dict[str, str]]:
    """No runner anywhere: nothing listens at host_url, and the docker CLI has no model plugin."""
    config = tmp_path / "empty-docker-config"
    config.mkdir()
    with refused_port() as port:
        yield clean_environ(ULTRA_ENV_MODEL_RUNNER__HOST_URL=f"http://127.0.0.1:{port}", DOCKER_CONFIG=str(config))


def test_without_a_runner_the_tests_that_need_it_skip_with_the_reason_and_the_fix(
    tmp_path: Path, no_runner: dict[str, str]
) -> None:
    done = run_sample(sample_project(tmp_path), no_runner)
    assert done.returncode == 0, done.stdout[-3000:]
    assert f"1 passed, {NEEDS_MODEL} skipped" in done.stdout, done.stdout[-3000:]
    assert "Docker Model Runner does not answer" in done.stdout and "fix:" in done.stdout


@pytest.mark.parametrize("how", ["--dmr-required", "ENV:CI=true", "ENV:ULTRA_ENV_REQUIRE_DMR=1"])
def test_required_the_missing_runner_fails_them(tmp_path: Path, no_runner: dict[str, str], how: str) -> None:
    done = run_sample(sample_project(tmp_path), no_runner, how)
    assert done.returncode == 1, done.stdout[-3000:]
    assert f"{NEEDS_MODEL} error" in done.stdout and "1 passed" in done.stdout, done.stdout[-3000:]
    assert "Docker Model Runner is required here" in done.stdout
