"""The backend ultra-env ships, in this process over real parts: a real PostgreSQL (the test image,
in a container), the real Gemma 3 270M behind llama.cpp through the Model Runner stand-in, and
local listeners standing for cloud providers that fail or never answer. The same backend in the
real stack, built by Compose, is in test_backend_stack.py."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import GEMMA, REPO, StandIn, clean_environ, free_port
from support.listener import Listener

pytestmark = [pytest.mark.docker, pytest.mark.llm]
PASSWORD = "pg-PLANTED-password-0007"
KEYS = {
    "OPENAI_API_KEY": "sk-PLANTED-openai-key-0001",
    "ANTHROPIC_API_KEY": "sk-ant-PLANTED-anthropic-0002",
    "GOOGLE_API_KEY": "AIzaPLANTED-google-key-0003",
}
LOCAL = "http://127.0.0.1:8000"  # the Host a request has from this machine (the backend refuses others)


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A real PostgreSQL 15 (the test image) on a free loopback port; its URL, password included."""
    name, port = f"ultra-test-pg-{uuid.uuid4().hex[:8]}", free_port()
    subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--rm",
            "--name",
            name,
            "-e",
            f"POSTGRES_PASSWORD={PASSWORD}",
            "-e",
            "POSTGRES_USER=ultra",
            "-e",
            "POSTGRES_DB=ultra",
            "-p",
            f"127.0.0.1:{port}:5432",
            "ultra-test/postgres:15",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(
            ["docker", "exec", name, "pg_isready", "-h", "127.0.0.1", "-U", "ultra"], capture_output=True, timeout=10
        ).returncode:
            assert time.monotonic() < deadline, "postgres did not start"
            time.sleep(0.3)
        yield f"postgresql://ultra:{PASSWORD}@127.0.0.1:{port}/ultra"
    finally:
        # -v: its anonymous volume too, which --rm leaves when the container is removed by force
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, timeout=60)


@pytest.fixture
def pulled(dmr: StandIn) -> StandIn:
    with httpx.stream(
        "POST", f"{dmr.url}/models/create", json={"from": GEMMA}, headers={"Accept": "application/json"}, timeout=120
    ) as response:
        assert response.status_code == 200 and '"success"' in response.read().decode()
    return dmr


def environment(dmr: StandIn, postgres: str, **extra: str) -> dict[str, str]:
    return {
        "ULTRA_PROFILE": "local",
        "USE_MODEL_RUNNER": "true",
        "LOCAL_MODELS": "LLM",
        "LLM_URL": f"{dmr.url}/engines/v1",
        "LLM_MODEL": GEMMA,
        "DATABASE_URL": postgres,
        "ANALYZE_TIMEOUT_S": "30",
        **extra,
    }


@pytest.fixture
def client(pulled: StandIn, postgres: str) -> Iterator[httpx.Client]:
    from fastapi.testclient import TestClient

    from ultra_env.backend.app import create_app

    with TestClient(create_app(environment(pulled, postgres)), base_url=LOCAL) as test:
        yield test


def test_one_prompt_answered_by_the_local_model_and_kept(client) -> None:
    answer = client.post("/api/analyze", json={"prompt": "Name a colour.", "max_tokens": 8})
    assert answer.status_code == 200
    body = answer.json()
    (result,) = body["results"]
    assert (result["provider"], result["model"], result["error"]) == ("local", GEMMA, None)
    assert result["tokens_out"] > 0 and result["latency_s"] > 0
    # llama-cpp-python (behind the stand-in) ignores stream_options.include_usage, which DMR's
    # llama.cpp server answers: without usage the prompt's tokens are unknown, never made up.
    assert result["tokens_in"] is None or result["tokens_in"] > 0
    assert 0 < result["first_token_s"] <= result["latency_s"] and result["finish_reason"] in ("length", "stop")
    kept = client.get(f"/api/analyses/{body['id']}").json()
    assert kept["prompt"] == "Name a colour." and kept["results"] == body["results"] and kept["status"] == "done"
    assert client.get("/api/analyses").json()["analyses"][0]["id"] == body["id"]


