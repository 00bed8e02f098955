"""`invoke setup --local-llm` end to end: real engine, real Compose running the DMR stand-in's
`docker-model` plugin for `models:`, and the real Gemma 3 270M behind llama.cpp."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import GEMMA, REPO, Project, StandIn

pytestmark = [pytest.mark.docker, pytest.mark.llm]
TAG = GEMMA  # normalised, the tag keeps its case


def by_name(result) -> dict[str, dict]:
    return {t["name"]: t for t in result.json()["tasks"]}


def invocations(dmr: StandIn) -> list[list[str]]:
    path = dmr.home / "invocations.jsonl"
    return [json.loads(line)["argv"] for line in path.read_text().splitlines()] if path.exists() else []


def test_setup_local_llm_end_to_end(stack: Project, dmr: StandIn) -> None:
    first = stack.invoke("setup", "--local-llm", "--json", timeout=900, **dmr.env)
    tasks = by_name(first)
    assert first.returncode == 0, json.dumps(first.json(), indent=1)
    assert tasks[f"pull {TAG}"]["status"] == "changed"
    assert "models:" in stack.read("docker-compose.yml")
    completion = tasks["chat completion"]
    assert completion["status"] == "ok"
    assert completion["data"]["completion_tokens"] > 0 and completion["data"]["prompt_tokens"] > 0
    assert completion["data"]["ttft_s"] > 0 and completion["data"]["tokens_per_s"] > 0
    assert tasks["API from inside the stack"]["status"] == "ok"
    # The endpoint Compose injected: plugins v1.0.5-v1.0.8 hand out host.docker.internal, which
    # resolves in the backend only through the extra_hosts entry ultra-env renders on Engine.
    assert "http://host.docker.internal:" in tasks["API from inside the stack"]["msg"]
    assert tasks["backend image"]["status"] in ("changed", "ok")  # built by Compose from this repository
    health = tasks["backend /api/health"]
    assert health["status"] == "ok" and f"local:{TAG} answers" in health["msg"]
    analysis = tasks["backend /api/analyze"]  # Ultra's job, answered by the local model through the backend
    assert analysis["status"] == "ok" and analysis["data"]["results"][0]["model"] == TAG
    assert analysis["data"]["results"][0]["tokens_out"] > 0 and analysis["data"]["id"]
    import httpx

    answer = httpx.post(
        f"http://127.0.0.1:{stack.env['ULTRA_ENV_PORTS__BACKEND']}/api/analyze",
        content='{"prompt":"hi"}',
        headers={"Content-Type": "application/json"},
        timeout=60,
    )  # what a newcomer types (README): curl -H 'Content-Type: application/json' -d '{"prompt":"hi"}'
    (result,) = answer.json()["results"]
    assert answer.status_code == 200 and result["error"] is None and result["text"] and result["model"] == TAG
    calls = invocations(dmr)
    assert any(argv[-3:] == ["--context-size", "2048", TAG] for argv in calls), calls  # Compose configured it
    assert tasks[f"context size {TAG}"]["status"] == "ok"  # read back from the runner: 2048 is applied
    assert f"configure {TAG}" not in tasks  # Compose's models: applied it, so setup did not

    second = stack.invoke("setup", "--local-llm", "--json", timeout=900, **dmr.env)
    assert second.returncode == 0
    assert second.json()["recap"]["changed"] == 0, second.stdout
    assert (by_name(second)[f"pull {TAG}"]["status"], by_name(second)[f"pull {TAG}"]["msg"]) == ("ok", "present")


def test_models_pull_list_rm(stack: Project, dmr: StandIn) -> None:
    dry = stack.invoke("models.pull", "--check", "--json", **dmr.env)
    assert by_name(dry)[f"pull {TAG}"]["msg"] == "would pull (needs about 254 MB of disk)"
    assert stack.invoke("models.list", "--json", **dmr.env).json() == []

    pulled = stack.invoke("models.pull", **dmr.env)
    assert pulled.returncode == 0, pulled.stdout
    assert f"pulling {TAG}: " in pulled.stdout  # plain progress lines when stdout is not a terminal
    assert "253.1 of 253.1 MB 100.0%" in pulled.stdout
    again = stack.invoke("models.pull", "--json", **dmr.env)
    assert again.json()["recap"]["changed"] == 0 and by_name(again)[f"pull {TAG}"]["status"] == "ok"

    listed = stack.invoke("models.list", "--json", **dmr.env).json()
    # what the real runner reads from the .gguf (capture after-pull-listings.txt)
    assert [(m["name"], m["quantization"]) for m in listed] == [(TAG, "MOSTLY_Q4_K_M")]
    table = stack.invoke("models.list", **dmr.env).stdout.splitlines()
    assert table[0].split() == ["MODEL", "SIZE", "PARAMETERS", "QUANTIZATION", "CONTEXT"]

    refused = stack.invoke("models.rm", GEMMA, **dmr.env)
    assert refused.returncode == 2 and "--yes" in refused.stdout
    removed = stack.invoke("models.rm", GEMMA, "--yes", "--json", **dmr.env)
    assert by_name(removed)[f"remove {GEMMA}"]["status"] == "changed"
    assert stack.invoke("models.list", "--json", **dmr.env).json() == []


def test_a_pull_survives_dropped_connections_and_fails_on_an_error_event(stack: Project, dmr: StandIn) -> None:
    dmr.update(inject={"create_network_failures": 2, "create_error": None, "create_http_error": None})
    retried = stack.invoke("models.pull", "--json", **dmr.env)
    assert retried.returncode == 0, retried.stdout
    stack.invoke("models.rm", GEMMA, "--yes", **dmr.env)

    dmr.update(
        inject={
            "create_network_failures": 0,
            "create_http_error": None,
            "create_error": {"message": "layer digest mismatch", "after_progress": 1},
        }
    )
    broken = stack.invoke("models.pull", "--json", **dmr.env)
    assert broken.returncode == 1
    task = by_name(broken)[f"pull {TAG}"]
    assert task["status"] == "failed" and "layer digest mismatch" in task["msg"]
    assert stack.invoke("models.list", "--json", **dmr.env).json() == []


def test_an_unknown_model_name_is_refused_before_any_call(stack: Project, dmr: StandIn) -> None:
    result = stack.invoke("models.pull", "--model", "ai/x;reboot", **dmr.env)
    assert result.returncode == 2 and "is not a model name" in result.stdout
    assert not any("x;reboot" in " ".join(argv) for argv in invocations(dmr))


def test_runner_not_running_stops_setup_before_any_change(stack: Project, dmr: StandIn) -> None:
    dmr.update(running=False)
    result = stack.invoke("setup", "--local-llm", "--json", **dmr.env)
    assert result.returncode == 1
    runner = by_name(result)["runner"]
    assert runner["status"] == "failed" and "docker model install-runner" in runner["fix"]
    assert by_name(result)["render files"]["status"] == "skipped"
    assert stack.written() == []
    assert not any("pull" in argv for argv in invocations(dmr))
    calls = [json.loads(line) for line in (dmr.home / "invocations.jsonl").read_text().splitlines()]
    probes = [c for c in calls if "status" in c["argv"]]
    assert probes and all(c["MODEL_RUNNER_NO_AUTO_INSTALL"] == "1" for c in probes)


def test_plugin_missing_stops_setup_with_the_install_command(stack: Project, dmr: StandIn) -> None:
    dmr.remove_plugin()
    result = stack.invoke("setup", "--local-llm", "--json", **dmr.env)
    assert result.returncode == 1
    plugin = by_name(result)["docker model plugin"]
    assert plugin["status"] == "failed" and "apt-get install docker-model-plugin" in plugin["fix"]
    assert stack.written() == []


@pytest.mark.shared_stack
def test_model_missing_and_server_killed_mid_health(stack: Project, dmr: StandIn) -> None:
    assert stack.invoke("setup", "--local-llm", timeout=900, **dmr.env).returncode == 0
    files = {p.name: p.read_bytes() for p in stack.root.iterdir() if p.is_file()}
    stack.invoke("models.rm", GEMMA, "--yes", **dmr.env)
    missing = stack.invoke("health", "--json", ULTRA_ENV_TIMEOUTS__HEALTH="3", **dmr.env)
    served = by_name(missing)["models served"]
    assert missing.returncode == 1 and served["status"] == "failed"
    assert served["fix"] == f"invoke models.pull --model {TAG} (or invoke setup)"

    stack.invoke("models.pull", **dmr.env)
    dmr.stop()  # the model server dies
    dead = stack.invoke("health", "--json", ULTRA_ENV_TIMEOUTS__HEALTH="3", **dmr.env)
    assert dead.returncode == 1
    failures = [t for t in dead.json()["tasks"] if t["status"] == "failed"]
    assert failures and failures[0]["fix"]
    assert {p.name: p.read_bytes() for p in stack.root.iterdir() if p.is_file()} == files
    assert stack.invoke("status").returncode == 0  # the stack itself is untouched


def test_the_local_profile_only_talks_to_loopback(stack: Project, dmr: StandIn, tmp_path) -> None:
    """Every connect() made by setup and health, and by every process they start (docker CLI,
    Compose, the model plugin), goes to a Unix socket or a loopback address: nothing leaves the machine."""
    trace = tmp_path / "connect.trace"
    wrapped = ["strace", "-f", "-qq", "-e", "trace=connect", "-o", str(trace), sys.executable]
    for command in (["setup", "--local-llm"], ["health"]):
        done = subprocess.run(
            [*wrapped, "-m", "invoke", "-r", str(REPO), *command],
            env={**stack.env, **dmr.env},
            capture_output=True,
            text=True,
            timeout=900,
            cwd=stack.root,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in trace.read_text().splitlines() if "connect(" in line]
    inet = [line for line in lines if "AF_INET" in line]
    assert inet, "no TCP connection was traced at all"
    outside = [line for line in inet if "127.0.0.1" not in line and "::1" not in line]
    assert outside == [], outside[:5]


@pytest.mark.parametrize("cli_format", ["new", "old"])
def test_doctor_reads_both_cli_generations(stack: Project, dmr: StandIn, cli_format: str) -> None:
    dmr.update(format=cli_format)
    env = dict(dmr.env)
    if cli_format == "old":
        # The old `status --json` has no endpointHost: the configured API root is used, and must be right.
        wrong = by_name(
            stack.invoke("doctor", "--json", **{**env, "ULTRA_ENV_MODEL_RUNNER__HOST_URL": "http://127.0.0.1:9"})
        )
        assert wrong["API from the host"]["status"] == "warn"  # the CLI still works: ultra-env uses it
        assert "model_runner.host_url" in wrong["API from the host"]["fix"]
        env["ULTRA_ENV_MODEL_RUNNER__HOST_URL"] = dmr.url
    result = stack.invoke("doctor", "--json", **env)
    tasks = by_name(result)
    assert result.returncode == 0, result.stdout
    assert tasks["runner"]["status"] == "ok"
    assert ("Docker Engine" in tasks["runner"]["msg"]) == (cli_format == "new")  # old status --json has no kind
    assert tasks["API from the host"]["status"] == "ok"
    assert tasks[f"model {TAG}"]["status"] == "warn"  # not pulled yet: setup will
    assert tasks["docker model plugin"]["msg"].startswith("1.0.6" if cli_format == "new" else "1.0.2")
    if cli_format == "old":  # v1.0.2 panics on `status --json` on Engine: read from `status` instead
        panic = tasks["docker model status --json"]
        assert panic["status"] == "warn" and "plugin 1.0.2 panics" in panic["msg"]
        assert "nil pointer dereference" in panic["msg"] and "--only-upgrade docker-model-plugin" in panic["fix"]


def test_switching_to_cloud_and_back_keeps_keys_data_and_the_model_binding(stack: Project, dmr: StandIn) -> None:
    from python_on_whales import DockerClient

    assert stack.invoke("setup", "--local-llm", timeout=900, **dmr.env).returncode == 0
    key = "sk-PLANTED-cloud-key-0042"
    stack.write(".env", stack.read(".env").replace("OPENAI_API_KEY=\n", f"OPENAI_API_KEY={key}\n"))
    docker = DockerClient(
        compose_project_name=stack.env["ULTRA_ENV_PROJECT_NAME"], compose_project_directory=str(stack.root)
    )
    docker.compose.execute(
        "postgres",
        [
            "sh",
            "-c",
            'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 '
            '-U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "CREATE TABLE kept(x int)"',
        ],
        tty=False,
    )

    cloud = stack.invoke("setup", "--profile", "cloud", "--json", timeout=900, **dmr.env)
    assert cloud.returncode == 0, cloud.stdout
    assert "models:" not in stack.read("docker-compose.yml")
    back = stack.invoke("setup", "--profile", "local", "--json", timeout=900, **dmr.env)
    assert back.returncode == 0, back.stdout
    assert f"OPENAI_API_KEY={key}" in stack.read(".env")
    assert key not in cloud.stdout + back.stdout

    backend = next(c for c in docker.compose.ps() if c.config.labels["com.docker.compose.service"] == "backend")
    env = dict(item.split("=", 1) for item in backend.config.env)
    assert env["LLM_URL"].startswith("http://host.docker.internal:")  # Compose's injection
    assert env["MODEL_RUNNER_URL"].endswith("/engines") and "localhost" not in env["MODEL_RUNNER_URL"]
    assert env["DEFAULT_LOCAL_MODEL"] == TAG and env["LLM_MODEL"] == TAG
    count = docker.compose.execute(
        "postgres",
        [
            "sh",
            "-c",
            'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 '
            '-U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "SELECT count(*) FROM '
            "information_schema.tables WHERE table_name = 'kept'\"",
        ],
        tty=False,
    )
    assert count.strip() == "1"


def test_check_mode_never_runs_the_model_plugin(stack: Project, dmr: StandIn) -> None:
    """Compose's `--dry-run up` still pulls and configures models: --check must not use it."""
    assert stack.invoke("setup", "--local-llm", timeout=900, **dmr.env).returncode == 0
    before = len(invocations(dmr))
    up_to_date = stack.invoke("up", "--check", "--json", **dmr.env)
    assert by_name(up_to_date)["stack up"]["msg"] == "every container is up to date"
    stack.invoke("profile", "cloud", **dmr.env)  # the files change; the containers do not, yet
    planned = stack.invoke("up", "--check", "--json", **dmr.env)
    assert "would recreate backend" in by_name(planned)["stack up"]["msg"]
    calls = invocations(dmr)[before:]
    assert not [argv for argv in calls if {"pull", "configure"} & set(argv)], calls
