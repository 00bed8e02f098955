"""The runner's logs and `GET /logs`.

Follows docker/model-runner 642c7211 `pkg/server/server.go` (service log through a bracket writer:
`[<RFC 3339 nano>] time=… level=… msg="…" key=value`, as captures api-probe.txt and cli-inference.txt
show) and `pkg/logs/http_handler.go` (`GET /logs`: 200 `text/plain`, the service log merged with the
engine log by time, `?no-engines=true` leaves the engine log out; 404 `service log not found`).

The engine log holds what llama-server printed when it loaded a model. The stand-in writes there:
- the runner's `backend args` line (capture cli-inference.txt; `--ctx-size` only when configured),
- a llama-server slot line `… n_ctx_slot = N` (reference §9/§10.3 and #1025 cite `n_ctx_slot`;
  assumed wording around it) where N is the context the stand-in's llama.cpp really runs with,
- the lines of the real llama.cpp (llama-cpp-python) log that name `n_ctx`, when the stand-in
  started that llama.cpp itself.
Not played: `?follow=true` (answered as without it).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from .goduration import now

SERVICE = "dmr.log"  # assumed file names (pkg/logs ServiceLogName / EngineLogName)
ENGINE = "inference-engine.log"
_lock = threading.Lock()


def log_dir(home: Path) -> Path:
    return Path(home) / "logs"


def _quote(value: str) -> str:
    if value and all(c.isalnum() or c in "-_./:@+" for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _line(level: str, msg: str, attrs: dict[str, object]) -> str:
    stamp = now()
    short = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"
    fields = " ".join(f"{k}={_quote(str(v))}" for k, v in attrs.items())
    return f"[{stamp}] time={short} level={level} msg={_quote(msg)}" + (f" {fields}" if fields else "") + "\n"


def _append(home: Path, name: str, text: str) -> None:
    directory = log_dir(home)
    directory.mkdir(parents=True, exist_ok=True)
    with _lock, open(directory / name, "a") as f:
        f.write(text)


def service(home: Path, msg: str, level: str = "INFO", **attrs: object) -> None:
    _append(home, SERVICE, _line(level, msg, attrs))


def engine(home: Path, lines: list[str]) -> None:
    _append(home, ENGINE, "".join(f"[{now()}] {line.rstrip()}\n" for line in lines))


def started(home: Path) -> None:
    service(home, "Successfully initialized store", component="model-manager")
    service(home, "Logs endpoint enabled at /logs", dir=str(log_dir(home)))


def model_loaded(home: Path, args: list[str], n_ctx: int, llama_log: Path | None) -> None:
    """What a load leaves in the logs (see the module docstring)."""
    service(home, "backend args", backend="llama.cpp", args="[" + " ".join(args) + "]")
    lines = []
    if llama_log is not None and llama_log.exists():
        lines = [line for line in llama_log.read_text(errors="replace").splitlines() if "n_ctx" in line]
    lines.append(f"slot init: id  0 | task -1 | new slot n_ctx_slot = {n_ctx}")
    engine(home, lines)


def merged(home: Path, engines: bool = True) -> str | None:
    """The body of `GET /logs`, or None when there is no service log (404)."""
    directory = log_dir(home)
    service_log = directory / SERVICE
    if not service_log.exists():
        return None
    lines = service_log.read_text().splitlines(keepends=True)
    engine_log = directory / ENGINE
    if engines and engine_log.exists():
        lines += engine_log.read_text().splitlines(keepends=True)
    return "".join(sorted(lines, key=lambda line: line[1 : line.find("]")] if line.startswith("[") else ""))