def test_health_and_available_models(client, pulled: StandIn) -> None:
    health = client.get("/api/health")
    assert health.status_code == 200, health.text
    (local,) = health.json()["providers"]
    assert (local["provider"], local["model"], local["reachable"]) == ("local", GEMMA, True)
    assert health.json()["database"] == {"ok": True, "error": None}
    assert client.get("/api/available-models").json()["models"] == [
        {"id": f"local:{GEMMA}", "provider": "local", "model": GEMMA}
    ]
    pulled.update(running=False)  # the runner answers 503 to everything
    time.sleep(10.1)  # past the probes' cache
    down = client.get("/api/health")
    assert down.status_code == 503 and down.json()["problems"] == ["local does not answer"]


def test_the_stream_tags_every_event_with_its_model(client) -> None:
    with client.stream("POST", "/api/analyze/stream", json={"prompt": "Count to three.", "max_tokens": 8}) as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in events.iter_lines() if line]
    parsed = [
        (lines[i].removeprefix("event: "), json.loads(lines[i + 1].removeprefix("data: ")))
        for i in range(0, len(lines), 2)
    ]
    kinds = [kind for kind, _ in parsed]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("result") == 1 and "token" in kinds, ascii(
        parsed
    )
    tokens = "".join(data["text"] for kind, data in parsed if kind == "token")
    (result,) = [data for kind, data in parsed if kind == "result"]
    assert all(data["id"] == f"local:{GEMMA}" for kind, data in parsed if kind in ("token", "result"))
    assert result["text"] == tokens and result["error"] is None
    assert isinstance(parsed[-1][1]["id"], int)


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (b"", 400, "bad_request"),
        (b'{"prompt": "   "}', 400, "empty_prompt"),
        (b'{"prompt": 42}', 400, "empty_prompt"),
        (b'{"prompt": "hi"', 400, "bad_json"),
        (b"\xff\xfe", 400, "bad_json"),
        (b'["hi"]', 400, "bad_request"),
        # short ids: pytest puts the test id in PYTEST_CURRENT_TEST, and an environment string over
        # 128 KiB makes every subprocess the test's fixtures start fail with E2BIG
        pytest.param(json.dumps({"prompt": "x" * 20_001}).encode(), 413, "too_large", id="prompt-20001-chars"),
        pytest.param(b'{"prompt": "' + b"x" * 300_000 + b'"}', 413, "too_large", id="body-300k"),
        (b'{"prompt": "hi", "models": ["ai/nope"]}', 400, "unknown_model"),
        (b'{"prompt": "hi", "models": "ai/smollm2"}', 400, "bad_request"),
        (b'{"prompt": "hi", "max_tokens": 0}', 400, "bad_request"),
        (b'{"prompt": "hi", "max_tokens": true}', 400, "bad_request"),
        (b'{"prompt": "hi", "max_tokens": 1e309}', 400, "bad_request"),
        (b'{"prompt": "hi", "temperature": 2}', 400, "bad_request"),
    ],
)
def test_bad_input_is_a_json_error_never_a_traceback(client, body: bytes, status: int, kind: str) -> None:
    for route in ("/api/analyze", "/api/analyze/stream"):
        answer = client.post(route, content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == status, answer.text
        error = answer.json()["error"]
        assert error["kind"] == kind and error["message"] and "Traceback" not in answer.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/analyze", 405),
        ("GET", "/nope", 404),
        ("GET", "/api/analyses/abc", 400),
        ("GET", "/api/analyses/999999", 404),
        ("DELETE", "/api/health", 405),
    ],
)
def test_wrong_routes_are_json_errors(client, method: str, path: str, status: int) -> None:
    answer = client.request(method, path)
    assert answer.status_code == status and answer.json()["error"]["message"]


