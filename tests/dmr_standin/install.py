"""`docker model install-runner` and `uninstall-runner` (Docker Engine, Manual Install and Cloud kinds).

Follows docker/model-runner 642c7211:
- `cmd/cli/commands/install-runner.go` newInstallRunner and runInstallOrStart as install-runner runs
  it (pullImage, no pruning): the Desktop message, the default port (12434; 12435 on Cloud), the
  environment (`moby` / `cloud`), "already running" with existingRunnerOptionsHint, the GPU
  choice, the backend check, image, volume, container, then waitForStandaloneRunnerAfterInstall
  (installWaitTries 20 × installWaitRetryInterval 500 ms, desktop.go Status: `GET /models` 200);
- `cmd/cli/commands/utils.go` addRunnerFlags (defaults: --port 0 meaning 12434, --host 127.0.0.1,
  --gpu auto, --backend ""), asPrinter (progress through cmd.Print*: stdout when the docker CLI runs
  the plugin, stderr alone);
- `cmd/cli/desktop/context.go` DetectContext: the runner waited for is MODEL_RUNNER_HOST when set,
  else http://localhost:12434 (Cloud: 12435), whatever --port says;
- `cmd/cli/commands/uninstall-runner.go` runUninstallOrStop (--models, --images);
- the container itself: `standalone.py` (containers.go CreateControllerContainer, …).

Not played (the command fails saying so): `--backend vllm|diffusers`, `--backend llama.cpp` where
llama.cpp is deferred (`llamacpp_deferred`: a macOS/Windows CLI installs it through the runner),
`--tls`, `--proxy-cert`, `uninstall-runner --backend`. `--backend llama.cpp` otherwise is what a
Linux CLI does: nothing more than without it. `--llama-server-version` is accepted and unused (it
only matters for the deferred install). The registry's files and the seed: see `standalone.py`.
Assumed: PruneModelStorageVolumes' `Reclaimed N bytes` line is not printed (the docker CLI's prune
output gives no byte count).
"""

from __future__ import annotations

import http.client
import time
from typing import TYPE_CHECKING, Any

from . import backends, goformat, standalone
from .client import Client, ServiceUnavailable, Unreachable
from .dockercli import DockerError
from .standalone import PORT_CLOUD, PORT_MOBY, Problem, Spec, say

if TYPE_CHECKING:
    from .cli import Cli

