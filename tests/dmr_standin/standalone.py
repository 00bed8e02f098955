"""The standalone runner container on a real engine, made with the real docker CLI.

Follows docker/model-runner 642c7211 `cmd/cli/pkg/standalone/`: containers.go
(FindControllerContainer, PruneControllerContainers, determineBridgeGatewayIP,
ensureContainerStarted, isRootless, tryGetBindAscendMounts, isPortBindingError,
CreateControllerContainer, SyncDockerConfigToContainer), controller_image.go (controllerImageName),
images.go (EnsureControllerImage, PruneControllerImages), volumes.go (EnsureModelStorageVolume,
PruneModelStorageVolumes), labels.go, ports.go; and `cmd/cli/pkg/gpu/gpu.go` (ProbeGPUSupport,
hasRuntime). Each Engine API call upstream makes is the docker CLI command that makes the same call
(`dockercli.Docker`: `ps`, `rm -f`, `network inspect`, `info`, `image inspect`, `volume ls/create/prune`,
`create --pull never`, `start`, `exec`, `cp`, `rmi`); a failure's text is the docker CLI's message
for the daemon's error (assumed to stand for the Go client's error text).

Assumed (stand-in additions and gaps):
- no image is pulled: there is no registry here, so EnsureControllerImage's pull always fails with
  PULL_ERROR (an offline daemon's answer) and the local image is used when it exists;
- the stand-in's "registry" is local .gguf files, so every existing `gguf` of the home's registry is
  bind-mounted read-only at its own path, and the runner gets the home's settings (registry,
  `upstream`, formats, versions, injections: `container.seed`) as JSON in DMR_STANDIN_SEED, read
  by `container.py` on first start;
- `--proxy-cert` and `--tls` are not played (refused in `install.py`).
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from . import container, goformat
from .dockercli import Docker, DockerError, error_text
from .state import State

CONTAINER = "docker-model-runner"  # containers.go controllerContainerName
VOLUME = "docker-model-runner-models"  # volumes.go modelStorageVolumeName
LABEL_SERVICE, SERVICE = "com.docker.desktop.service", "model-runner"  # labels.go
LABEL_ROLE, ROLE_CONTROLLER, ROLE_STORAGE = "com.docker.model-runner.role", "controller", "model-storage"
PORT_MOBY, PORT_CLOUD = 12434, 12435  # ports.go DefaultControllerPortMoby / Cloud
CONTROLLER_IMAGE = "docker/model-runner"  # controller_image.go ControllerImage
# assumed: what an offline daemon answers to the pull (as cli.STANDALONE_ERROR)
PULL_ERROR = (
    'Error response from daemon: Get "https://registry-1.docker.io/v2/": '
    "dial tcp: lookup registry-1.docker.io: no such host"
)
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
DEVICE_PATHS = ("/dev/dri", "/dev/kfd", "/dev/accel", "/dev/davinci*", "/dev/devmm_svm", "/dev/hisi_hdc")
ASCEND_PATHS = (
    "/usr/local/dcmi",
    "/usr/local/bin/npu-smi",
    "/usr/local/Ascend/driver/lib64",
    "/usr/local/Ascend/driver/version.info",
)
GPU_RUNTIMES = (("nvidia", "cuda"), ("rocm", "rocm"), ("mthreads", "musa"), ("cann", "cann"))  # gpu.go


class Problem(Exception):
    """An upstream error value (its text is what upstream wraps and prints)."""


@dataclass
class Controller:
    id: str
    name: str
    state: str


def say(out: TextIO, text: str) -> None:
    out.write(text)
    out.flush()


def controllers(docker: Docker, all_states: bool) -> list[Controller]:
    """ContainerList with the label filters `com.docker.desktop.service` (no value) and
    `com.docker.model-runner.role=controller` (running ones only unless `all_states`)."""
    args = ["ps", "--no-trunc", "--format", "{{.ID}}\t{{.Names}}\t{{.State}}"]
    args += ["--filter", f"label={LABEL_SERVICE}", "--filter", f"label={LABEL_ROLE}={ROLE_CONTROLLER}"]
    try:
        out = docker.ok(*args, *(["--all"] if all_states else []))
    except DockerError as exc:
        raise Problem(f"unable to identify model runner containers: {exc}") from exc
    found = []
    for line in out.splitlines():
        if line.strip():
            cid, names, status = (line.split("\t") + ["", ""])[:3]
            found.append(Controller(cid, names.split(",")[0], status))
    return found


def prune_controllers(docker: Docker, skip_running: bool, out: TextIO | None) -> None:
    """PruneControllerContainers: force-remove every controller container (the stopped ones only
    with `skip_running`), printing `Removing container NAME (ID)...` when `out` is given."""
    for ctr in controllers(docker, all_states=True):
        if skip_running and ctr.state == "running":
            continue
        if out is not None:
            say(out, f"Removing container {f'{ctr.name} ({ctr.id[:12]})' if ctr.name else ctr.id[:12]}...\n")
        try:
            docker.ok("rm", "--force", ctr.id)
        except DockerError as exc:
            raise Problem(f"failed to remove container {ctr.name}: {exc}") from exc


def find_controller(docker: Docker) -> Controller | None:
    """FindControllerContainer: prune stopped controllers silently, then the first running one."""
    try:
        prune_controllers(docker, skip_running=True, out=None)
    except Problem as exc:
        raise Problem(f"unable to prune stopped model runner containers: {exc}") from exc
    running = controllers(docker, all_states=False)
    return running[0] if running else None


def info(docker: Docker) -> dict[str, Any] | None:
    try:
        return json.loads(docker.ok("info", "--format", "{{json .}}"))
    except (DockerError, ValueError):
        return None


def probe_gpu(docker: Docker) -> str:
    """ProbeGPUSupport: the first of nvidia, rocm, mthreads, cann in `docker info` Runtimes, else
    the legacy nvidia-container-runtime on PATH, else none (also when info fails)."""
    engine = info(docker)
    if engine is None:
        return "none"
    runtimes = engine.get("Runtimes") or {}
    for runtime, gpu in GPU_RUNTIMES:
        if runtime in runtimes:
            return gpu
    return "cuda" if shutil.which("nvidia-container-runtime") else "none"


def has_runtime(docker: Docker, name: str) -> bool:
    engine = info(docker)
    return engine is not None and name in (engine.get("Runtimes") or {})


def tagged_image(variant: str) -> str:
    """fmtControllerImageName with controllerImageVersion (MODEL_RUNNER_CONTROLLER_VERSION, else latest)."""
    version = os.environ.get("MODEL_RUNNER_CONTROLLER_VERSION") or "latest"
    return f"{CONTROLLER_IMAGE}:{version}" + (f"-{variant}" if variant else "")


def image_name(gpu: str, backend: str) -> str:
    """controllerImageName: the variant from MODEL_RUNNER_CONTROLLER_VARIANT (cpu/generic: none),
    else vllm-cuda for vLLM, else cuda / rocm by GPU."""
    variant = os.environ.get("MODEL_RUNNER_CONTROLLER_VARIANT")
    if variant is not None:
        variant = "" if variant in ("cpu", "generic") else variant
    elif backend == "vllm":
        variant = "vllm-cuda"
    else:
        variant = {"cuda": "cuda", "rocm": "rocm"}.get(gpu, "")
    return tagged_image(variant)


def ensure_image(docker: Docker, name: str, out: TextIO) -> None:
    """EnsureControllerImage after a failed pull (assumed: always, no registry): the local image."""
    if docker.run("image", "inspect", name).returncode != 0:
        raise Problem(f"failed to pull image {name} and no local image found: {PULL_ERROR}")
    say(out, f"Using local image {name}\n")


def ensure_volume(docker: Docker, out: TextIO) -> str:
    """EnsureModelStorageVolume: the first volume labelled model-storage, else a new one."""
    try:
        names = docker.ok("volume", "ls", "--quiet", "--filter", f"label={LABEL_ROLE}={ROLE_STORAGE}").split()
    except DockerError as exc:
        raise Problem(f"unable to list volumes: {exc}") from exc
    if names:
        return names[0]
    say(out, f"Creating model storage volume {VOLUME}...\n")
    labels = ["--label", f"{LABEL_SERVICE}={SERVICE}", "--label", f"{LABEL_ROLE}={ROLE_STORAGE}"]
    try:
        return docker.ok("volume", "create", *labels, VOLUME).strip()
    except DockerError as exc:
        raise Problem(f"unable to create volume: {exc}") from exc


def rootless(docker: Docker) -> bool:
    """isRootless: a SecurityOptions entry naming rootless (false when info fails)."""
    engine = info(docker)
    return engine is not None and any("rootless" in opt for opt in engine.get("SecurityOptions") or [])


def bridge_gateway(docker: Docker) -> str:
    """determineBridgeGatewayIP: the first valid IPAM gateway of the `bridge` network, or ""."""
    try:
        configs = json.loads(docker.ok("network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}"))
    except (DockerError, ValueError):
        return ""
    for config in configs or []:
        gateway = (config or {}).get("Gateway") or ""
        if gateway and goformat.parse_addr(gateway) is None:
            return gateway
    return ""


def publish(ip: str, port: int) -> str:
    if not ip:
        return f"{port}:{port}/tcp"
    return f"[{ip}]:{port}:{port}/tcp" if ":" in ip else f"{ip}:{port}:{port}/tcp"


def mount(**fields: str | None) -> str:
    """A `--mount` value (CSV: fields with commas or quotes are quoted)."""
    line = io.StringIO()
    row = [key if value is None else f"{key}={value}" for key, value in fields.items()]
    csv.writer(line, lineterminator="").writerow(row)
    return line.getvalue()


@dataclass
class Spec:
    """CreateControllerContainer's arguments (TLS and the proxy certificate are not played)."""

    port: int
    host: str
    environment: str
    do_not_track: bool
    gpu: str
    backend: str
    volume: str
    engine_kind: str
    debug: bool


