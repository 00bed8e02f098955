"""A stand-in for Docker Model Runner (DMR), for ultra-env's tests.

What it stands in for: Docker Desktop's / Docker Engine's Model Runner, which cannot run on
the machines that test ultra-env (no Desktop, no registry to fetch `docker/model-runner`).
It provides

- a `docker-model` CLI plugin (`plugin.install`) that the real docker CLI and the real
  Compose find through `$DOCKER_CONFIG/cli-plugins`, answering `docker-cli-plugin-metadata`,
  `status [--json]`, `version`, `list|ls [--json|--openai]`, `pull`, `rm [-f]`,
  `configure|config [--context-size N] MODEL [-- FLAGS]` and `inspect [--openai]`, in the
  old or the new CLI output format;
- the DMR HTTP API (`server.start` / `python -m tests.dmr_standin.server`): `/`, `/models`,
  `/models/{name}`, `/models/create` (NDJSON stream), `/engines/status`, `/version`,
  `/engines/_configure` and the OpenAI-compatible `/engines/v1/…` and `/engines/llama.cpp/v1/…`
  routes (plus `/v1/…` for servers ≥ v1.0.0), whose inference is proxied to a REAL
  llama.cpp server (llama-cpp-python) running the real Gemma 3 270M .gguf (`llama.start_llama`).

What it follows: /work/shared/reference/docker-model-runner.md (formats, exit codes, routes,
status codes, name normalisation, what Compose calls) and real-stack-here.md (how the real
llama.cpp server is run). It is written from those references, not from ultra-env's code.
Where the reference is silent the choices are listed in the module that makes them.

What it does not do: no registry, OCI artifacts or network downloads (the "registry" is a
map in the home's state.json of local .gguf files, and a pull hard-links or copies one);
no auto-install/start of a runner container (MODEL_RUNNER_NO_AUTO_INSTALL is only recorded
in invocations.jsonl); no Docker Desktop, GPU, vLLM/diffusers backends, `/exp/vDD4.40`
socket routes, authentication (401 only by injection), `run`, `logs`, `ps`, `df`, `unload`,
`install-runner` or the provider-form `compose` subcommands; TTY progress bars.
Model metadata (parameters, quantization, architecture, context size) is declared when a
model is registered, not read from the .gguf.

To play "plugin missing", remove the launcher with `plugin.uninstall(cli_plugins_dir)`.
State lives in `$DMR_STANDIN_HOME` (see `state`); tests flip `format`, `running`, `kind`,
endpoints and error injections with `state.update(home, ...)` while everything runs.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "GEMMA_NAME": "state",
    "add_to_registry": "state",
    "assemble_gemma": "state",
    "gemma_entry": "state",
    "init_home": "state",
    "load": "state",
    "update": "state",
    "display": "names",
    "is_valid": "names",
    "normalise": "names",
    "install": "plugin",
    "uninstall": "plugin",
    "LlamaHandle": "llama",
    "free_port": "llama",
    "llama_available": "llama",
    "start_llama": "llama",
    "ServerHandle": "server",
    "start": "server",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