WAIT_TRIES = 20  # install-runner.go installWaitTries
WAIT_INTERVAL = 0.5  # installWaitRetryInterval
BACKENDS = ("llama.cpp", "vllm", "diffusers")
GPU_MODES = {"none": "none", "cuda": "cuda", "rocm": "rocm", "musa": "musa", "cann": "cann"}
RUNNER_VALUES = {  # utils.go addRunnerFlags, as newInstallRunner registers them
    "--port": "0",
    "--host": "127.0.0.1",
    "--gpu": "auto",
    "--backend": "",
    "--llama-server-version": "",
    "--proxy-cert": "",
    "--tls-port": "0",
    "--tls-cert": "",
    "--tls-key": "",
}
RUNNER_BOOLS = ("--do-not-track", "--debug", "--tls")
GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}
GO_BOOLS |= {"0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def parse_flags(args: list[str], values: dict[str, str], bools: tuple[str, ...]) -> tuple[dict[str, Any], set[str]]:
    """pflag parsing: `--name value`, `--name=value`, booleans with an optional `=value`; returns
    the values and the flags given (Changed). Positional arguments are ignored, as cobra does for
    a command without an Args check."""
    from .cli import UsageError

    options: dict[str, Any] = {**values, **dict.fromkeys(bools, False)}
    changed: set[str] = set()
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            break
        if not arg.startswith("-") or arg == "-":
            continue
        name, eq, value = arg.partition("=")
        if not name.startswith("--"):
            raise UsageError(f"unknown shorthand flag: '{name[1]}' in {arg}")
        if name in bools:
            if eq and value not in GO_BOOLS:
                raise UsageError(
                    f'invalid argument "{value}" for "{name}" flag: '
                    f"strconv.ParseBool: parsing {goformat.quote(value)}: invalid syntax"
                )
            options[name] = GO_BOOLS[value] if eq else True
        elif name in values:
            if not eq:
                if i >= len(args):
                    raise UsageError(f"flag needs an argument: {name}")
                value = args[i]
                i += 1
            options[name] = value
        else:
            raise UsageError(f"unknown flag: {name}")
        changed.add(name)
    return options, changed


def uint16(name: str, text: str) -> int:
    """pflag Uint16Var (strconv.ParseUint, 16 bits; decimal only here)."""
    from .cli import UsageError

    if not text.isascii() or not text.isdigit():
        reason = "invalid syntax"
    elif int(text) > 0xFFFF:
        reason = "value out of range"
    else:
        return int(text)
    raise UsageError(
        f'invalid argument "{text}" for "{name}" flag: strconv.ParseUint: parsing {goformat.quote(text)}: {reason}'
    )


def not_played(what: str) -> Exception:
    from .cli import Failure

    return Failure(f"the DMR stand-in does not play `docker model {what}`")


def options_hint(options: dict[str, Any], changed: set[str]) -> str:
    """existingRunnerOptionsHint: when --backend or --gpu was given, how to apply them."""
    if "--backend" not in changed and "--gpu" not in changed:
        return ""
    words = ["docker", "model", "reinstall-runner"]
    if "--backend" in changed and options["--backend"]:
        words += ["--backend", goformat.quote(options["--backend"])]
    if "--gpu" in changed and options["--gpu"]:
        words += ["--gpu", goformat.quote(options["--gpu"])]
    return (
        "\nThe requested runner options were not applied because the Model Runner container is already running.\n"
        "To recreate the runner with the requested options, run:\n\n"
        f"  {' '.join(words)}\n"
    )


def install_runner(cli: Cli, args: list[str]) -> int:
    from .cli import Failure

    options, changed = parse_flags(args, RUNNER_VALUES, RUNNER_BOOLS)
    port = uint16("--port", options["--port"])
    uint16("--tls-port", options["--tls-port"])
    backend, out, state = options["--backend"], cli.printed, cli.state
    if backend in ("vllm", "diffusers") or (backend == "llama.cpp" and backends.deferred(state)):
        raise not_played(f"install-runner --backend {backend}")
    if options["--tls"] or options["--proxy-cert"]:
        raise not_played("install-runner --tls / --proxy-cert")
    kind = state["kind"]
    if kind == "Docker Desktop":
        say(out, "Standalone installation not supported with Docker Desktop\n")
        say(out, "Use `docker desktop enable model-runner` instead\n")
        return 0
    port = port or PORT_MOBY
    if kind == "Docker Cloud" and port == PORT_MOBY:
        port = PORT_CLOUD
    environment = "cloud" if kind == "Docker Cloud" else "moby"
    docker = cli.docker
    try:
        existing = standalone.find_controller(docker)
    except Problem as exc:
        raise Failure(str(exc)) from exc
    if existing is not None:
        name = f"{existing.name} ({existing.id[:12]})" if existing.name else existing.id[:12]
        say(out, f"Model Runner container {name} is already running\n")
        say(out, options_hint(options, changed))
        return 0
    mode = options["--gpu"]
    if mode == "auto":
        gpu = standalone.probe_gpu(docker)
    elif mode in GPU_MODES:
        gpu = GPU_MODES[mode]
    else:
        raise Failure(f"unknown GPU specification: {goformat.quote(mode)}")
    if backend and backend not in BACKENDS:
        raise Failure(f"unknown backend: {goformat.quote(backend)} (supported: {', '.join(BACKENDS)})")
    image = standalone.image_name(gpu, backend)
    try:
        standalone.ensure_image(docker, image, out)
    except Problem as exc:
        raise Failure(f"unable to pull latest standalone model runner image: {exc}") from exc
    try:
        volume = standalone.ensure_volume(docker, out)
    except Problem as exc:
        raise Failure(f"unable to initialize standalone model storage: {exc}") from exc
    spec = Spec(
        port, options["--host"], environment, options["--do-not-track"], gpu, backend, volume, kind, options["--debug"]
    )
    try:
        standalone.create_controller(docker, spec, state, out)
    except Problem as exc:
        raise Failure(f"unable to initialize standalone model runner container: {exc}") from exc
    if not wait_for_runner(state):
        raise Failure("standalone model runner took too long to initialize")
    return 0


def runner_url(state: dict[str, Any]) -> str:
    """The runner the CLI talks to (desktop/context.go DetectContext)."""
    if state.get("model_runner_host"):
        return str(state["model_runner_host"])
    return f"http://localhost:{PORT_CLOUD if state['kind'] == 'Docker Cloud' else PORT_MOBY}"


def running(client: Client) -> bool:
    """desktop.go Status: Running when `GET /models` answers 200 (then `GET /engines/status`)."""
    try:
        status, _ = client.request("GET", "/models")
        if status == 200:
            client.request("GET", "/engines/status")
        return status == 200
    except (ServiceUnavailable, Unreachable, OSError, http.client.HTTPException):
        return False


def wait_for_runner(state: dict[str, Any]) -> bool:
    """waitForStandaloneRunnerAfterInstall: up to 20 Status calls, 500 ms after each failed one."""
    client = Client({**state, "model_runner_host": runner_url(state)})
    for _ in range(WAIT_TRIES):
        if running(client):
            return True
        time.sleep(WAIT_INTERVAL)
    return False


def uninstall_runner(cli: Cli, args: list[str]) -> int:
    from .cli import Failure

    options, _ = parse_flags(args, {"--backend": ""}, ("--models", "--images"))
    if options["--backend"]:
        raise not_played("uninstall-runner --backend")
    out, docker = cli.printed, cli.docker
    if cli.state["kind"] == "Docker Desktop":
        say(out, "Standalone uninstallation not supported with Docker Desktop\n")
        say(out, "Use `docker desktop disable model-runner` instead\n")
        return 0
    try:
        standalone.prune_controllers(docker, skip_running=False, out=out)
    except Problem as exc:
        raise Failure(f"unable to remove model runner container(s): {exc}") from exc
    if options["--images"]:  # images.go PruneControllerImages: the CPU and CUDA tags, errors ignored
        for variant in ("", "cuda"):
            name = standalone.tagged_image(variant)
            if docker.run("rmi", name).returncode == 0:
                say(out, f"Removed image {name}\n")
    if options["--models"]:  # volumes.go PruneModelStorageVolumes
        filters = ["--filter", "all=true", "--filter", f"label={standalone.LABEL_ROLE}={standalone.ROLE_STORAGE}"]
        try:
            report = docker.ok("volume", "prune", "--force", *filters)
        except DockerError as exc:
            raise Failure(f"unable to remove model storage volume(s): {exc}") from exc
        for volume in deleted_volumes(report):
            say(out, f"Removed volume {volume}\n")
    return 0


def deleted_volumes(report: str) -> list[str]:
    """The names under `Deleted Volumes:` in `docker volume prune` output."""
    lines = report.splitlines()
    if "Deleted Volumes:" not in lines:
        return []
    names = []
    for line in lines[lines.index("Deleted Volumes:") + 1 :]:
        if not line.strip():
            break
        names.append(line.strip())
    return names
