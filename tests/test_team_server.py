"""The team's shared model server, provisioned by an operator and used by developers (issue 21),
on two Docker Engines: this machine's, and a second one in a network namespace of its own reached
over a real SSH connection (``support/team_host.py``). The operator's ``invoke server.setup`` installs
Model Runner there through the ``docker model`` CLI (the stand-in plugin, which creates the runner
container on the server's engine as upstream's install-runner does; the image is the stand-in's,
tagged docker/model-runner:latest on the server since there is no registry), pulls the model through
an SSH tunnel, and runs nginx in front as the authenticating proxy. Inference on the server is the
real llama.cpp server with the real Gemma 3 270M, on this machine's side of the link."""

from __future__ import annotations

import functools
import json
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import GEMMA, Project, StandIn, clean_environ
from support import hostile, team_host

RUNNER_IMAGE = "ultra-test/model-runner:standin"
PROXY_IMAGE = "ultra-test/debian:12"  # Debian's nginx-light is in the test rootfs
invoke = functools.partial(hostile.invoke, timeout=600, daemon=False)

pytestmark = pytest.mark.docker


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[team_host.TeamHost]:
    problem = team_host.problem()
    if problem is None:
        missing = [i for i in (RUNNER_IMAGE, PROXY_IMAGE) if exit_code(["docker", "image", "inspect", i]) != 0]
        problem = f"test images missing: {missing} (python tests/support/images.py)" if missing else None
    if problem:
        if request.config.getoption("--require-docker"):
            pytest.fail(f"--require-docker: {problem}")
        pytest.skip(problem)
    host = team_host.start(Path("/tmp") / f"ultra-team-{tmp_path.name[-24:]}")
    try:
        host.load(RUNNER_IMAGE, PROXY_IMAGE)
        host.tag(RUNNER_IMAGE, "docker/model-runner:latest")
        yield host
    finally:
        host.stop()


def exit_code(argv: list[str]) -> int:
    return subprocess.run(argv, capture_output=True, timeout=60).returncode


@pytest.fixture
def llama_for_server(server: team_host.TeamHost, gguf: Path, tmp_path: Path) -> Iterator[Any]:
    """The server's inference: the real llama.cpp, listening on this machine's end of the link only."""
    from dmr_standin.llama import start_llama

    handle = start_llama(gguf, alias=GEMMA, host=server.host_ip, log=tmp_path / "llama.log", timeout=120)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def operator(project: Project, dmr: StandIn, server: team_host.TeamHost, llama_for_server: Any) -> Project:
    """The operator's project: [server] names the SSH host; the docker CLI's model plugin is the
    stand-in, whose registry (and llama.cpp) the runner it installs is given."""
    dmr.update(upstream=f"http://{server.host_ip}:{llama_for_server.port}")
    project.write(
        "ultra-env.toml",
        f'[server]\nhost = "{server.ssh_url}"\nproxy_image = "{PROXY_IMAGE}"\nmodels = ["{GEMMA}"]\n',
    )
    project.env.update(server.env(project.env))
    project.env["DOCKER_CONFIG"] = str(dmr.docker_config)
    project.env["DMR_STANDIN_HOME"] = str(dmr.home)
    return project


