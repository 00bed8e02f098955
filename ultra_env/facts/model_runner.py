"""Docker Model Runner facts: parsers for the ``docker model`` CLI's outputs, old and new formats
(reference: docker-model-runner.md, sections 2 and 3)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from urllib.parse import quote, urlsplit

from ultra_env import http, proc
from ultra_env.config import modelnames
from ultra_env.facts.docker import DOCKER
from ultra_env.facts.probe import Probe, probe

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MISSING = (
    re.compile(r"unknown command:? (?:\"?docker model\"?|model)"),
    re.compile(r"'model' is not a docker command"),
)


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def plugin_missing(output: str) -> bool:
    """Whether the docker CLI said it has no ``model`` command (either CLI generation's wording)."""
    text = strip_ansi(output)
    return any(pattern.search(text) for pattern in _MISSING)


@dataclass(frozen=True)
class RunnerStatus:
    running: bool
    backends: dict[str, str] = field(default_factory=dict)
    kind: str | None = None  # Docker Desktop | Docker Engine | Docker Engine (Manual Install) | Docker Cloud
    endpoint: str | None = None  # as seen from containers
    endpoint_host: str | None = None  # as seen from the host (on Desktop: through the socket, not TCP)
    source: str = "json"  # json | text | api: what told (text and api when `status --json` was broken)
    json_error: str | None = None  # the first line `status --json` printed instead of JSON

    def backend_problems(self) -> dict[str, str]:
        """Backends whose status reads as an error (``Error: …``)."""
        return {name: status for name, status in self.backends.items() if status.lower().startswith("error")}


def parse_status_json(stdout: str) -> RunnerStatus:
    """``docker model status --json``: one JSON object; old CLIs lack ``kind`` and ``endpointHost``."""
    data = json.loads(strip_ansi(stdout).strip().splitlines()[-1] if stdout.strip() else "")
    if not isinstance(data, dict) or "running" not in data:
        raise ValueError("no 'running' field")
    backends = data.get("backends") or {}
    return RunnerStatus(
        running=bool(data["running"]),
        backends={str(k): str(v) for k, v in backends.items()},
        kind=data.get("kind"),
        endpoint=data.get("endpoint"),
        endpoint_host=data.get("endpointHost"),
    )


def broken_json(output: str) -> str:
    """What ``status --json`` printed instead of its JSON, in one line: a Go panic's first line
    (plugins from model-cli v0.1.31 to cmd/cli v1.0.4 panic on Docker Engine when
    MODEL_RUNNER_NO_AUTO_INSTALL is set, reference section 3), or that it printed nothing."""
    lines = [line.strip() for line in strip_ansi(output).splitlines() if line.strip()]
    panic = next((line for line in lines if line.startswith("panic:")), None)
    return panic or (lines[0][:200] if lines else "no output")


def parse_status_text(output: str, returncode: int) -> RunnerStatus:
    """``docker model status`` (text): the new backend table or the old ``Status:`` block."""
    text = strip_ansi(output)
    running = returncode == 0 and "Docker Model Runner is running" in text
    backends: dict[str, str] = {}
    lines = [line.rstrip() for line in text.splitlines()]
    header = next((i for i, line in enumerate(lines) if re.match(r"^BACKEND\s+STATUS", line)), None)
    if header is not None:
        for line in lines[header + 1 :]:
            cells = re.split(r"\s{2,}", line.strip())
            if len(cells) >= 2 and cells[0]:
                backends[cells[0]] = " ".join(cells[1:])
    else:
        for line in lines:
            match = re.match(r"^\s*([\w.\-]+):\s+(.+)$", line)
            if match and match.group(1) not in ("Status", "What's next"):
                backends[match.group(1)] = match.group(2).strip()
    return RunnerStatus(running=running, backends=backends, source="text")


@dataclass(frozen=True)
class PluginVersion:
    client: str | None
    server: str | None  # None when the server is not reachable
    engine_kind: str | None


def parse_version(output: str) -> PluginVersion:
    """``docker model version``: new ``Client:``/``Server:`` blocks, or the old one-liner."""
    text = strip_ansi(output)
    old = re.search(r"Docker Model Runner version (v?[\w.\-+]+)", text)
    if old:
        kind = re.search(r"Docker Engine Kind:\s*(.+)", text)
        return PluginVersion(old.group(1), None, kind.group(1).strip() if kind else None)
    client = re.search(r"Client:\s*\n\s*Version:\s*(\S+)", text)
    if client is None:
        raise ValueError("no client version")
    server_block = text.split("Server:", 1)[1] if "Server:" in text else ""
    server_version = None
    if "not reachable" not in server_block:
        match = re.search(r"Version:\s*(\S+)", server_block)
        server_version = match.group(1) if match else None
    engine = re.search(r"Engine:\s*(.+)", server_block)
    return PluginVersion(client.group(1), server_version, engine.group(1).strip() if engine else None)


@dataclass(frozen=True)
class LocalModel:
    id: str
    tags: tuple[str, ...]
    created: int | None
    size: str | None
    parameters: str | None
    quantization: str | None
    architecture: str | None
    context_size: int | None
    gguf: dict[str, str] = field(default_factory=dict)  # the GGUF metadata the runner reports

    def has(self, name: str) -> bool:
        wanted = modelnames.normalize(name)
        return any(_normalized(tag) == wanted for tag in self.tags)


def _normalized(tag: str) -> str | None:
    try:
        return modelnames.normalize(tag)
    except modelnames.InvalidModelName:
        return None


def parse_model(item: dict) -> LocalModel:
    """One model as ``GET /models/{name}``, ``docker model inspect`` and each entry of a listing give it."""
    if not isinstance(item, dict):
        raise ValueError("not a JSON object")
    config = item.get("config") or {}
    return LocalModel(
        id=str(item.get("id", "")),
        tags=tuple(item.get("tags") or ()),
        created=item.get("created"),
        size=config.get("size"),
        parameters=config.get("parameters"),
        quantization=config.get("quantization"),
        architecture=config.get("architecture"),
        context_size=config.get("context_size"),
        gguf={str(k): str(v) for k, v in (config.get("gguf") or {}).items()},
    )


def parse_list_json(stdout: str) -> list[LocalModel]:
    """``docker model list --json`` (and ``GET /models``): an array of models with their tags."""
    data = json.loads(stdout or "[]")
    if data is None:  # `list --json` prints null when a filter matched nothing
        return []
    if not isinstance(data, list):
        raise ValueError("not a JSON array")
    return [parse_model(item) for item in data]


def find_model(api: Probe[str], name: str, timeout: float) -> Probe[LocalModel]:
    """Whether the runner has ``name``, as the runner itself resolves it: ``GET /models/{name}``
    (200 or 404) when the host reaches the API, else ``docker model inspect``. Asked, never
    re-derived from the tags: with a default registry set, ``ai/x`` is stored as ``REGISTRY/ai/x``
    (capture default-registry-bare-names.txt). ``value``: the model, or None when it is absent."""
    try:
        reference = modelnames.normalize(name)
    except modelnames.InvalidModelName as exc:
        return Probe(error=str(exc))
    if api.ok and api.value:
        try:
            response = http.get(f"{api.value}/models/{quote(reference, safe='/:@')}", timeout=timeout)
        except http.HttpError as exc:
            return Probe(error=str(exc))
        if response.status_code == 404:
            return Probe(value=None)
        if response.status_code != 200:
            return Probe(error=f"GET /models/{reference} answered {response.status_code}")
        try:
            return Probe(value=parse_model(json.loads(response.text)))
        except (ValueError, TypeError, AttributeError) as exc:
            return Probe(error=f"GET /models/{reference}: unexpected answer ({exc})")
    return inspect_model(reference, timeout)


def inspect_model(reference: str, timeout: float) -> Probe[LocalModel]:
    """``docker model inspect NAME``: the model, or None when the runner says it has no such model."""
    try:
        done = proc.run([DOCKER, "model", "inspect", reference], timeout=timeout, env=NO_AUTO_INSTALL)
    except proc.ProcError as exc:
        return Probe(error=str(exc), missing=isinstance(exc, proc.CommandNotFound))
    if not done.ok:
        if "not found" in done.output.lower():  # assumed: the CLI passes on the API's 404 "model not found"
            return Probe(value=None, output=done.output)
        return Probe(error=(done.output.strip().splitlines() or [f"exit {done.returncode}"])[-1], output=done.output)
    try:
        return Probe(value=parse_model(json.loads(done.stdout)), output=done.output)
    except (ValueError, TypeError, AttributeError) as exc:
        return Probe(error=f"docker model inspect: unexpected output ({exc})", output=done.output)


@dataclass(frozen=True)
class AppliedConfig:
    """What the runner applies to a model (``GET /engines/_configure``, ``docker model configure show``)."""

    model: str
    model_id: str
    context_size: int | None
    runtime_flags: tuple[str, ...]
    keep_alive: str | None = None


def parse_configs(text: str) -> list[AppliedConfig]:
    """``[{"Backend","Model","ModelID","Mode","Config":{"context-size","runtime-flags"}}]`` (capitalised:
    ModelConfigEntry has no json tags; server >= v1.0.10, docker/model-runner scheduling/http_handler.go)."""
    data = json.loads(text or "[]") or []
    if not isinstance(data, list):
        raise ValueError("not a JSON array")
    found = []
    for item in data:
        config = item.get("Config") or {}
        size = config.get("context-size")
        found.append(
            AppliedConfig(
                str(item.get("Model", "")),
                str(item.get("ModelID", "")),
                int(size) if size else None,
                tuple(config.get("runtime-flags") or ()),
                str(config["keep_alive"]) if config.get("keep_alive") is not None else None,
            )
        )
    return found


NO_AUTO_INSTALL = {"MODEL_RUNNER_NO_AUTO_INSTALL": "1"}


def model_status(timeout: float, api: str | None = None) -> Probe[RunnerStatus]:
    """``docker model status --json``; when it prints no JSON (a CLI too old for ``--json``, or
    one that panics on it), plain ``status``, and when that says nothing either, ``GET {api}/models``
    (the CLI's own liveness check). ``value.source`` says which one told."""
    found = probe([DOCKER, "model", "status", "--json"], parse_status_json, timeout=timeout, env=NO_AUTO_INSTALL)
    if found.ok or found.missing or plugin_missing(found.output):
        return found
    if found.error and found.error.startswith("Failed to get Docker Model Runner status"):
        return found  # a real answer: the runner cannot be reached (exit 1)
    broken = broken_json(found.output)
    try:
        done = proc.run([DOCKER, "model", "status"], timeout=timeout, env=NO_AUTO_INSTALL)
    except proc.ProcError as exc:
        return Probe(error=str(exc), output=found.output)
    text = parse_status_text(done.output, done.returncode)
    if text.running or "not running" in done.output or api is None:
        return Probe(value=replace(text, json_error=broken), output=found.output)
    answer = host_api(api, min(timeout, 5.0))
    if answer.ok:
        return Probe(value=RunnerStatus(running=True, source="api", json_error=broken), output=found.output)
    return Probe(error=f"docker model status --json: {broken}", output=found.output)


def compose_status(timeout: float) -> Probe[str]:
    """``docker model status --json`` as Compose runs it on every ``up`` of a file with ``models:``
    (docker/compose ``pkg/compose/model.go``, reference section 6): without
    MODEL_RUNNER_NO_AUTO_INSTALL, stdout and stderr together parsed as one JSON object, a non-zero
    exit an error ("error checking docker-model status"). ``value``: the endpoint Compose injects."""
    try:
        done = proc.run([DOCKER, "model", "status", "--json"], timeout=timeout)
    except proc.ProcError as exc:
        return Probe(error=str(exc), missing=isinstance(exc, proc.CommandNotFound))
    first = broken_json(done.output)
    if not done.ok:
        return Probe(error=f"exit status {done.returncode}: {first}", output=done.output)
    try:
        data = json.loads(done.output)
    except ValueError:
        return Probe(error=f"not one JSON object: {first}", output=done.output)
    if not isinstance(data, dict):
        return Probe(error=f"not one JSON object: {first}", output=done.output)
    return Probe(value=str(data.get("endpoint") or ""), output=done.output)


def model_version(timeout: float) -> Probe[PluginVersion]:
    return probe(
        [DOCKER, "model", "version"],
        parse_version,
        timeout=timeout,
        env=NO_AUTO_INSTALL,
        accept=lambda done: "Version" in done.stdout,
    )


def model_list(timeout: float) -> Probe[list[LocalModel]]:
    return probe([DOCKER, "model", "list", "--json"], parse_list_json, timeout=timeout, env=NO_AUTO_INSTALL)


def api_root(status: Probe[RunnerStatus], default: str) -> str:
    """The DMR API root that should answer from the host: ``endpointHost`` when it is plain TCP."""
    found = status.value
    if found and found.endpoint_host:
        parts = urlsplit(found.endpoint_host)
        # On Desktop, endpointHost is http://localhost/exp/vDD4.40/... : socket-only, not TCP.
        if parts.scheme in ("http", "https") and parts.port and "/exp/" not in parts.path:
            return f"{parts.scheme}://{parts.netloc}"
    return default.rstrip("/")


def host_api(root: str, timeout: float) -> Probe[str]:
    """``GET {root}/models`` == 200 is the CLI's own liveness check; its body is ``list --json``'s
    array, kept in ``output`` so that the model list needs no second call."""
    try:
        response = http.get(f"{root}/models", timeout=timeout)
    except http.HttpError as exc:
        return Probe(error=str(exc), value=root)
    if response.status_code != 200:
        return Probe(error=f"GET {root}/models answered {response.status_code}", value=root)
    return Probe(value=root, output=response.text)


def models_via(api: Probe[str], timeout: float) -> Probe[list[LocalModel]]:
    """The local models: from the API's answer when the host reaches it, else ``docker model list``."""
    if api.ok:
        try:
            return Probe(value=parse_list_json(api.output), output=api.output)
        except (ValueError, AttributeError, TypeError):
            pass
    return model_list(timeout)


_LOADED_CONTEXT = re.compile(r"(?:llama_context: n_ctx|n_ctx_slot)\s*=\s*(\d+)")


def parse_loaded_context(log: str) -> int | None:
    """The context llama.cpp last loaded a model with, from the runner's ``GET /logs`` (engine lines
    ``llama_context: n_ctx = N``, or the server's ``n_ctx_slot = N``): what ``configure show``
    cannot tell (reference section 9, docker/model-runner #1025)."""
    found = _LOADED_CONTEXT.findall(log)
    return int(found[-1]) if found else None