def test_a_provider_that_times_out_fails_in_its_own_entry(pulled: StandIn, postgres: str) -> None:
    from fastapi.testclient import TestClient

    from ultra_env.backend.app import create_app

    hang = 300.0  # the slow provider answers only when the listener closes, long after the timeout
    warm = httpx.post(
        f"{pulled.url}/engines/v1/chat/completions",
        json={"model": GEMMA, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1},
        timeout=120,
    )
    assert warm.status_code == 200, warm.text  # loaded: the local answer below pays no load time
    with Listener(hang_s=hang) as slow, Listener(status=500, body=b'{"error": {"message": "upstream broke"}}') as bad:
        env = environment(
            pulled,
            postgres,
            ENABLE_CLOUD_LLM="true",
            ANALYZE_TIMEOUT_S="10",
            OPENAI_API_KEY=KEYS["OPENAI_API_KEY"],
            OPENAI_BASE_URL=f"{slow.url}/v1",
            ANTHROPIC_API_KEY=KEYS["ANTHROPIC_API_KEY"],
            ANTHROPIC_BASE_URL=bad.url,
        )
        with TestClient(create_app(env), base_url=LOCAL) as test:
            start = time.monotonic()
            results = {
                r["provider"]: r
                for r in test.post("/api/analyze", json={"prompt": "Hi", "max_tokens": 4}).json()["results"]
            }
            elapsed = time.monotonic() - start
    assert results["local"]["error"] is None and results["local"]["text"]
    assert results["openai"]["error"]["kind"] == "timeout"
    assert (
        results["anthropic"]["error"]["kind"] == "server"
        and "upstream broke" in results["anthropic"]["error"]["message"]
    )
    assert elapsed < hang, "one analysis waits for its slowest model, bounded by its timeout"
    assert len(slow.seen) == 1, "ANALYZE_TIMEOUT_S bounds a model's whole answer: a timed-out prompt is not sent again"


def test_no_route_shows_a_key_or_the_database_password(pulled: StandIn, postgres: str) -> None:
    """Providers that echo what they were sent (the key among it) in their errors, a database URL
    with its password, and an unrelated token: searched for in every response of every route."""
    from fastapi.testclient import TestClient

    from ultra_env.backend.app import create_app

    echo_body = json.dumps({"error": {"message": "; ".join(KEYS.values()) + f"; {PASSWORD}"}}).encode()
    with Listener(status=401, body=echo_body) as echo:
        env = environment(
            pulled,
            postgres,
            ENABLE_CLOUD_LLM="true",
            GITHUB_TOKEN="ghp_PLANTEDunrelated0004",
            **KEYS,
            OPENAI_BASE_URL=f"{echo.url}/v1",
            ANTHROPIC_BASE_URL=echo.url,
            GOOGLE_BASE_URL=echo.url,
        )
        with TestClient(create_app(env), base_url=LOCAL) as test:
            prompt = {"prompt": "Hi", "max_tokens": 4}
            answers = [
                test.get("/api/health"),
                test.get("/api/available-models"),
                test.post("/api/analyze", json=prompt),
                test.post("/api/analyze/stream", json=prompt),
                test.get("/api/analyses"),
                test.get("/"),
                test.post("/api/analyze", json={"prompt": "Hi", "models": [KEYS["OPENAI_API_KEY"]]}),
                test.get("/nope"),
                test.post("/api/analyze", content=b"{" + PASSWORD.encode()),
            ]
            answers.append(test.get(f"/api/analyses/{answers[2].json()['id']}"))
    assert echo.seen, "the providers were asked"
    planted = [*KEYS.values(), PASSWORD, "ghp_PLANTEDunrelated0004"]
    for answer in answers:
        shown = answer.text + json.dumps(dict(answer.headers))
        assert not [p for p in planted if p in shown], (answer.request.url, shown[:300])


def test_background_analyses_are_run_by_the_worker(pulled: StandIn, postgres: str, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from ultra_env.backend.app import create_app

    env = environment(pulled, postgres)
    with TestClient(create_app(env), base_url=LOCAL) as test:
        queued = test.post("/api/analyze", json={"prompt": "Say yes.", "max_tokens": 4, "background": True})
        assert queued.status_code == 202 and queued.json()["status"] == "queued"
        worker = subprocess.Popen(
            [sys.executable, "-m", "ultra_env.backend.worker"],
            cwd=REPO,
            env={**clean_environ(), **env, "WORKER_HEARTBEAT": str(tmp_path / "beat")},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while (found := test.get(f"/api/analyses/{queued.json()['id']}").json())["status"] != "done":
                assert time.monotonic() < deadline and worker.poll() is None, found
                time.sleep(0.3)
        finally:
            worker.terminate()
            output = worker.communicate(timeout=30)[0]
    assert found["results"][0]["model"] == GEMMA and found["results"][0]["error"] is None, output
    assert (tmp_path / "beat").exists() and worker.returncode == 0
