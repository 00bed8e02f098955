"""The DMR stand-in's `docker model install-runner` on this machine's real engine, and the docker CLI's
global flags before `model` (docker/model-runner 642c7211 cmd/cli/commands/install-runner.go,
cmd/cli/pkg/standalone/containers.go; tests/dmr_standin/install.py, standalone.py, dockercli.py).

The runner's names are fixed upstream (container `docker-model-runner`, volume
`docker-model-runner-models`, image `docker/model-runner:latest`), so these tests take a lock shared
with every other run on the machine, refuse to run where such objects exist already, and remove
what they made afterwards, also when they fail."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from conftest import refused_port
from dmr_standin import llama, plugin, server, state
from dmr_standin.dockercli import split_global_flags
from support import images

IMAGE = "docker/model-runner:latest"
CONTAINER = "docker-model-runner"
VOLUME = "docker-model-runner-models"
CONTROLLER_FILTER = ["--filter", "label=com.docker.model-runner.role=controller"]
STORAGE_FILTER = ["--filter", "label=com.docker.model-runner.role=model-storage"]
LOCK = Path(tempfile.gettempdir()) / "ultra-env-dmr-install-runner.lock"
GEMMA = "ai/gemma3:270M-Q4_K_M"


def unavailable(request: pytest.FixtureRequest, reason: str) -> NoReturn:
    if request.config.getoption("--require-docker", default=False):
        pytest.fail(f"--require-docker: {reason}")
    pytest.skip(reason)


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


def lines(*args: str) -> list[str]:
    return docker(*args).stdout.split()


def wait_for(condition: Any, what: str, timeout: float = 60) -> Any:
    """Poll `condition` until it returns something true (or fail after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


# --- global flags (no engine needed) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "flags", "rest"),
    [
        (["model", "status"], [], ["model", "status"]),
        (["--context", "team", "model", "status"], ["--context", "team"], ["model", "status"]),
        (
            ["-H", "ssh://root@10.0.0.2", "model", "install-runner"],
            ["-H", "ssh://root@10.0.0.2"],
            ["model", "install-runner"],
        ),
        (["-c", "team", "-D", "--log-level=debug", "model"], ["-c", "team", "-D", "--log-level=debug"], ["model"]),
        (
            ["--config", "/cfg", "--tls", "--tlsverify=false", "model"],
            ["--config", "/cfg", "--tls", "--tlsverify=false"],
            ["model"],
        ),
        (
            ["--tlscacert", "ca", "--tlscert=c", "--tlskey", "k", "model"],
            ["--tlscacert", "ca", "--tlscert=c", "--tlskey", "k"],
            ["model"],
        ),
        (["-Dcteam", "-l", "info", "model", "ls"], ["-Dcteam", "-l", "info"], ["model", "ls"]),
        (["--help"], [], ["--help"]),
        (["status", "--json"], [], ["status", "--json"]),
    ],
)
def test_global_flags_are_split_off(argv: list[str], flags: list[str], rest: list[str]) -> None:
    assert split_global_flags(argv) == (flags, rest)


@pytest.fixture
def plain_home(tmp_path: Path) -> Path:
    """A home whose registry holds one small file (not a GGUF: the runner then reads no metadata)."""
    home = state.init_home(tmp_path / "home")
    model = tmp_path / "models" / "tiny,model.gguf"  # a comma: --mount's CSV must quote it
    model.parent.mkdir()
    model.write_bytes(b"not a gguf, a stand-in's registry file")
    entry = state.registry_entry(
        "ai/tiny:1", model, quantization="Q4", parameters="1 M", architecture="x", context_size=None
    )
    state.add_to_registry(home, entry)
    return home


@pytest.fixture
def launcher(tmp_path: Path, plain_home: Path) -> Path:
    config = tmp_path / "docker-config"
    plugin.install(config / "cli-plugins", plain_home)
    return config