def create_controller(docker: Docker, spec: Spec, state: State, out: TextIO) -> None:
    """CreateControllerContainer, then the Docker config sync of the container it created."""
    image = image_name(spec.gpu, spec.backend)
    if spec.host and (problem := goformat.parse_addr(spec.host)) is not None:
        raise Problem(f"invalid host: must be a valid IP-address: {problem}")
    env = [f"MODEL_RUNNER_PORT={spec.port}", f"MODEL_RUNNER_ENVIRONMENT={spec.environment}"]
    if spec.do_not_track:
        env.append("DO_NOT_TRACK=1")
    env += [f"{name}={os.environ[name]}" for name in PROXY_VARS if name in os.environ]
    if os.environ.get("MODEL_RUNNER_REGISTRY_MIRRORS"):
        env.append("MODEL_RUNNER_REGISTRY_MIRRORS=" + os.environ["MODEL_RUNNER_REGISTRY_MIRRORS"])
    env.append(f"{container.SEED_ENV}={json.dumps(container.seed(state), separators=(',', ':'))}")  # assumed
    args = ["create", "--pull", "never", "--name", CONTAINER, "--restart", "always"]
    args += ["--label", f"{LABEL_SERVICE}={SERVICE}", "--label", f"{LABEL_ROLE}={ROLE_CONTROLLER}"]
    for entry in env:
        args += ["--env", entry]
    args += ["--mount", mount(type="volume", source=spec.volume, target="/models")]
    for path in ASCEND_PATHS:  # tryGetBindAscendMounts
        if glob.glob(path):
            args += ["--mount", mount(type="bind", source=path, target=path, readonly=None)]
        elif spec.debug:
            say(out, f"[NOT FOUND] Ascend driver path does not exist, skipping: {path}\n")
    for path in container.gguf_files(state):  # assumed (stand-in): the registry's files
        args += ["--mount", mount(type="bind", source=path, target=path, readonly=None)]
    args += ["--publish", publish(spec.host, spec.port)]
    # the bridge gateway too, for 127.0.0.1 only, not rootless, not when Desktop is treated as Moby
    gateway = ""
    if os.environ.get("_MODEL_RUNNER_TREAT_DESKTOP_AS_MOBY") != "1" and spec.host == "127.0.0.1":
        gateway = "" if rootless(docker) else bridge_gateway(docker)
    if gateway:
        args += ["--publish", publish(gateway, spec.port)]
    runtime = {"cuda": "nvidia", "rocm": "rocm", "musa": "mthreads", "cann": "cann"}.get(spec.gpu)
    if runtime and has_runtime(docker, runtime):
        args += ["--runtime", runtime]
    if spec.gpu == "cuda":
        args += ["--gpus", "all"]  # DeviceRequests [{Count: -1, Capabilities: [[gpu]]}]
    for pattern in DEVICE_PATHS:
        for device in sorted(glob.glob(pattern)):
            args += ["--device", f"{device}:{device}:rwm"]
    if sys.platform.startswith("linux"):
        args += render_group(out)
    try:
        created_id = docker.ok(*args, image).strip()
    except DockerError as exc:
        if "is already in use by container" not in str(exc) and "Conflict" not in str(exc):
            raise Problem(f"failed to create container {CONTAINER}: {exc}") from exc
        created_id = ""
    say(out, f"Starting model runner container {CONTAINER}...\n")
    try:
        ensure_started(docker)
    except Problem as exc:
        if created_id:
            docker.run("rm", "--force", created_id)
        text = f"failed to start container {CONTAINER}: {exc}"
        if "ports are not available" in str(exc) and (
            "address already in use" in str(exc) or "Only one usage of each socket address" in str(exc)
        ):
            text += (
                "\n\nThe port may already be in use by Docker Desktop's Model Runner.\n"
                "Try running: docker desktop disable model-runner"
            )
        raise Problem(text) from exc
    if created_id:
        try:
            sync_docker_config(docker, created_id, spec.engine_kind)
        except Problem as exc:
            say(out, f"Warning: failed to copy Docker config: {exc}\n")


