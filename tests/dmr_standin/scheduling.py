"""The runner's per-model configuration and loaded runners, as state transitions.

Follows docker/model-runner `pkg/inference/scheduling/`: `scheduler.go` ConfigureRunner (flag
checks, mode), `loader.go` setRunnerConfig / getAllRunnerConfigs / Unload, `http_handler.go`
Configure (202), GetModelConfigs, Unload, GetRunningBackends, `api.go` (request and entry shapes).
Configurations live in memory upstream (`loader.runnerConfigs`), so `server.start` forgets them,
as a restarted runner does. Idle eviction (5 minutes) is not played: at HEAD it keeps the
configuration anyway (`loader.go` evict never touches runnerConfigs).
"""

from __future__ import annotations

from typing import Any

from . import allowlist, goduration, releases
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
    keep_alive = body.get("keep_alive")
    if keep_alive is not None:
        try:
            keep_alive = goduration.keep_alive(keep_alive)
        except ValueError as exc:  # KeepAlive.UnmarshalJSON fails the whole decode
            raise Refused(400, "invalid request") from exc
    mode = body.get("mode") or ("embedding" if "--embeddings" in flags else "completion")
    model = body.get("model", "")
    record = {
        "model": model,
        "context_size": context_size,
        "runtime_flags": list(flags),
        "keep_alive": keep_alive,
        "backend": backend,
        "mode": mode,
        "model_id": model_id(state, model),
    }
    key = normalise(model)
    previous = state["configurations"].get(key)
    settings = ("context_size", "runtime_flags", "keep_alive", "backend", "mode")
    if previous is not None and all(previous.get(k) == record[k] for k in settings):
        return previous  # loader.go setRunnerConfig: "Runner configuration unchanged", nothing evicted
    # setRunnerConfig evicts an idle runner of that model so the new config applies; one serving a
    # request cannot be evicted: 409 `runner already active` (errRunnerAlreadyActive)
    keys = runner_keys(state, record["model_id"])
    if any(state["runners"][k].get("in_use") for k in keys):
        raise Refused(409, "runner already active")
    for k in keys:
        del state["runners"][k]
    state["configurations"][key] = record
    return record


def configuration(state: State, entry: Entry) -> Entry | None:
    """The stored configuration that applies to the model `entry` (by model ID)."""
    for record in state["configurations"].values():
        if record["model_id"] == entry["id"]:
            return record
    return None


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
        if record.get("keep_alive") is not None:
            config["keep_alive"] = record["keep_alive"]
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
    request's `backend` (so `docker model unload M` without --backend keeps them). A runner still
    loading is neither counted nor unloaded: it stays listed as loading (capture
    configure-vs-unload.txt, scenario D: `{"unloaded_runners":0}`, then ps shows it `loading`)."""
    if not isinstance(body, dict):
        raise Refused(400, "invalid request")

    def loaded(key: str) -> bool:
        return key in state["runners"] and not state["runners"][key].get("loading")

    if body.get("all"):
        state["configurations"].clear()
        gone = [key for key in state["runners"] if loaded(key)]
        for key in gone:
            del state["runners"][key]
        return len(gone)
    backend = body.get("backend") or ""
    count = 0
    for model in body.get("models") or []:
        mid = model_id(state, str(model))
        for key in [
            k for k, r in state["configurations"].items() if r["model_id"] == mid and r.get("backend") == backend
        ]:
            del state["configurations"][key]
        for key in runner_keys(state, mid):  # every mode's runner of the model (api-probe.txt: 2)
            runner = state["runners"][key]
            if loaded(key) and (not backend or runner["backend"] == backend):
                del state["runners"][key]
                count += 1
    return count


def runner_key(model: str, mode: str = "completion") -> str:
    """One runner per (model, mode) (`loader.go` runnerKey; the backend is one per model here)."""
    return model if mode == "completion" else f"{model}#{mode}"


def runner_keys(state: State, model: str) -> list[str]:
    return [k for k, r in state["runners"].items() if r.get("model_id", k) == model]


def loading(state: State, entry: Entry, requested: str, backend: str, mode: str = "completion") -> None:
    """A runner starts loading: `/engines/ps` lists it with `loading: true` and a zero `last_used`
    (capture configure-vs-unload.txt, scenarios D and F)."""
    state["runners"][runner_key(entry["id"], mode)] = {
        "backend": backend,
        "model_name": requested,
        "model_id": entry["id"],
        "mode": mode,
        "last_used": ZERO_TIME,
        "loading": True,
        "in_use": 0,
    }


def loaded(state: State, entry: Entry, mode: str = "completion") -> None:
    runner = state["runners"].get(runner_key(entry["id"], mode))
    if runner is not None:
        runner["loading"] = False
        runner["last_used"] = goduration.now()


def load(state: State, entry: Entry, requested: str, backend: str, mode: str = "completion") -> None:
    """Record a loaded runner (for `/engines/ps` and unload counts); keeps the name it was loaded by."""
    runner = state["runners"].get(runner_key(entry["id"], mode))
    if runner is None or runner.get("loading"):
        loading(state, entry, requested, backend, mode)
    loaded(state, entry, mode)


def use(state: State, entry: Entry, delta: int, mode: str = "completion") -> None:
    """A request starts (+1) or ends (-1) on the runner: `in_use` while serving, `last_used` after
    (scheduler.go getLoaderStatus: last_used is zero while in use)."""
    runner = state["runners"].get(runner_key(entry["id"], mode))
    if runner is None:
        return
    runner["in_use"] = max(0, int(runner.get("in_use", 0)) + delta)
    if delta < 0:
        runner["last_used"] = goduration.now()


ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time in JSON


def running(state: State) -> list[Entry]:
    """`GET /engines/ps`: BackendStatus list (`scheduling/api.go`: `in_use`, `loading` and
    `keep_alive` omitempty; `keep_alive` from the model's stored configuration)."""
    entries = []
    for key, r in state["runners"].items():
        model = r.get("model_id", key)
        busy = int(r.get("in_use", 0)) > 0
        status: Entry = {
            "backend_name": r["backend"],
            "model_name": r["model_name"],
            "mode": r["mode"],
            "last_used": ZERO_TIME if busy else r["last_used"],
        }
        if busy:
            status["in_use"] = True
        if r.get("loading"):
            status["loading"] = True
        config = next((c for c in state["configurations"].values() if c["model_id"] == model), None)
        if config is not None and config.get("keep_alive") is not None and not r.get("loading"):
            status["keep_alive"] = config["keep_alive"]
        entries.append(status)
    return entries
