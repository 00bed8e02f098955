"""A stand-in for Docker Model Runner (DMR), for ultra-env's tests.

What it stands in for: Docker Desktop's / Docker Engine's Model Runner, which cannot run on
the machines that test ultra-env (no Desktop, no registry to fetch `docker/model-runner`).
It provides

- a `docker-model` CLI plugin (`plugin.install`) that the real docker CLI and the real
  Compose find through `$DOCKER_CONFIG/cli-plugins`, answering `docker-cli-plugin-metadata`,
  `status [--json]`, `version`, `list|ls [--json|--openai|-q] [MODEL]`, `pull`, `rm [-f]`,
  `tag SOURCE TARGET`, `configure|config [--context-size N] [--keep-alive D] MODEL [-- FLAGS]`,
  `configure show [MODEL]`, `unload (MODEL… [--backend B] | --all)`, `inspect [--openai]`, `ps`
  and `df`, in the old or the new CLI output format and with the version-specific behaviours of the
  plugin version it claims (`releases`: retry policy, Engine endpoint host, the v0.1.31–v1.0.4
  `status --json` panic, HF_TOKEN hosts); `MODEL_RUNNER_HOST` (manual install), the
  "unable to initialize standalone model runner" failure (`standalone_error`) and, run alone
  (not by the docker CLI), status/version/ps/df printed on stderr as cobra does;
- the docker CLI's global flags before the plugin name (`docker --context team model …`,
  `-H ssh://… model …`: `--config`, `-c/--context`, `-D/--debug`, `-H/--host`, `-l/--log-level`,
  `--tls*`), kept and put in front of every real `docker` command the stand-in runs, so that it
  talks to the engine the CLI talks to (DOCKER_HOST / DOCKER_CONTEXT reach it from the environment;
  `dockercli.py`);
- `install-runner [--port N] [--host IP] [--gpu auto|none|cuda|rocm|musa|cann] [--do-not-track]
  [--backend llama.cpp] [--debug]` and `uninstall-runner [--images] [--models]` (`install.py`,
  `standalone.py`, following install-runner.go runInstallOrStart, uninstall-runner.go and
  cmd/cli/pkg/standalone/): on Desktop upstream's two lines; else a running controller container is
  reported ("already running", with the reinstall hint when --gpu/--backend were given), stopped
  ones are pruned, and otherwise the REAL container is created on the engine with the real docker
  CLI as CreateControllerContainer specifies it (name `docker-model-runner`, image
  `docker/model-runner:latest` or its GPU variant, env, labels, volume `docker-model-runner-models`
  at /models, restart always, HOST:PORT plus the bridge gateway for 127.0.0.1, GPU runtime and
  devices, the render group, the Docker config sync), then the CLI waits for its runner (20 × 500 ms);
- the runner image's entrypoint (`container.py`; the image `ultra-test/model-runner:standin` is built
  by tests/support/images.py, tests tag it `docker/model-runner:latest`): the DMR API on
  0.0.0.0:$MODEL_RUNNER_PORT with /models as its home, seeded on first start;
- the DMR HTTP API (`server.start` / `python -m tests.dmr_standin.server`): `/`, `/models`,
  `/models/{name}`, `/models/{name}/tag`, `/models/create` (chunked progress stream, HTML-escaped
  text unless `Accept: application/json`), `/engines/status`, `/engines/ps` (loading, in_use,
  keep_alive), `/engines/df`, `/engines/unload`, `/engines/install-backend`, `/engines/_configure`
  (POST: 202 then a background preload; GET to read back what is applied), `/version`, `/logs` and
  the OpenAI-compatible `/engines/v1/…`, `/engines/{backend}/v1/…` routes (plus `/v1/…` for servers
  ≥ v1.0.0; `X-Preload-Only`), with Go `http.Error` plain-text errors; inference is proxied to a
  REAL llama.cpp server (llama-cpp-python) running the real Gemma 3 270M .gguf (`llama.start_llama`),
  and replies name the runner's bundle path as `model`, as llama-server does;
- from server v1.0.11, the Anthropic Messages API (`anthropic.py`): `/anthropic/v1/messages[/count_tokens]`
  with pkg/anthropic's JSON errors, and the scheduler's `/engines[/{backend}]/v1/messages[/count_tokens]`
  and `/v1/messages[/count_tokens]`, answered as llama-server's own `/v1/messages` (message JSON,
  `message_start` … `message_stop` SSE, `{"input_tokens": N}`) over llama-cpp-python's chat completions;
  and the OpenAI Responses API (`responses.py`, `responses_transform.py`, `responses_stream.py`):
  `POST /responses`, `/v1/responses` and (v1.2.6, the captured build) `/engines/responses`,
  `/engines[/{backend}]/v1/responses`, plain and streamed (`response.created` … `response.completed`),
  with `GET …/{id}`, `GET …/{id}/input_items`, `DELETE …/{id}` over an in-memory store.

What it follows, in this order: the captures of the real runner and plugin built from upstream
642c7211 (/work/shared/reference/real-model-runner/, standin-diff.md lists the differences), then
/work/shared/reference/docker-model-runner.md, then the source of docker/model-runner (each
module names the capture or upstream file it plays). It is written from those, not from
ultra-env's code. Where upstream could not be followed the choice is marked "assumed" in the
module that makes it.

Settings a test turns on with `state.update(home, ...)` (documented in `state.DEFAULTS`), besides
`format`, `running`, `kind`, versions and endpoints: `default_registry` (the runner's
DEFAULT_REGISTRY), `docker_io_tags`, `unreachable_registries`, `standalone_error`,
`llamacpp_deferred` / `llamacpp_download_error` / `llamacpp_install_hold` (Desktop's deferred
llama.cpp, `backends.py`), `hold_loading` (keep a loading runner loading), and the injections
`create_html_page`, `hf_rate_limited`, `create_error`, `create_http_error`,
`create_network_failures`, `inference_load_error`.

What it does not do: no registry, OCI artifacts or network downloads (the "registry" is a
map in the home's state.json of local .gguf files, and a pull hard-links or copies one;
gated Hugging Face repos are registry entries with `gated=True` and the `hf_token` setting);
no auto-install/start of a runner container by the other commands (MODEL_RUNNER_NO_AUTO_INSTALL is
recorded in invocations.jsonl and decides the old plugins' panic); no `start-runner`, `stop-runner`,
`restart-runner`, `reinstall-runner`; in `install-runner` no image pull (no registry: the local
`docker/model-runner` image is used, as upstream does when its pull fails), no `--tls`,
`--proxy-cert`, vLLM/diffusers or deferred llama.cpp install (refused, saying so), and the Docker
config sync's outcome is the engine's (Engine 20.10 refuses `docker cp -a` for a user unknown to its
host, and the CLI warns); assumed there: the home registry's .gguf files are bind-mounted read-only at
their own paths and the runner is seeded with the home's settings through DMR_STANDIN_SEED (JSON,
`container.seed`), because the stand-in's "registry" is local files; no Docker Desktop, GPU,
vLLM/diffusers/mlx/sglang backends (a backend is only a name and status in `backends`),
`/exp/vDD4.40` socket routes, idle eviction after keep-alive, real embeddings, `run`,
`logs`, `requests` or the provider-form `compose` subcommands; TTY progress
bars; Ollama (`/api/…`), `/rerank`, `/score` and image routes; CORS; in the Anthropic API, tools,
tool_choice, thinking, images and metadata (they never reach llama.cpp, so no tool_use or thinking
block), `stop_sequence` (always null) and prompt-cache counts (`cache_read_input_tokens` is 0);
llama-server's `stream_options.include_usage` usage chunk on the OpenAI stream (llama-cpp-python
sends none); `/logs?follow`. Model IDs are the .gguf's sha256, not
the packaged artifact's digest. Size, quantization, context size and the `gguf` map are read
from the .gguf as the runner reads them (`gguf.py`); parameters and architecture are declared
when a model is registered. The llama.cpp the stand-in starts runs the configured context size
(else 2048); an external `upstream` keeps its own, and `/logs` reports what really runs.

To play "plugin missing", remove the launcher with `plugin.uninstall(cli_plugins_dir)`.
State lives in `$DMR_STANDIN_HOME` (see `state`); tests flip settings with
`state.update(home, ...)` while everything runs.
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
