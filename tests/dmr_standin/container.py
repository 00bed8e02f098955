"""The entrypoint of the stand-in runner image (`python3 -m dmr_standin.container`).

Plays the controller container that `install-runner` creates (docker/model-runner 642c7211
Dockerfile: user `modelrunner`, models in `/models` (MODELS_PATH), the API on MODEL_RUNNER_PORT,
main.go serving on it; `cmd/cli/pkg/standalone/containers.go` sets MODEL_RUNNER_PORT and
MODEL_RUNNER_ENVIRONMENT): the stand-in's home is the model storage volume at /models, and
`server.main` serves the DMR API on 0.0.0.0:$MODEL_RUNNER_PORT until SIGTERM (`docker stop`).

Assumed (stand-in additions): on first start (no state.json in /models yet) the home is initialised
from DMR_STANDIN_SEED, JSON settings that `install-runner` takes from the installing home (`seed`):
its registry (the .gguf files are bind-mounted read-only at their own paths), `upstream` (where
inference is proxied: it must be reachable from the container, e.g. a llama.cpp server on the
bridge gateway), output format, versions and injections. A fresh runner does not inherit the store,
applied configurations, loaded runners, the CLI-side `kind` (MODEL_RUNNER_ENVIRONMENT `cloud` gives
`Docker Cloud`, else `Docker Engine`), `running`, or the deferred llama.cpp of Desktop (the Linux
runner image bundles llama.cpp, reference §1). A restarted container keeps the state it has.
Without `upstream`, inference would start llama-cpp-python, which the image does not have.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from .state import DEFAULTS, State, init_home, state_path

SEED_ENV = "DMR_STANDIN_SEED"
SEED_EXCLUDED = {"models", "configurations", "runners", "host", "port", "kind", "running"}
SEED_EXCLUDED |= {key for key in DEFAULTS if key.startswith("llamacpp_")}


def seed(state: State) -> dict[str, Any]:
    """The installing home's settings a new runner starts with (see the module docstring)."""
    return {key: value for key, value in state.items() if key in DEFAULTS and key not in SEED_EXCLUDED}


def gguf_files(state: State) -> list[str]:
    """The registry's .gguf files that exist (bind-mounted into the runner at their own paths)."""
    files = {str(entry["gguf"]) for entry in state["registry"].values() if entry.get("gguf")}
    return sorted(path for path in files if Path(path).is_file())


def initialise(home: Path, environ: dict[str, str]) -> bool:
    """Create the home from the seed unless it has a state already; returns whether it did."""
    if state_path(home).exists():
        return False
    settings = json.loads(environ.get(SEED_ENV) or "{}")
    settings = {key: value for key, value in settings.items() if key in DEFAULTS and key not in SEED_EXCLUDED}
    kind = "Docker Cloud" if environ.get("MODEL_RUNNER_ENVIRONMENT") == "cloud" else "Docker Engine"
    init_home(home, **settings, kind=kind)
    return True


def main(environ: dict[str, str] | None = None) -> int:
    from . import server

    environ = dict(os.environ if environ is None else environ)
    home = Path(environ.get("MODELS_PATH") or "/models")
    port = environ.get("MODEL_RUNNER_PORT") or "12434"
    initialise(home, environ)
    return server.main(["--home", str(home), "--port", port, "--host", "0.0.0.0"])


if __name__ == "__main__":
    sys.exit(main())
