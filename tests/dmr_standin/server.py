"""The stand-in DMR HTTP API (reference section 4); inference is proxied to a real llama.cpp server.

Routes follow docker/model-runner `pkg/routing/router.go`, `pkg/inference/models/http_handler.go`
(models, tags, OpenAI model listings) and `pkg/inference/scheduling/http_handler.go` (inference,
status, ps, unload, _configure). Errors are Go `http.Error` plain text, as upstream writes them.
The pull stream is in `pulls`, the proxying to llama.cpp in `inference`, the Anthropic Messages
API in `anthropic`, the OpenAI Responses API in `responses`.

Run: `python -m tests.dmr_standin.server --home DIR --port P [--host H]` from the repository
root, or `start(home, port)` in-process (returns a handle with `.url` and `.stop()`).
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import anthropic, formats, goformat, inference, pulls, releases, responses, runlog, scheduling
from . import backends as llamacpp
from .llama import LlamaHandle, Shared, start_llama
from .names import canonical, normalise
from .state import (
    Entry,
    State,
    blob_path,
    bundle_path,
    find_partial,
    grouped,
    load,
    lookup,
    openai_model,
    public,
    store_registry,
    tags_of,
    update,
    versions,
)


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], home: Path, shared: Shared | None = None) -> None:
        self.home = Path(home)
        self.llamas: dict[str, LlamaHandle] = {}
        self.shared = shared  # llama.cpp servers owned by the caller, kept when this runner stops
        self.llama_lock = threading.Lock()
        self.create_cuts = 0
        self.log_lock = threading.Lock()
        self.stopping = False
        self.responses: dict[str, Any] = {}  # pkg/responses Store: id -> (expiry, response)
        super().__init__(address, Handler)

    def upstream(self, state: State, entry: Entry, context_size: int | None = None) -> str:
        """The llama.cpp serving `entry`: the `upstream` setting, else one the stand-in starts (again
        when the configured context size changed: a reloaded runner), or takes from `shared`."""
        if state["upstream"]:
            return str(state["upstream"]).rstrip("/")
        n_ctx = context_size if context_size and context_size > 0 else 2048
        with self.llama_lock:
            if self.stopping:
                raise RuntimeError("the runner is shutting down")
            handle = self.llamas.get(entry["gguf"])
            if handle is not None and (handle.process.poll() is not None or handle.n_ctx != n_ctx):
                if self.shared is None:
                    handle.stop()
                handle = None
            if handle is None and self.shared is not None:
                handle = self.shared.get(Path(entry["gguf"]), entry["upstream_alias"], n_ctx)
            elif handle is None:
                handle = start_llama(
                    Path(entry["gguf"]), alias=entry["upstream_alias"], log=self.home / "llama.log", n_ctx=n_ctx
                )
            self.llamas[entry["gguf"]] = handle
            return handle.url

    def n_ctx(self, state: State, entry: Entry) -> int:
        """The context llama.cpp really runs with (assumed 2048 for an external `upstream`, what
        `llama.start_llama` runs by default)."""
        handle = None if state["upstream"] else self.llamas.get(entry["gguf"])
        return handle.n_ctx if handle is not None else 2048

    def llama_log(self, state: State, entry: Entry) -> Path | None:
        handle = None if state["upstream"] else self.llamas.get(entry["gguf"])
        return handle.log if handle is not None else None

    def handle_error(self, request: Any, client_address: Any) -> None:
        with self.log_lock, open(self.home / "server.log", "a") as log:
            log.write(f"error serving {client_address}:\n{traceback.format_exc()}")

    def stop_llamas(self) -> None:
        with self.llama_lock:
            self.stopping = True  # a background preload must not start llama.cpp after this
            if self.shared is None:  # shared servers are their owner's to stop
                for handle in self.llamas.values():
                    handle.stop()
            self.llamas.clear()


class Handler(BaseHTTPRequestHandler):
    server: StandinServer
    protocol_version = "HTTP/1.0"
    server_version = "dmr-standin"

    def log_message(self, format: str, *args: Any) -> None:
        with self.server.log_lock, open(self.server.home / "server.log", "a") as log:
            log.write(f"{time.strftime('%H:%M:%S')} {self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    # --- responses ------------------------------------------------------------------------

    streaming = False  # headers already sent (a 200 body in progress): later writes only append

    def begin_stream(self, content_type: str) -> None:
        """A 200 whose body is written as it comes (close-delimited)."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.end_headers()
        self.streaming = True

    def write_raw(self, text: str | bytes) -> None:
        self.wfile.write(text.encode() if isinstance(text, str) else text)
        self.wfile.flush()

    def http_error(self, status: int, message: str) -> None:
        """Go's `http.Error`: text/plain; charset=utf-8, nosniff, the message and a newline (after
        the headers went out, only the text is appended)."""
        self.send_bytes(status, (message + "\n").encode(), "text/plain; charset=utf-8", nosniff=True)

    def send_text(self, status: int, text: str) -> None:
        self.http_error(status, text)

    def send_json(self, status: int, value: Any, *, newline: bool = True) -> None:
        """`json.NewEncoder(w).Encode` (newline) or `w.Write(json.Marshal(v))` (none)."""
        body = goformat.encode(value) if newline else goformat.marshal(value)
        self.send_bytes(status, body.encode(), "application/json")

    def send_bytes(self, status: int, body: bytes, content_type: str, *, nosniff: bool = False) -> None:
        if self.streaming:
            self.write_raw(body)
            return
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if nosniff:
            self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_empty(self, status: int) -> None:
        if self.streaming:
            return
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    body: bytes | None = None  # the request body, once read (a handler that forwards reads it again)

    def read_body(self) -> bytes:
        if self.body is None:
            self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return self.body

    def read_json(self) -> Any:
        return json.loads(self.read_body() or b"null")

    # --- routing --------------------------------------------------------------------------

    def dispatch(self, method: str) -> None:
        state = load(self.server.home)
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query, keep_blank_values=True)
        if not state["running"]:
            self.http_error(503, "Service Unavailable")
            return
        _, server_version = versions(state)
        if method == "GET" and path == "/":
            self.send_bytes(200, (root_text(state, server_version) + "\n").encode(), "text/plain; charset=utf-8")
        elif method == "GET" and path == "/models":
            self.send_json(200, [public(tags, e, server_version) for tags, e in grouped(state["models"])])
        elif method == "POST" and path == "/models/create":
            pulls.create(self, state)
        elif method == "POST" and path.startswith("/models/") and path.endswith("/tag"):
            self.tag(state, path[len("/models/") : -len("/tag")], query)
        elif method == "GET" and path.startswith("/models/"):
            self.get_model(state, path[len("/models/") :], server_version)
        elif method == "DELETE" and path.startswith("/models/"):
            self.delete_model(path[len("/models/") :], query)
        elif method == "GET" and path == "/engines/status":
            self.send_json(200, formats.default_backends(state), newline=False)
        elif method == "GET" and path == "/engines/ps":
            self.send_json(200, scheduling.running(state))
        elif method == "GET" and path == "/engines/df":
            self.send_json(200, disk_usage(self.server.home, state))
        elif method == "POST" and path == "/engines/install-backend":
            self.install_backend(state)
        elif method == "GET" and path == "/logs":
            self.logs(query)
        elif method == "POST" and path == "/engines/unload":
            self.unload()
        elif method == "POST" and (backend := configure_backend(path)) is not None:
            self.configure(state, backend or scheduling.DEFAULT_BACKEND, server_version)
        elif method == "GET" and path == "/engines/_configure" and releases.reads_back_configs(server_version):
            model = query.get("model", [""])[0]
            self.send_json(200, scheduling.applied(state, model))
        elif method == "GET" and path == "/version" and releases.has_version_route(server_version):
            self.send_json(200, {"version": server_version}, newline=False)
        elif api := anthropic.route(method, path, server_version) or responses.route(method, path, server_version):
            api(self, state)
        elif (route := openai_route(path, server_version)) is not None:
            backend, tail = route
            self.openai(method, state, backend, tail, server_version)
        else:
            self.http_error(404, "404 page not found")

    # --- models (pkg/inference/models/http_handler.go) ------------------------------------

    def get_model(self, state: State, name: str, server_version: str) -> None:
        found = find_partial(state["models"], name, store_registry(state))
        if found is None:
            self.http_error(404, "model not found")
            return
        entry = found[1]
        self.send_json(200, public(tags_of(state["models"], entry["id"]), entry, server_version))

    def delete_model(self, name: str, query: dict[str, list[str]]) -> None:
        """`distribution/client.go` DeleteModel: a tag is untagged (and only that, if the model
        keeps other tags); an ID with several tags needs force (409)."""
        force = query_bool(query, "force")
        outcome: dict[str, Any] = {}

        def remove(s: State) -> None:
            found = lookup(s, name)
            if found is None:
                outcome["error"] = (404, "error while deleting model: model not found")
                return
            tag, entry = found
            tags = tags_of(s["models"], entry["id"])
            # DeleteModel: untag when the reference names a tag (a bare name under DEFAULT_REGISTRY too)
            is_tag = (
                normalise(name) != entry["id"]
                and "@" not in name
                and tag
                in (
                    normalise(name),
                    canonical(normalise(name), store_registry(s)),
                )
            )
            actions: list[dict[str, str]] = []
            if is_tag:
                del s["models"][tag]
                actions.append({"Untagged": tag})
                if len(tags) > 1:
                    outcome["actions"] = actions
                    return
            elif len(tags) > 1 and not force:
                outcome["error"] = (
                    409,
                    (
                        f"error while deleting model: unable to delete {goformat.quote(name)} (must be forced) "
                        "due to multiple tag references: resource conflict"
                    ),
                )
                return
            for other in tags_of(s["models"], entry["id"]):
                del s["models"][other]
                actions.append({"Untagged": other})
            actions.append({"Deleted": entry["id"]})
            for key in scheduling.runner_keys(s, entry["id"]):
                del s["runners"][key]
            for path in (
                Path(entry["gguf"]),
                bundle_path(self.server.home, entry["id"]),
                blob_path(self.server.home, entry["id"]),
            ):
                if self.server.home in path.parents:
                    path.unlink(missing_ok=True)
            outcome["actions"] = actions

        update(self.server.home, remove)
        if "error" in outcome:
            self.http_error(*outcome["error"])
        else:
            self.send_json(200, outcome["actions"])

    def tag(self, state: State, name: str, query: dict[str, list[str]]) -> None:
        """handleTagModel: `?repo=R&tag=T` → 201 {"message", "target"}."""
        repo, tag = query.get("repo", [""])[0], query.get("tag", [""])[0]
        if not repo or not tag:
            self.http_error(400, "missing repo or tag query parameter")
            return
        target = f"{repo}:{tag}"
        outcome: dict[str, bool] = {}

        def change(s: State) -> None:
            found = find_partial(s["models"], name, store_registry(s))
            if found is not None:
                s["models"][canonical(normalise(target), store_registry(s))] = found[1]
                outcome["ok"] = True

        update(self.server.home, change)
        if not outcome:
            self.http_error(404, "model not found")
            return
        message = f"Model tagged successfully with {goformat.quote(target)}"
        self.send_json(201, {"message": message, "target": target})

    # --- engines (pkg/inference/scheduling/http_handler.go) -------------------------------

    def configure(self, state: State, backend: str, server_version: str) -> None:
        if backend not in formats.default_backends(state):
            self.http_error(404, "backend not found")
            return
        try:
            body = self.read_json()
        except ValueError:
            self.http_error(400, "invalid request")
            return
        outcome: dict[str, Any] = {}

        def change(s: State) -> None:
            try:
                scheduling.configure(s, body, backend, server_version)
            except scheduling.Refused as exc:
                outcome["refused"] = exc

        update(self.server.home, change)
        if "refused" in outcome:
            self.http_error(outcome["refused"].status, str(outcome["refused"]))
            return
        self.send_empty(202)
        model = body.get("model") if isinstance(body, dict) else None
        if isinstance(model, str):  # Configure: preload in the background (bdf158b2)
            threading.Thread(target=inference.preload, args=(self.server, model, backend), daemon=True).start()

    def install_backend(self, state: State) -> None:
        """`http_handler.go` InstallBackend: 400 without a backend, 404 for an unknown one, else the
        install (blocking) and 200 with no body, also when llama.cpp's download failed (Install only
        records `Error: …`, reference §10.1). Backends that are not deferred are already installed."""
        try:
            body = self.read_json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("backend"), str) or not body["backend"]:
            self.http_error(400, "invalid request: backend is required")
            return
        name = body["backend"]
        if name not in formats.default_backends(state):
            self.http_error(404, "backend not found")
            return
        if name == scheduling.DEFAULT_BACKEND and llamacpp.deferred(state):
            version = body.get("version") if isinstance(body.get("version"), str) else None
            llamacpp.install(self.server.home, version or None)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def logs(self, query: dict[str, list[str]]) -> None:
        """`pkg/logs/http_handler.go`: text/plain (no charset), service and engine logs merged."""
        flag = (query.get("no-engines") or [""])[0]
        if flag not in ("", "1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"):
            self.http_error(400, f'invalid no-engines parameter: "{flag}" is not a valid boolean')
            return
        text = runlog.merged(self.server.home, engines=flag not in ("1", "t", "T", "TRUE", "true", "True"))
        if text is None:
            self.http_error(404, "service log not found")
            return
        self.send_bytes(200, text.encode(), "text/plain")

    def unload(self) -> None:
        try:
            body = self.read_json()
        except ValueError:
            self.http_error(400, "invalid request")
            return
        outcome: dict[str, Any] = {}

        def change(s: State) -> None:
            try:
                outcome["count"] = scheduling.unload(s, body)
            except scheduling.Refused as exc:
                outcome["refused"] = exc

        update(self.server.home, change)
        if "refused" in outcome:
            self.http_error(outcome["refused"].status, str(outcome["refused"]))
        else:
            self.send_json(200, {"unloaded_runners": outcome["count"]})

    def openai(self, method: str, state: State, backend: str, tail: str, server_version: str) -> None:
        models = state["models"]
        if method == "GET" and tail == "models":
            data = [openai_model(tags[0], e, server_version) for tags, e in grouped(models)]
            self.send_json(200, {"object": "list", "data": data})
        elif method == "GET" and tail.startswith("models/"):
            name = tail[len("models/") :]
            found = lookup(state, name)
            if found is None:
                self.http_error(404, inference.model_not_found(name))
            else:
                entry = found[1]
                self.send_json(200, openai_model(tags_of(models, entry["id"])[0], entry, server_version))
        elif method == "POST" and (
            tail in inference.ROUTES or (tail in anthropic.TAILS and releases.has_anthropic(server_version))
        ):
            inference.serve(self, state, backend, tail)
        else:
            self.http_error(404, "404 page not found")


