"""`invoke onboard`: a new developer's guided first run, interactive (on a real pseudo-terminal)
and not, against the real engine and the locally built images."""

from __future__ import annotations

import io
import sys

import pexpect
import pytest
from conftest import REPO, Project, StandIn

from ultra_env.project.envfile import parse

pytestmark = pytest.mark.docker
KEY = "sk-PLANTED-onboard-4c4c4c"


def test_not_interactive_takes_the_suggestion(stack: Project) -> None:
    """No Model Runner plugin and no keys on this machine: the mock profile is suggested and set up."""
    from conftest import docker_config_with_compose

    config = docker_config_with_compose(stack.root.parent / "docker-config")
    result = stack.invoke("onboard", "--yes", timeout=600, DOCKER_CONFIG=str(config))
    assert result.returncode == 0, result.stdout
    out = result.stdout
    assert out.index("Step 1 of 4") < out.index("Step 2 of 4") < out.index("Step 3 of 4") < out.index("Step 4 of 4")
    assert "  * mock" in out and "  → mock" in out
    assert "Ultra is ready · profile mock" in out and "Next:" in out
    assert stack.invoke("profiles").stdout.startswith("active profile: mock")


def test_the_profile_chosen_is_the_one_set_up_whatever_ultra_env_profile_says(stack: Project) -> None:
    from conftest import docker_config_with_compose

    config = docker_config_with_compose(stack.root.parent / "docker-config")
    result = stack.invoke(
        "onboard", "--profile", "mock", "--yes", timeout=600, DOCKER_CONFIG=str(config), ULTRA_ENV_PROFILE="cloud"
    )
    assert result.returncode == 0, result.stdout
    assert "profile mock (invoke profile mock)" in result.stdout  # setup's configuration task
    assert "Ultra is ready · profile mock" in result.stdout


@pytest.mark.llm
def test_not_interactive_suggests_local_when_model_runner_answers(stack: Project, dmr: StandIn) -> None:
    result = stack.invoke("onboard", "--yes", timeout=900, **dmr.env)
    assert result.returncode == 0, result.stdout
    assert "  → local" in result.stdout and "via Docker Model Runner" in result.stdout


def test_interactive_on_a_terminal_keys_stay_hidden_and_land_in_env(stack: Project) -> None:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "invoke", "-r", str(REPO), "onboard"],
        env=stack.env,
        cwd=str(stack.root),
        encoding="utf-8",
        timeout=300,
    )
    seen = io.StringIO()
    child.logfile_read = seen  # everything the terminal showed
    child.expect(r"Profile \[\w+\]: ")
    child.sendline("cloud")
    child.expect(r"OPENAI_API_KEY for openai \(hidden; Enter to skip\): ")
    child.sendline(KEY)
    child.expect("ANTHROPIC_API_KEY")
    child.sendline("")
    child.expect("GOOGLE_API_KEY")
    child.sendline("")
    child.expect(pexpect.EOF)
    child.close()
    transcript = seen.getvalue()
    assert child.exitstatus == 0, transcript
    assert "Ultra is ready · profile cloud" in transcript
    assert "openai (key set)" in transcript and "anthropic (no key)" in transcript
    values = parse(stack.read(".env")).values()
    assert values["OPENAI_API_KEY"] == KEY and values["ANTHROPIC_API_KEY"] == ""
    assert KEY not in transcript  # never echoed, never printed
