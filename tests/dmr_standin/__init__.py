"""A stand-in for Docker Model Runner (DMR), for ultra-env's tests.

What it stands in for: Docker Desktop's / Docker Engine's Model Runner, which cannot run on
the machines that test ultra-env (no Desktop, no registry to fetch `docker/model-runner`).
It provides

- a `docker-model` CLI plugin (`plugin.install`) that the real docker CLI and the real
  Compose find through `$DOCKER_CONFIG/cli-plugins`, answering `docker-cli-plugin-metadata`,
  `status [--json]`, `version`, `list|ls [--json|--openai|-q] [MODEL]`, `pull`, `rm [-f]`,
  `tag SOURCE TARGET`, `configure|config [--context-size N] MODEL [-- FLAGS]`,
  `configure show [MODEL]`, `unload (MODEL… [--backend B] | --all)` and `inspect [--openai]`,
  in the old or the new CLI output format and with the version-specific behaviours of the
  plugin version it claims (`releases`: retry policy, Engine endpoint host, the v0.1.31–v1.0.4
  `status --json` panic, HF_TOKEN hosts);
- the DMR HTTP API (`server.start` / `python -m tests.dmr_standin.server`): `/`, `/models`,
  `/models/{name}`, `/models/{name}/tag`, `/models/create` (chunked progress stream, HTML-escaped
  text unless `Accept: application/json`), `/engines/status`, `/engines/ps`, `/engines/unload`,
  `/engines/_configure` (POST, and GET to read back what is applied), `/version` and the
  OpenAI-compatible `/engines/v1/…`, `/engines/{backend}/v1/…` routes (plus `/v1/…` for servers
  ≥ v1.0.0), with Go `http.Error` plain-text errors; inference is proxied to a REAL llama.cpp
  server (llama-cpp-python) running the real Gemma 3 270M .gguf (`llama.start_llama`).

What it follows: the source of docker/model-runner (each module names the upstream files it
plays; the facts and commits are collected in /tmp/research/dmr-upstream-facts.md), then
/work/shared/reference/docker-model-runner.md and real-stack-here.md (how the real llama.cpp
server is run). It is written from those, not from ultra-env's code. Where upstream could not
be followed the choice is marked "assumed" in the module that makes it.

What it does not do: no registry, OCI artifacts or network downloads (the "registry" is a
map in the home's state.json of local .gguf files, and a pull hard-links or copies one;
gated Hugging Face repos are registry entries with `gated=True` and the `hf_token` setting);
no auto-install/start of a runner container (MODEL_RUNNER_NO_AUTO_INSTALL is recorded in
invocations.jsonl and decides the old plugins' panic); no Docker Desktop, GPU,
vLLM/diffusers backends (a backend is only a name and status in `backends`), `/exp/vDD4.40`
socket routes, idle eviction after keep-alive, `run`, `logs`, `ps` (the CLI command), `df`,
`install-runner` or the provider-form `compose` subcommands; TTY progress bars; the
`docker.io/` prefix that servers ≥ v1.0.11 may store on hub tags (see the facts file).
The configured context size is recorded and reported, but the real llama.cpp always runs with
n_ctx 2048. Model metadata (parameters, quantization, architecture, context size) is declared
when a model is registered, not read from the .gguf.

To play "plugin missing", remove the launcher with `plugin.uninstall(cli_plugins_dir)`.
State lives in `$DMR_STANDIN_HOME` (see `state`); tests flip `format`, `running`, `kind`,
versions, endpoints and error injections with `state.update(home, ...)` while everything runs.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "GEMMA_NAME": "state",
    "add_tag": "state",
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
