"""`POST /models/create`: the pull, its errors before the stream and its progress stream.

Follows docker/model-runner:
- `pkg/inference/models/http_handler.go` handleCreateModel (body `{"from", "bearer-token"}`; 400
  `Invalid model reference`, 401 `Unauthorized`, 404 `Model not found`, 422 the checkCompat text,
  500 otherwise) and `progressResponseWriter` (Go `html.EscapeString` of every write unless JSON);
- `pkg/inference/models/manager.go` Pull (`Accept` exactly `application/json` → JSON lines with
  `Content-Type: application/json`, else `text/plain`; chunked, `Cache-Control: no-cache`);
- `pkg/distribution/internal/progress/reporter.go` (line shape `type,message,total,layer,mode`)
  and `pkg/distribution/distribution/client.go` PullModel (cached pull → `Using cached model:
  <size>` and the new tag is added; a store error → `Error: …` event, then the handler's
  http.Error text appended, unescaped, to the already-200 body; checkCompat media types).
Assumed: progress events per 8 MiB copied (upstream: every 100 ms or 1 MiB); the "registry" is
the home's `registry` map; a gated entry plays a Hugging Face repo that needs `hf_token`.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import formats, goformat
from .names import is_valid, normalise
from .state import SUPPORTED_MEDIA_TYPES, Entry, State, blob_path, bundle_path, rendered_config, update, versions

if TYPE_CHECKING:
    from .server import Handler

CHUNK = 8 * 2**20


def unsupported_media_type(media_type: str) -> str:
    supported = ", ".join(goformat.quote(m) for m in SUPPORTED_MEDIA_TYPES)
    return (
        f"error while pulling model: config type {goformat.quote(media_type)} is not supported "
        f"(supported: {supported}) - try upgrading: unsupported model config media type"
    )


def refusal(state: State, body: Any) -> tuple[int, str] | None:
    """The answer before any stream, or None when the pull can start."""
    if not isinstance(body, dict) or not isinstance(body.get("from", ""), str):
        return 400, "invalid request body"
    name = body.get("from", "")
    if not is_valid(name):
        return 400, "Invalid model reference"
    injected = state["inject"]["create_http_error"]
    if injected:
        return int(injected["status"]), str(injected.get("message", ""))
    entry = state["registry"].get(normalise(name))
    if entry is None:
        return 404, "Model not found"
    if entry.get("gated") and (not state["hf_token"] or body.get("bearer-token") != state["hf_token"]):
        return 401, "Unauthorized"
    media_type = entry.get("media_type") or SUPPORTED_MEDIA_TYPES[0]
    if media_type not in SUPPORTED_MEDIA_TYPES:
        return 422, unsupported_media_type(media_type)
    return None


def create(handler: Handler, state: State) -> None:
    try:
        body = handler.read_json()
    except ValueError:
        body = None
    refused = refusal(state, body)
    if refused is not None:
        handler.http_error(*refused)
        return
    stream = Stream(handler, as_json=handler.headers.get("Accept") == "application/json")
    try:
        pull(handler, state, normalise(body["from"]), stream)
        stream.finish()
    except (BrokenPipeError, ConnectionResetError):
        pass


class Stream:
    """The chunked 200 response; every line escaped as Go's html.EscapeString unless JSON."""

    def __init__(self, handler: Handler, as_json: bool) -> None:
        self.handler = handler
        self.as_json = as_json
        self.dropped = False
        handler.protocol_version = "HTTP/1.1"  # chunked framing, as Go's server writes it
        handler.send_response(200)
        handler.send_header("Cache-Control", "no-cache")
        # assumed: `close` where upstream says keep-alive (the stand-in serves one request per connection)
        handler.send_header("Connection", "close")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Content-Type", "application/json" if as_json else "text/plain")
        handler.end_headers()

    def chunk(self, text: str) -> None:
        data = text.encode()
        self.handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.handler.wfile.flush()

    def event(self, kind: str, message: str, total: int = 0, layer: Entry | None = None) -> None:
        line = (
            goformat.marshal(
                {
                    "type": kind,
                    "message": message,
                    "total": total,
                    "layer": layer or {"size": 0, "current": 0},
                    "mode": "pull",
                }
            )
            + "\n"
        )
        self.chunk(line if self.as_json else goformat.html_escape(line))

    def raw(self, text: str) -> None:
        """What http.Error appends after the stream started (not through the escaping writer)."""
        self.chunk(text + "\n")

    def cut(self) -> None:
        """A network failure: the connection drops mid-body (no terminating chunk)."""
        self.handler.connection.shutdown(socket.SHUT_RDWR)
        self.dropped = True

    def finish(self) -> None:
        if self.dropped:
            return
        self.handler.wfile.write(b"0\r\n\r\n")
        self.handler.wfile.flush()


def pull(handler: Handler, state: State, tag: str, stream: Stream) -> None:
    entry = state["registry"][tag]
    _, server_version = versions(state)
    size = rendered_config(entry["config"], server_version).get("size", "")
    same_id = [t for t, e in state["models"].items() if e["id"] == entry["id"]]
    if same_id:
        stored = state["models"][same_id[0]]
        update(handler.server.home, lambda s: s["models"].setdefault(tag, stored))
        stream.event("success", f"Using cached model: {size}")
        return
    inject = state["inject"]
    cut = handler.server.create_cuts < int(inject["create_network_failures"] or 0)
    if cut:
        handler.server.create_cuts += 1
    error = inject["create_error"]
    total = int(entry["bytes"])
    target = blob_path(handler.server.home, entry["id"])
    target.parent.mkdir(parents=True, exist_ok=True)
    for count, current in enumerate(transfer(Path(entry["gguf"]), target), start=1):
        layer = {"id": entry["id"], "size": total, "current": current}
        stream.event("progress", formats.server_progress_message(current), total, layer)
        if cut:
            stream.cut()
            return
        if error and count >= int(error.get("after_progress", 0)):
            target.unlink(missing_ok=True)
            message = str(error.get("message", "injected error"))
            stream.event("error", message if message.startswith("Error: ") else f"Error: {message}")
            stream.raw(f"error while pulling model: writing image to store: {message.removeprefix('Error: ')}")
            return
        time.sleep(float(state["pull_chunk_delay"] or 0))
    # the store keeps the blob and an unpacked bundle (two copies on disk, `GET /engines/df` counts
    # both: capture api-probe.txt 506229744 for one 253113024-byte model); the stand-in hard-links
    bundle = bundle_path(handler.server.home, entry["id"])
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.unlink(missing_ok=True)
    try:
        os.link(target, bundle)
    except OSError:
        import shutil

        shutil.copyfile(target, bundle)
    stored = {**entry, "gguf": str(bundle)}
    update(handler.server.home, lambda s: s["models"].__setitem__(tag, stored))
    stream.event("success", "Model pulled successfully")


def transfer(source: Path, target: Path) -> Iterator[int]:
    """Hard-link (or copy) `source` to `target`, yielding bytes done per CHUNK."""
    total = source.stat().st_size
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        with open(source, "rb") as src, open(target, "wb") as dst:
            done = 0
            while chunk := src.read(CHUNK):
                dst.write(chunk)
                done += len(chunk)
                yield done
        return
    yield from range(min(CHUNK, total), total, CHUNK)
    yield total