def query_bool(query: dict[str, list[str]], name: str) -> bool:
    """parseBoolQueryParam: absent → false; present and empty → true; else Go's ParseBool."""
    if name not in query:
        return False
    value = query[name][0]
    return value == "" or value in ("1", "t", "T", "TRUE", "true", "True")


def configure_backend(path: str) -> str | None:
    """`/engines/_configure` → "" (default backend); `/engines/{backend}/_configure` → backend."""
    if path == "/engines/_configure":
        return ""
    parts = path.split("/")
    if len(parts) == 4 and parts[1] == "engines" and parts[3] == "_configure" and parts[2]:
        return parts[2]
    return None


def openai_route(path: str, server_version: str) -> tuple[str, str] | None:
    """(backend or "", tail) for `/engines/v1/…`, `/engines/{backend}/v1/…` and, on servers
    ≥ v1.0.0, the `/v1/…` alias."""
    if path.startswith("/engines/v1/"):
        return "", path[len("/engines/v1/") :].rstrip("/")
    if releases.has_v1_alias(server_version) and path.startswith("/v1/"):
        return "", path[len("/v1/") :].rstrip("/")
    parts = path.split("/", 4)
    if len(parts) == 5 and parts[1] == "engines" and parts[2] and parts[3] == "v1":
        return parts[2], parts[4].rstrip("/")
    return None


