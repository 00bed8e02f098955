"""Inference routes: checks as docker/model-runner answers them, then a real llama.cpp server.

Follows `pkg/inference/scheduling/http_handler.go` handleOpenAIInference: unknown backend 404
`backend not found`; 400 `invalid request` / `model is required`; model not in the store 404
with `Manager.GetLocal`'s text (`pkg/inference/models/manager.go`, distribution GetModel's
`get model '%q': …`); a backend not installed 412 `backend "X" is not installed; run: docker
model install-runner --backend X` (e24fb26d; at HEAD deferred backends auto-install instead);
a runner that does not start 500 `unable to load runner: <err>`. All plain text (http.Error).
Assumed: "not installed" is read from the backend's status in the `backends` map; the
`inference_load_error` injection stands for a llama.cpp that fails to load.

Loading (`load_runner`): a deferred llama.cpp is installed first (`backends.py`); the runner is
listed `loading` in `/engines/ps` until its llama.cpp answers (capture configure-vs-unload.txt);
`X-Preload-Only: true` loads and answers an empty 200 (http_handler.go:272-275, reference §3);
`in_use` while a request is served (a configure that changes settings then gets 409 `runner
already active`, loader.go setRunnerConfig). The scheduler's Anthropic routes (`messages`,
`messages/count_tokens`, http_handler.go:98-109, completion mode per api.go backendModeForRequest) take
the same path and are answered as llama-server's `/v1/messages` by `anthropic.answer`. Chat messages
whose content is a list of typed parts reach llama-cpp-python as one string (the text parts joined
with a newline), as llama.cpp renders them for a template without typed content (assumed; its gemma
formatter would drop a list). The llama.cpp the stand-in starts itself runs with the
configured context size (else 2048, llama-cpp-python's default, where a real llama-server without
`--ctx-size` takes the model's own; assumed difference); an external `upstream` keeps its own.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import TYPE_CHECKING, Any

from . import backends as llamacpp
from . import formats, goformat, runlog, scheduling
from .state import Entry, State, bundle_path, load, lookup, update

if TYPE_CHECKING:
    from .server import Handler, StandinServer

ROUTES = ("chat/completions", "completions", "embeddings")


def model_not_found(ref: str) -> str:
    return f"error while getting model: get model '{goformat.quote(ref)}': model not found"


def not_installed(status: str) -> bool:
    return status.lower().startswith("not installed")


class LoadError(Exception):
    """The runner could not be loaded: answered with http.Error(status, message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def load_runner(server: StandinServer, entry: Entry, requested: str, backend: str, mode: str = "completion") -> str:
    """installer.wait then loader.load (`scheduling/http_handler.go` handleOpenAIInference): install
    a deferred llama.cpp, refuse a backend that is not installed (412), then start or reuse the
    model's runner, listed as `loading` in `/engines/ps` meanwhile (and while `hold_loading`).
    Returns the llama.cpp URL. Raises LoadError."""
    home = server.home
    state = load(home)
    deferred = backend == scheduling.DEFAULT_BACKEND and llamacpp.deferred(state)
    if deferred and not llamacpp.installed(state):
        llamacpp.install(home)
        state = load(home)
    status = formats.default_backends(state).get(backend, "")
    if backend == "vllm" and status == "Not Installed: binary not found":
        # the vLLM backend's Install failed with vllm.ErrorNotFound: installer.wait → 412 err.Error()
        # (capture api-probe.txt `POST /engines/vllm/v1/chat/completions`)
        raise LoadError(412, "vLLM binary not found")
    if not deferred and not_installed(status):
        raise LoadError(
            412,
            f"backend {goformat.quote(backend)} is not installed; run: docker model install-runner --backend {backend}",
        )
    injected = state["inject"]["inference_load_error"]
    if injected:
        raise LoadError(500, f"unable to load runner: {injected}")
    config = scheduling.configuration(state, entry) or {}
    context_size = config.get("context_size") if isinstance(config.get("context_size"), int) else None
    model_path = str(bundle_path(home, entry["id"]))
    if deferred and state["llamacpp_phase"] == "failed":
        raise LoadError(500, llamacpp.missing_binary_error(llamacpp.server_args(model_path, context_size)))
    key = scheduling.runner_key(entry["id"], mode)
    runner = state["runners"].get(key)
    if runner is not None and not runner.get("loading"):
        return server.upstream(state, entry, context_size)
    if runner is None:
        update(home, lambda s: scheduling.loading(s, entry, requested, backend, mode))
    while load(home)["hold_loading"] and not server.stopping:
        time.sleep(0.05)
    try:
        upstream = server.upstream(state, entry, context_size)
    except (OSError, RuntimeError) as exc:
        update(home, lambda s: s["runners"].pop(key, None))
        raise LoadError(500, f"unable to load runner: {exc}") from exc
    was_loading = (load(home)["runners"].get(key) or {}).get("loading")
    update(home, lambda s: scheduling.loaded(s, entry, mode))
    if was_loading:
        args = llamacpp.server_args(model_path, context_size)
        runlog.model_loaded(home, args, server.n_ctx(state, entry), server.llama_log(state, entry))
    return upstream


def serve(handler: Handler, state: State, backend: str, tail: str) -> None:
    backends = formats.default_backends(state)
    name = backend or scheduling.DEFAULT_BACKEND
    if name not in backends:
        handler.http_error(404, "backend not found")
        return
    try:
        body = handler.read_json()
    except ValueError:
        handler.http_error(400, "invalid request")
        return
    if not isinstance(body, dict):
        handler.http_error(400, "invalid request")
        return
    requested = body.get("model")
    if not isinstance(requested, str) or not requested:
        handler.http_error(400, "model is required")
        return
    found = lookup(state, requested)
    if found is None:
        handler.http_error(404, model_not_found(requested))
        return
    entry = found[1]
    # a deferred backend installed for a `docker model` CLI request streams progress lines first
    announce = (
        name == scheduling.DEFAULT_BACKEND
        and llamacpp.deferred(state)
        and not llamacpp.installed(state)
        and "docker-model-cli/" in (handler.headers.get("User-Agent") or "")
    )
    if announce:
        handler.begin_stream("text/plain; charset=utf-8")
        handler.write_raw(f"Installing {name} backend...\n")
        llamacpp.install(handler.server.home)
        handler.write_raw(f"{name} backend installed successfully\n")
    mode = "embedding" if tail == "embeddings" else "completion"  # backendModeForRequest
    try:
        upstream = load_runner(handler.server, entry, requested, name, mode)
    except LoadError as exc:
        handler.http_error(exc.status, str(exc))
        return
    if handler.headers.get("X-Preload-Only") == "true":  # http_handler.go:272-275: loaded, nothing generated
        handler.send_empty(200)
        return
    home = handler.server.home
    update(home, lambda s: scheduling.use(s, entry, +1, mode))
    try:
        body["model"] = entry["upstream_alias"]
        if tail.startswith("messages"):
            from . import anthropic

            anthropic.answer(handler, upstream, tail, body, str(bundle_path(home, entry["id"])))
        else:
            proxy(handler, upstream, tail, body, str(bundle_path(home, entry["id"])))
    finally:
        update(home, lambda s: scheduling.use(s, entry, -1, mode))


def preload(server: StandinServer, model: str, backend: str) -> None:
    """The background preload `POST /engines/_configure` starts (`http_handler.go` Configure): an
    inference request with the preload-only flag; a failure is only logged."""
    state = load(server.home)
    found = lookup(state, model)
    if found is None:
        runlog.service(
            server.home, "background model preload failed", "WARN", status=404, body=model_not_found(model) + "\n"
        )
        return
    try:
        load_runner(server, found[1], model, backend)
    except LoadError as exc:
        runlog.service(server.home, "background model preload failed", "WARN", status=exc.status, body=f"{exc}\n")
    except Exception as exc:  # noqa: BLE001 - a background thread must not die silently
        runlog.service(server.home, "background model preload failed", "WARN", status=500, body=str(exc))


def llama_messages(messages: Any) -> Any:
    """Chat messages as llama-cpp-python's gemma formatter takes them: a list of typed parts becomes
    its text parts joined with a newline (llama.cpp's rendering for templates without typed content)."""
    if not isinstance(messages, list):
        return messages
    flat = []
    for message in messages:
        if isinstance(message, dict) and isinstance(message.get("content"), list):
            parts = [p.get("text") for p in message["content"] if isinstance(p, dict) and p.get("type") == "text"]
            message = {**message, "content": "\n".join(p for p in parts if isinstance(p, str))}
        flat.append(message)
    return flat


def proxy(handler: Handler, upstream_url: str, tail: str, body: dict, model_path: str) -> None:
    from urllib.parse import urlsplit

    if tail == "chat/completions" and "messages" in body:
        body = {**body, "messages": llama_messages(body["messages"])}
    upstream = urlsplit(upstream_url)
    conn = http.client.HTTPConnection(upstream.hostname or "127.0.0.1", upstream.port or 80, timeout=600)
    try:
        conn.request(
            "POST",
            f"{upstream.path.rstrip('/')}/v1/{tail}",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        response = conn.getresponse()
    except OSError as exc:
        conn.close()
        handler.http_error(500, f"unable to load runner: {exc}")
        return
    try:
        content_type = response.getheader("Content-Type", "application/json")
        if content_type.startswith("text/event-stream"):
            relay_stream(handler, response, content_type, model_path)
        else:
            payload = response.read()
            if tail == "embeddings" and response.status == 500 and b"embedding=True" in payload:
                # llama-cpp-python's refusal of embeddings from a model loaded for chat stands for
                # llama-server's (capture api-probe.txt: 400, this JSON; assumed equivalence)
                handler.send_bytes(400, POOLING_NONE, "application/json; charset=utf-8")
                return
            handler.send_bytes(response.status, rename_model(payload, model_path), content_type)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        conn.close()


POOLING_NONE = (
    b'{"error":{"code":400,"message":"Pooling type \'none\' is not OAI compatible. Please use a different '
    b'pooling type","type":"invalid_request_error"}}'
)


def relay_stream(handler: Handler, response: http.client.HTTPResponse, content_type: str, model: str) -> None:
    if not handler.streaming:
        handler.send_response(response.status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Cache-Control", "no-cache")
        handler.end_headers()
    for line in response:
        content = line.rstrip(b"\r\n")
        if content.startswith(b"data: ") and content != b"data: [DONE]":
            line = b"data: " + rename_model(content[len(b"data: ") :], model, first_delta=True) + line[len(content) :]
        handler.wfile.write(line)
        handler.wfile.flush()


def rename_model(payload: bytes, model: str, first_delta: bool = False) -> bytes:
    """The reply's `model` is the path llama-server loaded: the runner's bundle
    `…/models/bundles/sha256/<model id>/model/model.gguf` (capture api-probe.txt, every chat,
    completion and stream chunk; standin-diff.md row 1), whatever name the request used. The
    llama-cpp-python server answers with its alias, so the stand-in writes the path in."""
    try:
        value = json.loads(payload)
    except ValueError:
        return payload
    if isinstance(value, dict) and "model" in value:
        value["model"] = model
        if first_delta:  # llama-server's first chunk: {"role":"assistant","content":null} (api-probe.txt)
            for choice in value.get("choices") or []:
                delta = choice.get("delta") if isinstance(choice, dict) else None
                if isinstance(delta, dict) and delta.get("role") == "assistant" and "content" not in delta:
                    delta["content"] = None
        return json.dumps(value).encode()
    return payload