def test_plugin_accepts_global_flags_before_model(plain_home: Path, launcher: Path) -> None:
    """What the docker CLI passes on for `docker --context team -D model status --json`."""
    handle = server.start(plain_home, 0)
    try:
        env = {**os.environ, "MODEL_RUNNER_NO_AUTO_INSTALL": "1"}
        env.pop("MODEL_RUNNER_HOST", None)
        done = subprocess.run(
            [str(launcher / "cli-plugins" / "docker-model"), "--context", "team", "-D", "model", "status", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    finally:
        handle.stop()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["running"] is True
    assert state.invocations(plain_home)[-1]["argv"][:3] == ["--context", "team", "-D"]


# --- install-runner on the real engine ------------------------------------------------------------


@dataclass
class Engine:
    config: Path  # DOCKER_CONFIG holding the stand-in plugin
    home: Path

    def model(
        self, *args: str, flags: tuple[str, ...] = (), timeout: float = 120, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """`docker [flags] model ARGS` through the real docker CLI."""
        merged = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_RUNNER_")}
        merged.update(DOCKER_CONFIG=str(self.config), **env)
        return subprocess.run(
            ["docker", *flags, "model", *args], capture_output=True, text=True, timeout=timeout, env=merged
        )


def foreign_objects() -> list[str]:
    found = [f"container {c}" for c in lines("ps", "--all", "--quiet", *CONTROLLER_FILTER)]
    found += [f"container {c}" for c in lines("ps", "--all", "--quiet", "--filter", f"name=^/?{CONTAINER}$")]
    found += [f"volume {v}" for v in lines("volume", "ls", "--quiet", *STORAGE_FILTER)]
    found += [f"volume {VOLUME}"] if docker("volume", "inspect", VOLUME).returncode == 0 else []
    found += [f"image {IMAGE}"] if docker("image", "inspect", IMAGE).returncode == 0 else []
    return found


def remove_runner_objects() -> None:
    """What the test made: the runner container(s), the storage volume(s), the image tag."""
    containers = set(lines("ps", "--all", "--quiet", *CONTROLLER_FILTER))
    containers |= set(lines("ps", "--all", "--quiet", "--filter", f"name=^/?{CONTAINER}$"))
    if containers:
        docker("rm", "--force", *sorted(containers))
    volumes = set(lines("volume", "ls", "--quiet", *STORAGE_FILTER))
    volumes |= {VOLUME} if docker("volume", "inspect", VOLUME).returncode == 0 else set()
    if volumes:
        docker("volume", "rm", "--force", *sorted(volumes))
    docker("image", "rm", IMAGE)  # untags only: the stand-in image stays


@pytest.fixture
def engine(tmp_path: Path, plain_home: Path, launcher: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    if shutil.which("docker") is None:
        unavailable(request, "the docker CLI is not on PATH")
    with open(LOCK, "w") as lock:
        wait_for(lambda: _try_lock(lock), f"the lock {LOCK} (another install-runner test)", timeout=600)
        foreign = foreign_objects()
        if foreign:
            unavailable(
                request, f"the engine already has runner objects this test must not touch: {', '.join(foreign)}"
            )
        if not images.current(images.MODEL_RUNNER):
            if not images.image_exists(images.PYTHON):
                unavailable(request, f"{images.PYTHON} is missing (build it: python tests/support/images.py)")
            images.build_model_runner()
        try:
            assert docker("tag", images.MODEL_RUNNER, IMAGE).returncode == 0
            yield Engine(launcher, plain_home)
        finally:
            remove_runner_objects()


def _try_lock(lock: Any) -> bool:
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def inspect(name: str = CONTAINER) -> dict[str, Any]:
    done = docker("container", "inspect", name)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)[0]


def bridge_network() -> dict[str, Any]:
    return json.loads(docker("network", "inspect", "bridge", "--format", "{{json .}}").stdout)


def bridge_gateway(network: dict[str, Any] | None = None) -> str:
    """The `bridge` network's gateway as the engine reports it, or "" where it reports none (Engine
    20.10 restarted with docker0 in place: `"IPAM": {"Config": [{"Subnet": …}]}`); the CLI then
    publishes on loopback only (determineBridgeGatewayIP)."""
    configs = (network or bridge_network())["IPAM"]["Config"] or []
    return next((c["Gateway"] for c in configs if c.get("Gateway")), "")


def host_from_containers() -> str:
    """The host's address on the `bridge` network: the reported gateway, or the bridge interface's."""
    network = bridge_network()
    if gateway := bridge_gateway(network):
        return gateway
    shown = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "dev", network["Options"]["com.docker.network.bridge.name"]],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return shown.stdout.split("inet ", 1)[1].split("/", 1)[0]


def progress(volume_created: bool = True) -> str:
    """The lines upstream prints for an install with no runner and no volume yet."""
    text = "Using local image docker/model-runner:latest\n"
    if volume_created:
        text += "Creating model storage volume docker-model-runner-models...\n"
    if subprocess.run(["getent", "group", "render"], capture_output=True).returncode != 0:
        text += "Warning: render group not found, skipping group addition\n"
    return text + "Starting model runner container docker-model-runner...\n"


def env_map(container: dict[str, Any]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in container["Config"]["Env"])


@pytest.mark.docker
def test_install_runner_creates_the_upstream_container(engine: Engine) -> None:
    port = llama.free_port("0.0.0.0")
    state.update(engine.home, upstream="http://172.17.0.1:9")
    credentials = '{"auths": {"registry.example": {"auth": "c3RhbmRpbjpzZWNyZXQ="}}}'
    (engine.config / "config.json").write_text(credentials)
    done = engine.model("install-runner", "--port", str(port), MODEL_RUNNER_HOST=f"http://127.0.0.1:{port}")
    assert done.returncode == 0, done.stderr
    # SyncDockerConfigToContainer copies $DOCKER_CONFIG/config.json with CopyUIDGID (`docker cp -a`); an
    # engine that resolves the image's user name on its own host (Engine 20.10: getent) refuses, and
    # the CLI only warns
    refused = "Warning: failed to copy Docker config: failed to copy config file to container: "
    copy_refused = refused in done.stdout
    if copy_refused:
        assert done.stdout.startswith(progress() + refused)
        assert done.stdout.count("\n") == progress().count("\n") + 1
    else:
        assert done.stdout == progress()
    assert done.stderr == ""

    container = inspect()
    assert container["Name"] == f"/{CONTAINER}"
    assert container["Config"]["Image"] == IMAGE
    assert container["State"]["Running"] is True
    env = env_map(container)
    assert env["MODEL_RUNNER_PORT"] == str(port)
    assert env["MODEL_RUNNER_ENVIRONMENT"] == "moby"
    assert "DO_NOT_TRACK" not in env
    seed = json.loads(env["DMR_STANDIN_SEED"])
    assert seed["upstream"] == "http://172.17.0.1:9"
    assert list(seed["registry"]) == ["ai/tiny:1"]
    assert not {"models", "runners", "host", "port", "kind", "running"} & set(seed)
    labels = container["Config"]["Labels"]
    assert labels["com.docker.desktop.service"] == "model-runner"
    assert labels["com.docker.model-runner.role"] == "controller"
    gguf = state.load(engine.home)["registry"]["ai/tiny:1"]["gguf"]
    assert container["HostConfig"]["Mounts"] == [
        {"Type": "volume", "Source": VOLUME, "Target": "/models"},
        {"Type": "bind", "Source": gguf, "Target": gguf, "ReadOnly": True},
    ]
    assert container["HostConfig"]["RestartPolicy"]["Name"] == "always"
    hosts = ["127.0.0.1", *filter(None, [bridge_gateway()])]
    assert container["HostConfig"]["PortBindings"] == {
        f"{port}/tcp": [{"HostIp": host, "HostPort": str(port)} for host in hosts]
    }
    volume = json.loads(docker("volume", "inspect", VOLUME).stdout)[0]
    assert volume["Labels"] == {
        "com.docker.desktop.service": "model-runner",
        "com.docker.model-runner.role": "model-storage",
    }

    copied = docker("exec", CONTAINER, "stat", "-c", "%U %a", "/home/modelrunner/.docker/config.json")
    if copy_refused:  # the folder was made (first exec), the file not copied
        assert copied.returncode != 0
        assert docker("exec", CONTAINER, "test", "-d", "/home/modelrunner/.docker").returncode == 0
    else:  # owned by modelrunner, mode 600
        assert copied.stdout == "modelrunner 600\n", copied.stderr
        assert docker("exec", CONTAINER, "cat", "/home/modelrunner/.docker/config.json").stdout == credentials

    for host in hosts:
        with httpx.Client(base_url=f"http://{host}:{port}", timeout=30) as http:
            models = http.get("/models")
            assert models.status_code == 200 and models.json() == []
            status = http.get("/engines/status")
            assert status.status_code == 200
            assert status.json() == {"llama.cpp": "Running: llama.cpp version: c55bce4"}


@pytest.mark.docker
def test_second_install_runner_creates_nothing(engine: Engine) -> None:
    port = llama.free_port("0.0.0.0")
    runner = {"MODEL_RUNNER_HOST": f"http://127.0.0.1:{port}"}
    first = engine.model("install-runner", "--port", str(port), "--do-not-track", **runner)
    assert first.returncode == 0, first.stderr
    container = inspect()
    assert env_map(container)["DO_NOT_TRACK"] == "1"

    again = engine.model("install-runner", "--port", str(port + 1), **runner)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"Model Runner container {CONTAINER} ({container['Id'][:12]}) is already running\n"
    with_options = engine.model("install-runner", "--gpu", "none", "--backend", "llama.cpp", **runner)
    assert with_options.returncode == 0, with_options.stderr
    assert with_options.stdout == (
        f"Model Runner container {CONTAINER} ({container['Id'][:12]}) is already running\n"
        "\nThe requested runner options were not applied because the Model Runner container is already running.\n"
        "To recreate the runner with the requested options, run:\n\n"
        '  docker model reinstall-runner --backend "llama.cpp" --gpu "none"\n'
    )
    assert lines("ps", "--all", "--quiet", "--no-trunc", *CONTROLLER_FILTER) == [container["Id"]]
    assert lines("volume", "ls", "--quiet", *STORAGE_FILTER) == [VOLUME]


@pytest.mark.docker
def test_a_stopped_runner_is_replaced(engine: Engine) -> None:
    """FindControllerContainer prunes a stopped controller silently; the volume is kept."""
    port = llama.free_port("0.0.0.0")
    runner = {"MODEL_RUNNER_HOST": f"http://127.0.0.1:{port}"}
    assert engine.model("install-runner", "--port", str(port), **runner).returncode == 0
    old = inspect()["Id"]
    assert docker("stop", "--time", "5", CONTAINER).returncode == 0
    done = engine.model("install-runner", "--port", str(port), **runner)
    assert done.returncode == 0, done.stderr
    assert done.stdout == progress(volume_created=False)
    new = inspect()["Id"]
    assert new != old
    assert lines("ps", "--all", "--quiet", "--no-trunc", *CONTROLLER_FILTER) == [new]


@pytest.mark.docker
def test_desktop_kind_prints_upstream_message(engine: Engine) -> None:
    state.update(engine.home, kind="Docker Desktop")
    done = engine.model("install-runner")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "Standalone installation not supported with Docker Desktop\nUse `docker desktop enable model-runner` instead\n"
    )
    assert foreign_objects() == [f"image {IMAGE}"]  # only the tag this test made


@pytest.mark.docker
def test_global_flags_reach_the_engine(engine: Engine) -> None:
    refused = engine.model("install-runner", flags=("-H", "tcp://127.0.0.1:1"))
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        "unable to prune stopped model runner containers: unable to identify model runner containers: "
    )
    assert "tcp://127.0.0.1:1" in refused.stderr

    host = docker("context", "inspect", "--format", "{{.Endpoints.docker.Host}}").stdout.strip()
    env = {**os.environ, "DOCKER_CONFIG": str(engine.config)}
    created = subprocess.run(
        ["docker", "context", "create", "standin-team", "--docker", f"host={host}"], capture_output=True, env=env
    )
    assert created.returncode == 0, created.stderr
    port = llama.free_port("0.0.0.0")
    done = engine.model(
        "install-runner",
        "--port",
        str(port),
        flags=("--context", "standin-team"),
        MODEL_RUNNER_HOST=f"http://127.0.0.1:{port}",
    )
    assert done.returncode == 0, done.stderr
    assert inspect()["Config"]["Labels"]["com.docker.model-runner.role"] == "controller"


