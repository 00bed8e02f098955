"""The real llama.cpp server (llama-cpp-python) that serves the stand-in's inference routes."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .state import GEMMA_NAME


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def llama_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def _ready(port: int, api_key: str | None = None, host: str = "127.0.0.1") -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", "/v1/models", headers={"Authorization": f"Bearer {api_key}"} if api_key else {})
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        conn.close()


@dataclass
class LlamaHandle:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    n_ctx: int = 2048
    host: str = "127.0.0.1"  # where it is reached: its bind address, loopback for "0.0.0.0"
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_llama(
    gguf: Path,
    port: int | None = None,
    *,
    alias: str = GEMMA_NAME,
    log: Path | None = None,
    timeout: float = 60.0,
    threads: int | None = None,
    n_ctx: int = 2048,
    host: str = "127.0.0.1",
    api_key: str | None = None,
) -> LlamaHandle:
    """`python -m llama_cpp.server --model FILE --model_alias ALIAS --chat_format gemma --n_ctx N
    --interrupt_requests False --port P` bound to ``host`` (127.0.0.1 unless containers must reach
    it), requiring ``api_key`` when given (its ``--api_key``); returns once `GET /v1/models` is
    200. N is 2048 unless the caller passes the configured context size."""
    port = port or free_port()
    if log is None:
        fd, name = tempfile.mkstemp(prefix="llama-", suffix=".log")
        os.close(fd)
        log = Path(name)
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--model_alias",
        alias,
        "--chat_format",
        "gemma",
        "--n_ctx",
        str(n_ctx),
        "--interrupt_requests",
        "False",
        "--host",
        host,
        "--port",
        str(port),
        *(["--n_threads", str(threads)] if threads else []),
        *(["--api_key", api_key] if api_key else []),
    ]
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    reach = "127.0.0.1" if host in ("0.0.0.0", "") else host
    handle = LlamaHandle(process, port, Path(log), n_ctx, reach)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama.cpp server exited with {process.returncode}:\n{handle.log_tail()}")
        if _ready(port, api_key, reach):
            return handle
        time.sleep(0.1)
    handle.stop()
    raise TimeoutError(f"llama.cpp server not ready after {timeout}s:\n{handle.log_tail()}")


class Shared:
    """llama.cpp servers a test session keeps between stand-ins, one per model file (by inode, so
    the hard links a pull makes share it), alias and context size, restarted if one died; `stop()`
    ends them. A harness economy, not runner behaviour (the real runner starts llama.cpp per
    load): starting one costs about a second of CPU, which each test of the `dmr` fixture paid."""

    def __init__(self, logs: Path) -> None:
        self.logs = Path(logs)  # one log per server, named by its key
        self.handles: dict[tuple[int, int, str, int], LlamaHandle] = {}
        self.lock = threading.Lock()

    def get(self, gguf: Path, alias: str, n_ctx: int) -> LlamaHandle:
        found = gguf.stat()
        key = (found.st_dev, found.st_ino, alias, n_ctx)
        with self.lock:
            handle = self.handles.get(key)
            if handle is None or handle.process.poll() is not None:
                log = self.logs / f"llama-{found.st_ino}-{alias.replace('/', '_')}-{n_ctx}.log"
                handle = self.handles[key] = start_llama(gguf, alias=alias, n_ctx=n_ctx, log=log)
            return handle

    def stop(self) -> None:
        with self.lock:
            for handle in self.handles.values():
                handle.stop()
            self.handles.clear()