def render_group(out: TextIO) -> list[str]:
    """`getent group render` on the CLI's machine: its GID is added to the container's groups."""
    try:
        done = subprocess.run(["getent", "group", "render"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        done = None
    if done is None or done.returncode != 0:
        say(out, "Warning: render group not found, skipping group addition\n")
        return []
    trimmed = done.stdout.strip()
    tokens = trimmed.split(":")
    if len(tokens) < 3:
        say(out, f"Warning: unexpected getent output format: {goformat.quote(trimmed)}\n")
        return []
    if not tokens[2].lstrip("+-").isdigit():
        gid = goformat.quote(tokens[2])
        say(out, f"Warning: failed to parse render GID from {gid}: strconv.Atoi: parsing {gid}: invalid syntax\n")
        return []
    return ["--group-add", str(int(tokens[2]))]


def ensure_started(docker: Docker) -> None:
    """ensureContainerStarted: up to 10 starts 500 ms apart while the container is not found yet."""
    for tries in range(10, 0, -1):
        done = docker.run("start", CONTAINER)
        if done.returncode == 0:
            return
        text = error_text(done.stderr.decode(errors="replace"))
        if "No such container" not in text and "EOF" not in text:  # IsNotFound, io.EOF
            raise Problem(text)
        if tries > 1:
            time.sleep(0.5)
    raise Problem("timed out")


def sync_docker_config(docker: Docker, container_id: str, engine_kind: str) -> None:
    """SyncDockerConfigToContainer: `$DOCKER_CONFIG/config.json` (else ~/.docker) into
    /home/modelrunner/.docker in the container, owned by modelrunner, mode 600 (not on Desktop/Cloud)."""
    if (
        engine_kind in ("Docker Desktop", "Docker Cloud")
        or os.environ.get("_MODEL_RUNNER_TREAT_DESKTOP_AS_MOBY") == "1"
    ):
        return
    folder = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    path = Path(folder) / "config.json"
    if not path.is_file() or path.is_symlink():
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Problem(f"failed to read Docker config file: {exc}") from exc
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
        member = tarfile.TarInfo(".docker/config.json")
        member.mode, member.size = 0o600, len(data)
        tar.addfile(member, io.BytesIO(data))
    exec_in(
        docker,
        container_id,
        "mkdir -p /home/modelrunner/.docker && chown modelrunner:modelrunner /home/modelrunner/.docker",
    )
    try:
        docker.ok("cp", "--archive", "-", f"{container_id}:/home/modelrunner", data=archive.getvalue())
    except DockerError as exc:
        raise Problem(f"failed to copy config file to container: {exc}") from exc
    exec_in(
        docker,
        container_id,
        "chown modelrunner:modelrunner /home/modelrunner/.docker/config.json && "
        "chmod 600 /home/modelrunner/.docker/config.json",
    )


def exec_in(docker: Docker, container_id: str, command: str, as_root: bool = False) -> None:
    """execInContainer: `sh -c COMMAND` (as root when asked); a non-zero exit is an error."""
    done = docker.run("exec", *(["--user", "root"] if as_root else []), container_id, "sh", "-c", command)
    text = error_text(done.stderr.decode(errors="replace"))
    if done.returncode != 0 and text.startswith("Error response from daemon"):
        raise Problem(f"failed to create exec for command '{command}': {text}")
    if done.returncode != 0:
        raise Problem(f"command '{command}' failed with exit code {done.returncode}")