@pytest.mark.docker
def test_install_runner_refuses_a_host_name_after_making_the_volume(engine: Engine) -> None:
    done = engine.model("install-runner", "--host", "localhost", "--port", str(llama.free_port()))
    assert done.returncode == 1
    assert done.stderr == (
        "unable to initialize standalone model runner container: invalid host: must be a valid IP-address: "
        'ParseAddr("localhost"): unable to parse IP\n'
    )
    assert docker("volume", "inspect", VOLUME).returncode == 0  # EnsureModelStorageVolume ran first
    assert lines("ps", "--all", "--quiet", *CONTROLLER_FILTER) == []


@pytest.mark.docker
def test_install_runner_waits_for_the_runner_the_cli_points_at(engine: Engine) -> None:
    """The CLI waits for the runner it talks to (here MODEL_RUNNER_HOST, where nothing answers), not
    for --port: 20 tries 500 ms apart, then upstream's error."""
    with refused_port() as nowhere:
        started = time.monotonic()
        done = engine.model(
            "install-runner", "--port", str(llama.free_port("0.0.0.0")), MODEL_RUNNER_HOST=f"http://127.0.0.1:{nowhere}"
        )
    assert done.returncode == 1
    assert done.stderr == "standalone model runner took too long to initialize\n"
    assert time.monotonic() - started >= 20 * 0.5
    assert inspect()["State"]["Running"] is True  # the container stays, as upstream leaves it


