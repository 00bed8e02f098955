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

Failures a test can turn on (each names what it follows):
- `unreachable_registries` (hosts, `docker.io` for Hub names): 500 with the text of capture
  pull-create-errors.txt (`reading model from registry: failed to pull model … connection refused`);
- `inject.create_html_page` `{"status", "body"}`: a proxy or CDN answers with an HTML page in place
  of the progress stream (reference §7.8); the CLI then fails with
  `unexpected response from server (not valid progress data): …` (`cmd/cli/desktop/progress.go`);
- `inject.hf_rate_limited`: Hugging Face answers 429 (reference §7.8, #441); `huggingface/client.go`
  checkResponse → RateLimitError, `model.go` BuildModel `list files: …`, PullModel writes it as an
  `Error: …` event in the 200 stream and the handler appends its 500 text.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import formats, goformat
from .names import canonical, has_explicit_registry, is_hugging_face, is_valid, normalise
from .state import (
    SUPPORTED_MEDIA_TYPES,
    Entry,
    State,
    blob_path,
    bundle_path,
    lookup,
    rendered_config,
    store_registry,
    update,
    versions,
)

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
    _, entry = registry_lookup(state, name)
    unreachable = unreachable_error(state, name)
    if unreachable and not cached(state, name):
        return 500, unreachable
    if entry is None and not (is_hugging_face(name) and state["inject"].get("hf_rate_limited")):
        return 404, "Model not found"
    if entry is None:
        return None
    if entry.get("gated") and (not state["hf_token"] or body.get("bearer-token") != state["hf_token"]):
        return 401, "Unauthorized"
    media_type = entry.get("media_type") or SUPPORTED_MEDIA_TYPES[0]
    if media_type not in SUPPORTED_MEDIA_TYPES:
        return 422, unsupported_media_type(media_type)
    return None


def registry_lookup(state: State, name: str) -> tuple[str, Entry | None]:
    """(the tag the pull stores, the registry entry): under the runner's `default_registry` a bare
    name is fetched from and stored under that registry (capture default-registry-bare-names.txt);
    the registry map may hold the entry under either form."""
    ref = normalise(name)
    tag = canonical(ref, store_registry(state))
    return tag, state["registry"].get(tag) or state["registry"].get(ref)


def cached(state: State, name: str) -> bool:
    return lookup(state, name) is not None


def registry_host(ref: str) -> str:
    """The registry a normalised reference is pulled from (`docker.io` for Hub names)."""
    return ref.split("/", 1)[0] if has_explicit_registry(ref) else "docker.io"


def unreachable_error(state: State, name: str) -> str | None:
    """The 500 text of a pull whose registry refuses connections (capture pull-create-errors.txt,
    `localhost:5999/ai/unreachable:latest`). Assumed for other hosts: the same wording, with
    `https` and the host's name where the capture (a loopback registry) shows `http` and 127.0.0.1;
    Hub names resolve to `registry-1.docker.io`."""
    ref = canonical(normalise(name), store_registry(state))
    host = registry_host(ref)
    if host not in (state["unreachable_registries"] or []):
        return None
    repo_path, _, tag = ref.rpartition(":")
    path = repo_path[len(host) + 1 :] if has_explicit_registry(ref) else repo_path
    endpoint = "registry-1.docker.io" if host == "docker.io" else host
    hostname, _, port = endpoint.partition(":")
    loopback = hostname in ("localhost", "127.0.0.1")
    scheme = "http" if loopback or hostname.endswith(".local") else "https"
    dial = f"127.0.0.1:{port or 80}" if loopback else f"{hostname}:{port or 443}"
    return (
        f"error while pulling model: reading model from registry: failed to pull model {goformat.quote(ref)}: "
        f"UNKNOWN - resolving {ref}: failed to do request: "
        f'Head "{scheme}://{endpoint}/v2/{path}/manifests/{tag}": dial tcp {dial}: connect: connection refused'
    )


def create(handler: Handler, state: State) -> None:
    try:
        body = handler.read_json()
    except ValueError:
        body = None
    refused = refusal(state, body)
    if refused is not None:
        handler.http_error(*refused)
        return
    page = state["inject"].get("create_html_page")
    if page:
        status = int(page.get("status", 200))
        handler.send_bytes(status, str(page.get("body", HTML_PAGE)).encode(), "text/html")
        return
    stream = Stream(handler, as_json=handler.headers.get("Accept") == "application/json")
    try:
        if is_hugging_face(body["from"]) and state["inject"].get("hf_rate_limited") and not cached(state, body["from"]):
            rate_limited(stream, body["from"])
        else:
            pull(handler, state, body["from"], stream)
        stream.finish()
    except (BrokenPipeError, ConnectionResetError):
        pass


# assumed: what a proxy answers in place of the runner (any HTML page plays the case)
HTML_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)


def rate_limited(stream: Stream, name: str) -> None:
    """Hugging Face 429 on the first API call of BuildModel (`list files`): `Error: …` in the stream,
    then the handler's http.Error text (`huggingface/client.go` RateLimitError; the repository as
    typed, parseHFReference keeps its case)."""
    repo = name.split("/", 1)[1].rsplit(":", 1)[0]
    error = f"list files: rate limited while accessing repository {goformat.quote(repo)}"
    stream.event("error", f"Error: {error}")
    stream.raw(f"error while pulling model: build model from HuggingFace: {error}")


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


def pull(handler: Handler, state: State, name: str, stream: Stream) -> None:
    tag, found = registry_lookup(state, name)
    assert found is not None
    entry = found
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
