"""Inference routes: checks as docker/model-runner answers them, then a real llama.cpp server.

Follows `pkg/inference/scheduling/http_handler.go` handleOpenAIInference: unknown backend 404
`backend not found`; 400 `invalid request` / `model is required`; model not in the store 404
with `Manager.GetLocal`'s text (`pkg/inference/models/manager.go`, distribution GetModel's
`get model '%q': …`); a backend not installed 412 `backend "X" is not installed; run: docker
model install-runner --backend X` (e24fb26d; at HEAD deferred backends auto-install instead);
a runner that does not start 500 `unable to load runner: <err>`. All plain text (http.Error).
Assumed: "not installed" is read from the backend's status in the `backends` map; the
`inference_load_error` injection stands for a llama.cpp that fails to load.
The real llama.cpp runs with n_ctx 2048 whatever `configure` applied (not played).
"""

from __future__ import annotations

import http.client
import json
from typing import TYPE_CHECKING

from . import formats, goformat, scheduling
from .state import State, bundle_path, lookup, update

if TYPE_CHECKING:
    from .server import Handler

ROUTES = ("chat/completions", "completions", "embeddings")


def model_not_found(ref: str) -> str:
    return f"error while getting model: get model '{goformat.quote(ref)}': model not found"


def not_installed(status: str) -> bool:
    return status.lower().startswith("not installed")


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
    if not_installed(backends[name]):
        handler.http_error(
            412, f"backend {goformat.quote(name)} is not installed; run: docker model install-runner --backend {name}"
        )
        return
    injected = state["inject"]["inference_load_error"]
    if injected:
        handler.http_error(500, f"unable to load runner: {injected}")
        return
    try:
        upstream = handler.server.upstream(state, entry)
    except (OSError, RuntimeError) as exc:
        handler.http_error(500, f"unable to load runner: {exc}")
        return
    update(handler.server.home, lambda s: scheduling.load(s, entry, requested, name))
    body["model"] = entry["upstream_alias"]
    proxy(handler, upstream, tail, body, str(bundle_path(handler.server.home, entry["id"])))


def proxy(handler: Handler, upstream_url: str, tail: str, body: dict, model_path: str) -> None:
    from urllib.parse import urlsplit

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
            handler.send_bytes(response.status, rename_model(response.read(), model_path), content_type)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        conn.close()


def relay_stream(handler: Handler, response: http.client.HTTPResponse, content_type: str, model: str) -> None:
    handler.send_response(response.status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Cache-Control", "no-cache")
    handler.end_headers()
    for line in response:
        content = line.rstrip(b"\r\n")
        if content.startswith(b"data: ") and content != b"data: [DONE]":
            line = b"data: " + rename_model(content[len(b"data: ") :], model) + line[len(content) :]
        handler.wfile.write(line)
        handler.wfile.flush()


def rename_model(payload: bytes, model: str) -> bytes:
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
        return json.dumps(value).encode()
    return payload
