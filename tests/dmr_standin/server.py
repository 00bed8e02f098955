"""The stand-in DMR HTTP API (reference section 4); inference is proxied to a real llama.cpp server.

Run: `python -m tests.dmr_standin.server --home DIR --port P [--host H]` from the repository
root, or `start(home, port)` in-process (returns a handle with `.url` and `.stop()`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import formats
from .llama import LlamaHandle, start_llama
from .names import is_valid, normalise
from .state import Entry, State, find, load, openai_model, public, update, version_at_least, versions

CHUNK = 8 * 2**20
INFERENCE_ROUTES = ("chat/completions", "completions", "embeddings")


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], home: Path) -> None:
        self.home = Path(home)
        self.llamas: dict[str, LlamaHandle] = {}
        self.llama_lock = threading.Lock()
        self.create_cuts = 0
        self.log_lock = threading.Lock()
        super().__init__(address, Handler)

    def upstream(self, state: State, entry: Entry) -> str:
        if state["upstream"]:
            return str(state["upstream"]).rstrip("/")
        with self.llama_lock:
            handle = self.llamas.get(entry["gguf"])
            if handle is None or handle.process.poll() is not None:
                handle = start_llama(
                    Path(entry["gguf"]), alias=entry["upstream_alias"], log=self.home / "llama.log"
                )
                self.llamas[entry["gguf"]] = handle
            return handle.url

    def handle_error(self, request: Any, client_address: Any) -> None:
        with self.log_lock, open(self.home / "server.log", "a") as log:
            log.write(f"error serving {client_address}:\n{traceback.format_exc()}")

    def stop_llamas(self) -> None:
        with self.llama_lock:
            for handle in self.llamas.values():
                handle.stop()
            self.llamas.clear()


def _openai_error(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


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

    def send_text(self, status: int, text: str) -> None:
        self.send_bytes(status, (text + "\n").encode(), "text/plain; charset=utf-8")

    def send_json(self, status: int, value: Any) -> None:
        self.send_bytes(status, json.dumps(value).encode(), "application/json")

    def send_bytes(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null")

    def dispatch(self, method: str) -> None:
        state = load(self.server.home)
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        if not state["running"]:
            self.send_text(503, "Service Unavailable")
            return
        _, server_version = versions(state)
        if method == "GET" and path == "/":
            self.send_text(200, root_text(state, server_version))
        elif method == "GET" and path == "/models":
            self.send_json(200, [public(tag, e) for tag, e in state["models"].items()])
        elif method == "POST" and path == "/models/create":
            self.create(state)
        elif path.startswith("/models/") and method in ("GET", "DELETE"):
            self.model(method, state, path[len("/models/"):], query.get("force", ["false"])[0] == "true")
        elif method == "GET" and path == "/engines/status":
            self.send_json(200, formats.default_backends(state))
        elif method == "POST" and path == "/engines/_configure":
            self.configure()
        elif method == "GET" and path == "/version" and version_at_least(server_version, "v1.0.30"):
            self.send_json(200, {"version": server_version})
        elif (tail := openai_tail(path, server_version)) is not None:
            self.openai(method, state, tail)
        else:
            self.send_text(404, "404 page not found")

    def model(self, method: str, state: State, name: str, force: bool) -> None:
        found = find(state["models"], name)
        if found is None:
            self.send_text(404, f"no such model: {name}")
            return
        tag, entry = found
        if method == "GET":
            self.send_json(200, public(tag, entry))
            return

        def remove(s: State) -> None:
            s["models"].pop(tag, None)
            s["configurations"].pop(tag, None)
            if not any(e["id"] == entry["id"] for e in s["models"].values()):
                Path(entry["gguf"]).unlink(missing_ok=True)

        update(self.server.home, remove)
        self.send_json(200, [{"Untagged": tag}, {"Deleted": entry["id"]}])

    def configure(self) -> None:
        try:
            body = self.read_json()
            model = body["model"]
            context_size = body.get("context-size")
            flags = list(body.get("runtime-flags") or [])
        except (ValueError, KeyError, TypeError, AttributeError):
            self.send_text(400, "invalid request body")
            return
        record = {"model": model, "context_size": context_size, "runtime_flags": flags}
        update(self.server.home, lambda s: s["configurations"].__setitem__(normalise(model), record))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def create(self, state: State) -> None:
        try:
            name = self.read_json()["from"]
            assert isinstance(name, str)
        except (ValueError, KeyError, TypeError, AssertionError):
            self.send_text(400, 'invalid request body: expected {"from": MODEL}')
            return
        if not is_valid(name):
            self.send_text(400, f"invalid reference format: {name}")
            return
        injected = state["inject"]["create_http_error"]
        if injected:
            self.send_text(int(injected["status"]), str(injected.get("message", "")))
            return
        tag = normalise(name)
        entry = state["registry"].get(tag)
        if entry is None:
            self.send_text(404, f"model not found: {tag}")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()
        try:
            self.stream_pull(state, tag, entry)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def emit(self, event: dict[str, Any]) -> None:
        self.wfile.write(json.dumps(event).encode() + b"\n")
        self.wfile.flush()

    def stream_pull(self, state: State, tag: str, entry: Entry) -> None:
        total = int(entry["bytes"])
        if tag in state["models"]:
            self.emit({"type": "success", "message": "Using cached model", "total": total})
            return
        inject = state["inject"]
        cut = self.server.create_cuts < int(inject["create_network_failures"] or 0)
        if cut:
            self.server.create_cuts += 1
        error = inject["create_error"]
        target = self.server.home / "models" / (entry["id"].removeprefix("sha256:") + ".gguf")
        target.parent.mkdir(parents=True, exist_ok=True)
        for count, current in enumerate(transfer(Path(entry["gguf"]), target), start=1):
            self.emit({
                "type": "progress",
                "message": formats.progress_line(current, total),
                "total": total,
                "pulled": current,
                "layer": {"id": entry["id"], "size": total, "current": current},
            })
            if cut:
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if error and count >= int(error.get("after_progress", 0)):
                target.unlink(missing_ok=True)
                self.emit({"type": "error", "message": str(error.get("message", "injected error"))})
                return
            time.sleep(float(state["pull_chunk_delay"] or 0))
        stored = {**entry, "gguf": str(target)}
        update(self.server.home, lambda s: s["models"].__setitem__(tag, stored))
        self.emit({"type": "success", "message": "Model pulled successfully", "total": total})

    def openai(self, method: str, state: State, tail: str) -> None:
        models = state["models"]
        if method == "GET" and tail == "models":
            self.send_json(200, {"object": "list", "data": [openai_model(t, e) for t, e in models.items()]})
        elif method == "GET" and tail.startswith("models/"):
            found = find(models, tail[len("models/"):])
            if found is None:
                self.send_json(404, _openai_error(f"model {tail[len('models/'):]} not found", code="model_not_found"))
            else:
                self.send_json(200, openai_model(*found))
        elif method == "POST" and tail in INFERENCE_ROUTES:
            self.proxy(state, tail)
        else:
            self.send_text(404, "404 page not found")

    def proxy(self, state: State, tail: str) -> None:
        try:
            body = self.read_json()
            requested = body["model"]
            assert isinstance(requested, str) and requested
        except (ValueError, KeyError, TypeError, AssertionError):
            self.send_json(400, _openai_error("a JSON body with a \"model\" is required"))
            return
        found = find(state["models"], requested)
        if found is None:
            self.send_json(404, _openai_error(f"model {requested} not found", code="model_not_found"))
            return
        entry = found[1]
        body["model"] = entry["upstream_alias"]
        try:
            upstream = urlsplit(self.server.upstream(state, entry))
            conn = http.client.HTTPConnection(upstream.hostname or "127.0.0.1", upstream.port or 80, timeout=600)
            conn.request("POST", f"{upstream.path.rstrip('/')}/v1/{tail}", json.dumps(body).encode(),
                         {"Content-Type": "application/json"})
            response = conn.getresponse()
        except (OSError, RuntimeError) as exc:
            self.send_json(500, _openai_error(f"backend unavailable: {exc}", kind="server_error"))
            return
        try:
            content_type = response.getheader("Content-Type", "application/json")
            if content_type.startswith("text/event-stream"):
                self.relay_stream(response, content_type, requested)
            else:
                self.send_bytes(response.status, rename_model(response.read(), requested), content_type)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            conn.close()

    def relay_stream(self, response: http.client.HTTPResponse, content_type: str, model: str) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for line in response:
            content = line.rstrip(b"\r\n")
            if content.startswith(b"data: ") and content != b"data: [DONE]":
                line = b"data: " + rename_model(content[len(b"data: "):], model) + line[len(content):]
            self.wfile.write(line)
            self.wfile.flush()


def rename_model(payload: bytes, model: str) -> bytes:
    try:
        value = json.loads(payload)
    except ValueError:
        return payload
    if isinstance(value, dict) and "model" in value:
        value["model"] = model
        return json.dumps(value).encode()
    return payload


def openai_tail(path: str, server_version: str) -> str | None:
    prefixes = ["/engines/v1/", "/engines/llama.cpp/v1/"]
    if version_at_least(server_version, "v1.0.0"):
        prefixes.append("/v1/")
    for prefix in prefixes:
        if path.startswith(prefix):
            return path[len(prefix):].rstrip("/")
    return None


def root_text(state: State, server_version: str) -> str:
    if state["kind"] != "Docker Desktop" and version_at_least(server_version, "v1.0.5"):
        return "Docker Model Runner is running"
    return "Docker Model Runner\n\nThe service is running."


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


def start(home: Path, port: int = 0, host: str | None = None) -> ServerHandle:
    """Serve the API for `home` in a background thread; records host and port in its state."""
    home = Path(home)
    host = host or load(home)["host"]
    httpd = StandinServer((host, port), home)
    actual = int(httpd.server_address[1])
    update(home, host=host, port=actual)
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