@pytest.mark.docker
def test_uninstall_runner_removes_the_container(engine: Engine) -> None:
    port = llama.free_port("0.0.0.0")
    assert (
        engine.model("install-runner", "--port", str(port), MODEL_RUNNER_HOST=f"http://127.0.0.1:{port}").returncode
        == 0
    )
    cid = inspect()["Id"]
    done = engine.model("uninstall-runner")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Removing container {CONTAINER} ({cid[:12]})...\n"
    assert lines("ps", "--all", "--quiet", *CONTROLLER_FILTER) == []
    assert docker("volume", "inspect", VOLUME).returncode == 0  # without --models the volume stays


# --- the installed runner serves inference through the seeded upstream -----------------------------


@pytest.mark.docker
@pytest.mark.llm
def test_installed_runner_pulls_and_answers_through_upstream(engine: Engine, gguf: Path, tmp_path: Path) -> None:
    gateway = host_from_containers()
    upstream = llama.start_llama(gguf, host="0.0.0.0", log=tmp_path / "llama.log")
    try:
        state.update(engine.home, upstream=f"http://{gateway}:{upstream.port}")
        state.add_to_registry(engine.home, state.gemma_entry(gguf))
        port = llama.free_port("0.0.0.0")
        done = engine.model("install-runner", "--port", str(port), MODEL_RUNNER_HOST=f"http://127.0.0.1:{port}")
        assert done.returncode == 0, done.stderr
        mounts = {m["Source"] for m in inspect()["HostConfig"]["Mounts"]}
        assert str(Path(gguf).resolve()) in mounts
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as http:
            pull = http.post("/models/create", json={"from": GEMMA}, headers={"Accept": "application/json"})
            assert pull.status_code == 200, pull.text
            assert json.loads(pull.text.strip().splitlines()[-1])["type"] == "success"
            assert [m["tags"] for m in http.get("/models").json()] == [[GEMMA]]
            chat = {"model": GEMMA, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}
            reply = http.post("/engines/v1/chat/completions", json=chat)
            assert reply.status_code == 200, reply.text
            assert reply.json()["choices"][0]["message"]["role"] == "assistant"
    finally:
        upstream.stop()
