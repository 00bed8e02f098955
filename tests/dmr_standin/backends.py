"""llama.cpp as a deferred backend: Docker Desktop on macOS/Windows since v1.2.6 (reference §1, §3, §10.1).

Follows docker/model-runner 642c7211:
- `pkg/inference/backends/llamacpp/llamacpp.go`: the status starts `Not Installed`
  (FormatNotInstalled("")); Install() never fails for a bad download: it sets
  `Error: failed to install llama.cpp: <err>` and returns nil (so `POST /engines/install-backend`
  answers 200 and the installer counts the backend as installed, no retry until a restart);
- `download.go` downloadLatestLlamaCpp: the tag `<pinned b9879>-<variant>` (darwin: `metal`,
  download_darwin.go) is first resolved on Docker Hub (ResolveDigest: 10 attempts, 1 s apart; the
  status stays `Not Installed` meanwhile), then the status is `Installing: downloading llama.cpp
  <tag>` while the image is extracted, then `Running: llama.cpp <tag> (<digest>) <version>`
  (setRunningStatus);
- `pkg/inference/scheduling/installer.go` wait/installBackend: the first inference request (or a
  configure preload, or install-backend) installs it and blocks until done;
- `http_handler.go` handleOpenAIInference: a request whose User-Agent contains `docker-model-cli/`
  gets `Installing llama.cpp backend...` / `llama.cpp backend installed successfully` lines first.

After a failed download the binary is missing, so loading a model fails the way the captures
show a missing llama-server (cli-inference.txt: `unable to start llama.cpp: unable to start process:
name: '…/llama-server' arg: '[…]' err: fork/exec …: no such file or directory`).

Settings (state): `llamacpp_deferred` (True plays the deferred install), `llamacpp_download_error`
(None: the download works; "offline": Docker Hub cannot be reached; any other text: the download's
error), `llamacpp_install_hold` (True keeps the install in progress until a test sets it False: the
installing phase can be observed without timing). Runtime: `llamacpp_phase` (None, "installing",
"installed", "failed") and `llamacpp_error`.
Assumed: the image digest and the llama.cpp version shown once installed (the stand-in has no
image), the macOS install directory and home, the resolver's error wording after "resolving image".
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from . import goformat
from .state import State, load, update

PINNED = "b9879"  # download.go pinnedServerVersion (642c7211)
VARIANT = "metal"  # download_darwin.go
DIGEST = "sha256:5f2c4f7c2d0b8e4a9c1e3b6d7a8f9e0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a69"  # assumed
VERSION = "c55bce4"  # assumed: what `llama-server --version` reports
INSTALL_DIR = "/Users/user/.docker/model-runner/llama.cpp/bin"  # llamacpp.go New default (assumed home)
BINARY = f"{INSTALL_DIR}/llama-server"  # resolveLlamaServerBin when neither binary exists
HUB_REPO = "docker/docker-model-backend-llamacpp"

_lock = threading.Lock()  # installer.installMu: one install at a time (per process)


def tag(version: str | None = None) -> str:
    return f"{version or PINNED}-{VARIANT}"


def offline_error(version: str | None = None) -> str:
    """ResolveDigest failing on every attempt (`pkg/internal/dockerhub/download.go`), as Install
    records it (`could not resolve the <tag> tag: …`). The part after `resolving image …:` is the
    containerd resolver's wording for a failed DNS lookup (assumed)."""
    t = tag(version)
    return (
        f"could not resolve the {t} tag: resolving image {goformat.quote(f'registry-1.docker.io/{HUB_REPO}:{t}')}: "
        f"after 10 attempts, last error: failed to do request: "
        f'Head "https://registry-1.docker.io/v2/{HUB_REPO}/manifests/{t}": '
        "dial tcp: lookup registry-1.docker.io: no such host"
    )


def deferred(state: State) -> bool:
    return bool(state["llamacpp_deferred"])


def status(state: State) -> str:
    """The llama.cpp entry of `GET /engines/status` while deferred."""
    phase = state["llamacpp_phase"]
    if phase == "installing":
        return f"Installing: downloading llama.cpp {state['llamacpp_installing_tag'] or tag()}"
    if phase == "installed":
        return f"Running: llama.cpp {state['llamacpp_installing_tag'] or tag()} ({DIGEST}) {VERSION}"
    if phase == "failed":
        return f"Error: failed to install llama.cpp: {state['llamacpp_error']}"
    return "Not Installed"


def installed(state: State) -> bool:
    """installer.isInstalled: true after Install returned, even when the download failed."""
    return not deferred(state) or state["llamacpp_phase"] in ("installed", "failed")


def install(home: Path, version: str | None = None) -> None:
    """installBackend for llama.cpp: blocks until the install ends; never raises for a bad download."""
    with _lock:
        state = load(home)
        if installed(state):
            return
        error = state["llamacpp_download_error"]
        if error == "offline":  # the tag never resolves: no Installing phase
            _hold(home)
            update(home, llamacpp_phase="failed", llamacpp_error=offline_error(version))
            return
        update(home, llamacpp_phase="installing", llamacpp_installing_tag=tag(version))
        _hold(home)
        if error:
            update(home, llamacpp_phase="failed", llamacpp_error=f"could not extract image: {error}")
        else:
            update(home, llamacpp_phase="installed")


def _hold(home: Path) -> None:
    while load(home)["llamacpp_install_hold"]:
        time.sleep(0.05)


def missing_binary_error(args: list[str]) -> str:
    """What loading a model answers when the download left no llama-server (`backends/runner.go`
    RunBackend, wording of capture cli-inference.txt), behind handleOpenAIInference's
    `unable to load runner: ` and the loader's `error waiting for runner to be ready: `."""
    quoted = " ".join(goformat.quote(a) for a in args)
    return (
        "unable to load runner: error waiting for runner to be ready: unable to start llama.cpp: "
        f"unable to start process: name: '{BINARY}' arg: '[{quoted}]' "
        f"err: fork/exec {BINARY}: no such file or directory"
    )


def server_args(model_path: str, context_size: int | None) -> list[str]:
    """llama-server's arguments as the runner logs them (capture cli-inference.txt `backend args`;
    `llamacpp_config.go`: `--ctx-size` only when a size is configured)."""
    args = ["-ngl", "999", "--metrics", "--model", model_path, "--host", "inference-runner-0.sock"]
    if context_size:
        args += ["--ctx-size", str(context_size)]
    return [*args, "--jinja"]
