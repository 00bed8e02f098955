"""The team profile (issue 21, the developer's side): the models live on a shared server that takes a
key. The server here is the real llama.cpp server (llama-cpp-python) with its ``--api_key``, serving
the real Gemma 3 270M: one of the servers the issue names (vLLM, llama.cpp's server, Model Runner
behind a proxy). No runner of this machine is involved."""

from __future__ import annotations

import functools
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import GEMMA, Project
from support import hostile

KEY = "tk-secret-team-dev1-0123456789"
invoke = functools.partial(hostile.invoke, timeout=120, daemon=False)


@pytest.fixture(scope="module")
def team_server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The shared server: on all interfaces, so that the stack's containers reach it through
    Docker's bridge as they would reach a server on the network."""
    from dmr_standin.llama import start_llama

    log = tmp_path_factory.mktemp("team") / "llama.log"
    handle = start_llama(gguf, alias=GEMMA, host="0.0.0.0", api_key=KEY, log=log, timeout=120)
    try:
        yield handle
    finally:
        handle.stop()


def team_env(url: str, key: str | None = KEY, **more: str) -> dict[str, str]:
    env = {"ULTRA_ENV_PROFILE": "team", "ULTRA_ENV_TEAM__URL": url, "ULTRA_ENV_TEAM__MODELS": json.dumps([GEMMA])}
    return env | ({"TEAM_LLM_API_KEY": key} if key is not None else {}) | more


def team_verdicts(result: hostile.Result) -> dict[str, dict]:
    tasks = json.loads(result.stdout)["tasks"]
    return {t["name"]: t for t in tasks if t.get("area") == "Team server"}


def test_doctor_says_the_key_is_accepted_and_the_model_served(project: Project, team_server: Any) -> None:
    result = invoke(project, "doctor", "--json", env=team_env(f"{team_server.url}/v1"))
    found = team_verdicts(result)
    assert found["team server"]["status"] == "ok", found
    assert found[f"model {GEMMA}"]["status"] == "ok", found
    assert KEY not in result.output


@pytest.mark.parametrize(
    ("key", "said"),
    [("tk-wrong-key-000000000000", "refused the key in TEAM_LLM_API_KEY (401)"), (None, "needs a key")],
)
def test_a_wrong_or_missing_key_is_refused_with_the_fix(
    project: Project, team_server: Any, key: str | None, said: str
) -> None:
    result = invoke(project, "doctor", "--json", env=team_env(f"{team_server.url}/v1", key))
    assert result.returncode == 1, result.output
    verdict = team_verdicts(result)["team server"]
    assert verdict["status"] == "failed" and said in verdict["msg"], verdict
    assert "TEAM_LLM_API_KEY=" in verdict["fix"], verdict
    assert "tk-wrong" not in result.output and KEY not in result.output


def test_a_model_the_server_does_not_serve_names_what_it_does(project: Project, team_server: Any) -> None:
    env = team_env(f"{team_server.url}/v1", ULTRA_ENV_TEAM__MODELS=json.dumps([GEMMA, "ai/llama3.3:70B"]))
    found = team_verdicts(invoke(project, "doctor", "--json", env=env))
    assert found[f"model {GEMMA}"]["status"] == "ok", found
    missing = found["model ai/llama3.3:70B"]
    assert missing["status"] == "failed" and GEMMA in missing["msg"], missing


def test_a_server_that_is_gone_gives_the_cause_and_the_fix_not_a_hang(project: Project) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = invoke(project, "doctor", "--json", env=team_env(f"http://127.0.0.1:{port}/v1"))
    verdict = team_verdicts(result)["team server"]
    assert verdict["status"] == "failed" and "does not answer" in verdict["msg"], verdict
    assert "[team] url" in verdict["fix"], verdict