BACKEND_DISK_USAGE = 15497688  # the bundled llama.cpp install dir (capture api-probe.txt, `/engines/df`)


def disk_usage(home: Path, state: State) -> dict[str, int]:
    """`GET /engines/df` (`http_handler.go` GetDiskUsage): the store's size (every file under it: the
    blob and the unpacked bundle both count, capture api-probe.txt 506229744 for one 253113024-byte
    model) and the default backend's install dir (0 while a deferred llama.cpp is not installed or
    failed; assumed: the captured size once installed)."""
    models = 0
    for path in (Path(home) / "models").rglob("*"):
        if path.is_file():
            models += path.stat().st_size
    backend = BACKEND_DISK_USAGE
    if llamacpp.deferred(state) and state["llamacpp_phase"] != "installed":
        backend = 0
    return {"models_disk_usage": models, "default_backend_disk_usage": backend}


def root_text(state: State, server_version: str) -> str:
    if state["kind"] != "Docker Desktop" and releases.at_least(server_version, "v1.0.5"):
        return "Docker Model Runner is running"
    return "Docker Model Runner\n\nThe service is running."


@dataclass
class ServerHandle:
    httpd: StandinServer
    thread: threading.Thread
    url: str
    port: int

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
        self.httpd.stop_llamas()


def start(home: Path, port: int = 0, host: str | None = None, shared: Shared | None = None) -> ServerHandle:
    """Serve the API for `home` in a background thread; records host and port in its state. With
    `shared`, llama.cpp servers come from it and outlive this runner.

    Like a (re)started runner it has no applied configurations and no loaded runners
    (`loader.go` keeps them in memory only)."""
    home = Path(home)
    host = host or load(home)["host"]
    httpd = StandinServer((host, port), home, shared)
    actual = int(httpd.server_address[1])

    def restarted(s: State) -> None:
        # installer.run at startup: a deferred llama.cpp already on disk is verified (Running);
        # one whose download failed or never finished is Not Installed again
        if s["llamacpp_phase"] != "installed":
            s["llamacpp_phase"] = None
            s["llamacpp_error"] = None

    update(home, restarted, host=host, port=actual, configurations={}, runners={})
    runlog.started(home)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    client_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return ServerHandle(httpd, thread, f"http://{client_host}:{actual}", actual)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.dmr_standin.server")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--host", default=None)
    args = parser.parse_args(argv)
    port = args.port if args.port is not None else int(load(args.home)["port"])
    handle = start(args.home, port, args.host)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    print(f"dmr-standin listening on {handle.url}", flush=True)
    while not stopping.wait(0.5):
        pass
    handle.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