def certificate(folder: Path, ip: str) -> Path:
    """A self-signed certificate for the server's address (a team's own CA, as far as clients care)."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=team-models",
         "-addext", f"subjectAltName=IP:{ip}", "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return folder / "cert.pem"


def tasks_of(result: hostile.Result) -> dict[str, dict]:
    assert result.stdout.strip().startswith("{"), result.output[-3000:]
    return {t["name"]: t for t in json.loads(result.stdout)["tasks"]}


def ask(url: str, key: str | None, ca: Path) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(f"{url}/models", headers=headers, timeout=30, verify=trusting(ca)).status_code


def trusting(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def test_an_operator_provisions_the_server_and_manages_developers_keys(
    operator: Project, server: team_host.TeamHost, tmp_path: Path
) -> None:
    ca = certificate(operator.root / "tls", server.server_ip)
    operator.env["SSL_CERT_FILE"] = str(ca)  # the operator trusts the team's own certificate, as developers will
    operator.write(
        "ultra-env.toml", operator.read("ultra-env.toml") + 'tls_cert = "tls/cert.pem"\ntls_key = "tls/key.pem"\n'
    )
    dry = tasks_of(invoke(operator, "server.setup", "--check", "--json"))
    assert dry["model runner"]["status"] == "changed" and "would" in dry["model runner"]["msg"], dry
    assert dry["proxy"]["status"] == "changed" and "would" in dry["proxy"]["msg"], dry
    assert server.docker("ps", "-aq").stdout.strip() == "", "--check created nothing on the server"
    first = invoke(operator, "server.setup", "--json")
    tasks = tasks_of(first)
    assert first.returncode == 0, first.output[-4000:]
    assert tasks["server engine"]["status"] == "ok" and tasks["TLS"]["status"] == "ok", tasks
    for name in ("model runner", f"pull {GEMMA}", "proxy"):
        assert tasks[name]["status"] == "changed", tasks[name]
    assert tasks["proxy answers"]["status"] == "ok" and "401" in tasks["proxy answers"]["msg"], tasks
    url = f"https://{server.server_ip}:8080/engines/v1"
    assert url in tasks["team url"]["msg"]
    # Model Runner itself is on the server's loopback and bridge only: the network reaches the proxy alone.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{server.server_ip}:12434/models", timeout=5)

    again = invoke(operator, "server.setup", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["recap"]["changed"] == 0, again.output[-3000:]

    for name in ("alice", "bob"):
        result = invoke(operator, "server.keys", "--add", name, "--json")
        added = tasks_of(result).get(f"key {name}")
        assert added and added["status"] == "changed", result.output[-2000:]
    alice = operator.read(".ultra-env/team-keys/alice.key").strip()
    bob = operator.read(".ultra-env/team-keys/bob.key").strip()
    assert alice != bob and (operator.root / ".ultra-env/team-keys/alice.key").stat().st_mode & 0o077 == 0
    assert ask(url, None, ca) == 401 and ask(url, "ultra-not-a-key", ca) == 401
    assert ask(url, alice, ca) == 200 and ask(url, bob, ca) == 200
    completion = httpx.post(
        f"{url}/chat/completions",
        headers={"Authorization": f"Bearer {alice}"},
        json={"model": GEMMA, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8},
        timeout=120,
        verify=trusting(ca),
    )
    assert completion.status_code == 200 and completion.json()["usage"]["completion_tokens"] > 0, completion.text
    listed = invoke(operator, "server.keys", "--json")
    assert "alice, bob" in tasks_of(listed)["keys"]["msg"] and alice not in listed.output

    def workers() -> set[str]:
        scan = server.docker(
            "exec",
            "ultra-team-proxy",
            "sh",
            "-c",
            "for p in /proc/[0-9]*; do case $(tr -d '\\0' "
            "< $p/cmdline 2>/dev/null) in 'nginx: worker'*) echo ${p#/proc/};; esac; done",
        )
        return set(scan.stdout.split())  # shutting down or serving

    serving = workers()
    assert len(serving) == 2, serving  # worker_processes 2
    revoked = tasks_of(invoke(operator, "server.keys", "--revoke", "bob", "--json"))["key bob"]
    assert revoked["status"] == "changed" and "refuses" in revoked["msg"], revoked
    assert workers().isdisjoint(serving)  # the workers that held bob's key are gone: none can take a request
    assert ask(url, bob, ca) == 401 and ask(url, alice, ca) == 200

    # Alice's laptop: doctor trusts the team's certificate through SSL_CERT_FILE, and only then.
    (tmp_path / "laptop").mkdir()
    laptop = Project(tmp_path / "laptop", clean_environ(ULTRA_ENV_PROJECT_DIR=str(tmp_path / "laptop"), NO_COLOR="1"))
    laptop.write(".env", f"TEAM_LLM_API_KEY={alice}\n")
    team = {"ULTRA_ENV_PROFILE": "team", "ULTRA_ENV_TEAM__URL": url, "ULTRA_ENV_TEAM__MODELS": json.dumps([GEMMA])}
    trusted = tasks_of(invoke(laptop, "doctor", "--json", env={**team, "SSL_CERT_FILE": str(ca)}))
    assert trusted["team server"]["status"] == "ok" and trusted[f"model {GEMMA}"]["status"] == "ok", trusted
    assert "TLS" not in trusted
    untrusted = tasks_of(invoke(laptop, "doctor", "--json", env=team))["team server"]
    assert untrusted["status"] == "failed" and "SSL_CERT_FILE" in untrusted["fix"], untrusted

    status = invoke(operator, "server.status", "--json")
    assert status.returncode == 0, status.output[-3000:]
    assert tasks_of(status)[f"model {GEMMA}"]["status"] == "ok"
    for secret in (alice, bob):
        assert secret not in first.output + again.output + status.output

    server.stop_engine()  # the server goes away: a cause and a fix, not a hang
    gone = invoke(operator, "server.status", "--json", timeout=120)
    verdict = tasks_of(gone)["server engine"]
    assert gone.returncode == 1 and verdict["status"] == "failed" and verdict["fix"], verdict


def test_a_new_developer_with_a_key_and_the_url_gets_answers(
    operator: Project, server: team_host.TeamHost, stack: Project
) -> None:
    provisioned = tasks_of(invoke(operator, "server.setup", "--json"))
    assert provisioned["TLS"]["status"] == "warn" and "clear text" in provisioned["TLS"]["msg"], provisioned
    assert invoke(operator, "server.keys", "--add", "carol").returncode == 0
    key = operator.read(".ultra-env/team-keys/carol.key").strip()
    url = f"http://{server.server_ip}:8080/engines/v1"  # plain http: the backend's image knows no team CA
    stack.write(".env", f"TEAM_LLM_API_KEY={key}\n")
    env = {"ULTRA_ENV_TEAM__URL": url, "ULTRA_ENV_TEAM__MODELS": json.dumps([GEMMA])}
    result = hostile.invoke(stack, "setup", "--profile", "team", "--json", timeout=900, env=env)
    tasks = tasks_of(result)
    assert result.returncode == 0, result.output[-4000:]
    for name in ("team server", "chat completion", "team server from inside the stack"):
        assert tasks[name]["status"] == "ok", tasks.get(name)
    answers = tasks["backend /api/analyze"]["data"]["results"]
    assert [(a["provider"], a["model"]) for a in answers] == [("team", GEMMA)] and answers[0]["text"], answers
    assert key not in result.output