def test_plain_http_beyond_this_machine_is_warned(project: Project, team_server: Any) -> None:
    """The server reached at an address of this machine that is not loopback: the key would cross a
    network in clear text."""
    address = next(
        (a for a in _addresses() if not a.startswith("127.")),
        None,
    )
    if address is None:
        pytest.skip("this machine has no address but loopback")
    found = team_verdicts(invoke(project, "doctor", "--json", env=team_env(f"http://{address}:{team_server.port}/v1")))
    assert found["TLS"]["status"] == "warn" and "clear text" in found["TLS"]["msg"], found
    assert found["team server"]["status"] == "ok", found


def _addresses() -> list[str]:
    import subprocess

    done = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=10)
    return done.stdout.split()


def test_the_team_profile_needs_the_url(project: Project) -> None:
    before = hostile.snapshot(project.root)
    cause, fix = hostile.refusal(invoke(project, "render", env={"ULTRA_ENV_PROFILE": "team"}), before, project.root)
    assert "team.url" in cause and "[team]" in cause, cause


@pytest.mark.parametrize("url", ["https://user:pw@models.example.com/v1", "ftp://models.example.com", "not a url"])
def test_a_team_url_with_a_password_or_no_http_is_refused(project: Project, url: str) -> None:
    before = hostile.snapshot(project.root)
    result = invoke(project, "render", env={"ULTRA_ENV_PROFILE": "team", "ULTRA_ENV_TEAM__URL": url})
    cause, _ = hostile.refusal(result, before, project.root)
    assert "team.url" in cause and "pw@" not in result.output, cause


@pytest.mark.docker
def test_the_stack_answers_from_the_team_server(stack: Project, team_server: Any) -> None:
    """`setup --profile team` with only a key and the URL: health proves a completion from the host
    and the listing from inside the stack with the backend's key, and /api/analyze answers with the
    team's model. The key is in .env only, never in the output or the Compose file."""
    stack.write(".env", f"TEAM_LLM_API_KEY={KEY}\n")
    env = team_env(f"{team_server.url}/v1", key=None)
    env.pop("ULTRA_ENV_PROFILE")
    result = hostile.invoke(stack, "setup", "--profile", "team", "--json", timeout=900, env=env)
    assert result.returncode == 0, result.output[-4000:]
    tasks = {t["name"]: t for t in json.loads(result.stdout)["tasks"]}
    for name in ("team server", "team models served", "chat completion", "team server from inside the stack"):
        assert tasks[name]["status"] == "ok", tasks.get(name)
    analysis = tasks["backend /api/analyze"]
    answers = analysis["data"]["results"]
    assert analysis["status"] == "ok" and len(answers) == 1, analysis
    assert answers[0]["provider"] == "team" and answers[0]["model"] == GEMMA and answers[0]["text"], answers
    assert KEY not in result.output and KEY not in stack.read("docker-compose.yml")
    # The backend refuses the wrong key the server refuses: a key edited in .env reaches it at `up`.
    stack.write(".env", stack.read(".env").replace(KEY, "tk-revoked-00000000000000"))
    env["ULTRA_ENV_PROFILE"] = "team"
    assert hostile.invoke(stack, "up", timeout=600, env=env).returncode == 0
    health = hostile.invoke(stack, "health", "--json", timeout=300, env=env)
    tasks = {t["name"]: t for t in json.loads(health.stdout)["tasks"]}
    assert health.returncode == 1 and tasks["team server"]["status"] == "failed", health.output[-3000:]
    assert "auth" in tasks["team server"]["msg"] and "tk-revoked" not in health.output


def test_llm_compare_asks_the_team_model_with_the_key(project: Project, team_server: Any) -> None:
    env = team_env(f"{team_server.url}/v1")
    result = invoke(project, "llm.compare", "Say hi.", "--json", "--max-tokens", "16", env=env)
    assert result.returncode == 0, result.output
    answers = json.loads(result.stdout)["results"]
    assert [(a["provider"], a["model"]) for a in answers] == [("team", GEMMA)], answers
    assert answers[0]["ok"] and answers[0]["response"]["text"] and KEY not in result.output
