"""The runner's per-model configuration and loaded runners, as state transitions.

Follows docker/model-runner `pkg/inference/scheduling/`: `scheduler.go` ConfigureRunner (flag
checks, mode), `loader.go` setRunnerConfig / getAllRunnerConfigs / Unload, `http_handler.go`
Configure (202), GetModelConfigs, Unload, GetRunningBackends, `api.go` (request and entry shapes).
Configurations live in memory upstream (`loader.runnerConfigs`), so `server.start` forgets them,
as a restarted runner does. Idle eviction (5 minutes) is not played: at HEAD it keeps the
configuration anyway (`loader.go` evict never touches runnerConfigs).
"""

from __future__ import annotations

import time
from typing import Any

from . import allowlist, releases
from .names import normalise
from .state import Entry, State, lookup, tags_of

DEFAULT_BACKEND = "llama.cpp"


class Refused(Exception):
    """`POST /engines/_configure` answers `status` with http.Error(`message`)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def model_id(state: State, ref: str) -> str:
    """Manager.ResolveID: the stored ID, or the reference itself when it is not pulled."""
    found = lookup(state, ref)
    return found[1]["id"] if found else ref


def configure(state: State, body: Any, backend: str, server_version: str) -> Entry:
    """Apply a ConfigureRequest to `state`; returns the record. Raises Refused."""
    if not isinstance(body, dict) or not isinstance(body.get("model", ""), str):
        raise Refused(400, "invalid request")
    flags = body.get("runtime-flags") or []
    if not flags and body.get("raw-runtime-flags"):
        import shlex

        try:
            flags = shlex.split(str(body["raw-runtime-flags"]))
        except ValueError as exc:
            raise Refused(500, f"invalid runtime flags: {exc}") from exc
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise Refused(400, "invalid request")
    context_size = body.get("context-size")
    if context_size is not None and not isinstance(context_size, int):
        raise Refused(400, "invalid request")
    if releases.checks_flag_allowlist(server_version):
        problem = allowlist.problem(backend, flags)
        if problem:
            raise Refused(500, problem)
    mode = body.get("mode") or ("embedding" if "--embeddings" in flags else "completion")
    model = body.get("model", "")
    record = {
        "model": model,
        "context_size": context_size,
        "runtime_flags": list(flags),
        "backend": backend,
        "mode": mode,
        "model_id": model_id(state, model),
    }
    # setRunnerConfig would evict an idle runner of that model first so the new config applies
    state["runners"].pop(record["model_id"], None)
    state["configurations"][normalise(model)] = record
    return record


def applied(state: State, model_filter: str = "") -> list[Entry]:
    """`GET /engines/_configure[?model=]`: ModelConfigEntry list (capitalised keys, no json tags),
    only for models still in the store, `Model` = their first tag."""
    wanted = model_id(state, model_filter) if model_filter else None
    entries = []
    for record in state["configurations"].values():
        tags = tags_of(state["models"], record["model_id"])
        if not tags or (wanted is not None and record["model_id"] != wanted):
            continue
        config: Entry = {}
        if record.get("context_size") is not None:
            config["context-size"] = record["context_size"]
        if record.get("runtime_flags"):
            config["runtime-flags"] = record["runtime_flags"]
        entries.append(
            {
                "Backend": record.get("backend", DEFAULT_BACKEND),
                "Model": tags[0],
                "ModelID": record["model_id"],
                "Mode": record.get("mode", "completion"),
                "Config": config,
            }
        )
    return entries


def unload(state: State, body: Any) -> int:
    """`loader.go` Unload: `all` drops every configuration and runner; otherwise each model's
    runners are evicted on any backend but its configurations only where their backend equals the
    request's `backend` (so `docker model unload M` without --backend keeps them)."""
    if not isinstance(body, dict):
        raise Refused(400, "invalid request")
    before = len(state["runners"])
    if body.get("all"):
        state["configurations"].clear()
        state["runners"].clear()
        return before
    backend = body.get("backend") or ""
    for model in body.get("models") or []:
        mid = model_id(state, str(model))
        for key in [
            k for k, r in state["configurations"].items() if r["model_id"] == mid and r.get("backend") == backend
        ]:
            del state["configurations"][key]
        runner = state["runners"].get(mid)
        if runner and (not backend or runner["backend"] == backend):
            del state["runners"][mid]
    return before - len(state["runners"])


def load(state: State, entry: Entry, requested: str, backend: str) -> None:
    """Record the runner an inference request loaded (for `/engines/ps` and unload counts)."""
    state["runners"][entry["id"]] = {
        "backend": backend,
        "model_name": requested,
        "mode": "completion",
        "last_used": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def running(state: State) -> list[Entry]:
    """`GET /engines/ps`: BackendStatus list."""
    return [
        {"backend_name": r["backend"], "model_name": r["model_name"], "mode": r["mode"], "last_used": r["last_used"]}
        for r in state["runners"].values()
    ]
