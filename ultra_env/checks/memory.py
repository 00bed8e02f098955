"""Whether a model fits the memory its runner has: its weights plus the KV cache of the context it
will load with, from the GGUF metadata Model Runner reports (``GET /models/{name}`` ``config.gguf``,
capture after-pull-listings.txt). Pure.

The context a model loads with is the configured ``context_size``, else the one it was packaged
with (``config.context_size``): DMR passes a packaged size to llama.cpp (reference section 9), which
is how a packaged 128K context took a 24 GB Mac down (docker/model-runner #1025)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ultra_env.config.settings import Settings
from ultra_env.engine.run import Status, TaskResult
from ultra_env.facts.gather import Facts
from ultra_env.facts.model_runner import LocalModel

AREA = "Model Runner"

KV_BYTES = 2  # llama.cpp's default KV cache type, f16
WARN_SHARE = 0.8  # above this share of memory, the machine has little left for anything else
_SIZE = re.compile(r"^\s*([\d.]+)\s*([KMGT]i?B|B)\s*$")
_UNITS = {"B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
_UNITS.update({"KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4})


@dataclass(frozen=True)
class Need:
    weights: int  # bytes
    kv_per_token: int | None  # bytes; None when the metadata does not say
    context: int | None  # tokens it will load with

    @property
    def kv(self) -> int:
        return (self.kv_per_token or 0) * (self.context or 0)

    @property
    def total(self) -> int:
        return self.weights + self.kv

    def fitting_context(self, memory: int, share: float = WARN_SHARE) -> int | None:
        """The largest context (a multiple of 1024) that keeps the total under ``share`` of ``memory``."""
        if not self.kv_per_token:
            return None
        room = int(memory * share) - self.weights
        tokens = (room // self.kv_per_token) // 1024 * 1024
        return tokens if tokens >= 1024 else None


def size_bytes(text: str | None) -> int | None:
    """``235.16MiB``, ``1.2GB`` (the runner's ``config.size``) in bytes."""
    match = _SIZE.match(text or "")
    if not match or match.group(2) not in _UNITS:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def kv_bytes_per_token(gguf: dict[str, str]) -> int | None:
    """K and V for every layer and KV head: ``block_count × head_count_kv × (key_length +
    value_length) × 2 bytes``; key and value lengths default to ``embedding_length / head_count``."""
    arch = gguf.get("general.architecture")
    if not arch:
        return None

    def number(key: str) -> int | None:
        try:
            return int(float(gguf[f"{arch}.{key}"]))
        except (KeyError, ValueError):
            return None

    layers, heads = number("block_count"), number("attention.head_count")
    kv_heads = number("attention.head_count_kv") or heads
    embedding = number("embedding_length")
    default = embedding // heads if embedding and heads else None
    key, value = number("attention.key_length") or default, number("attention.value_length") or default
    if not (layers and kv_heads and key and value):
        return None
    return layers * kv_heads * (key + value) * KV_BYTES


def need(model: LocalModel, context_size: int | None) -> Need | None:
    weights = size_bytes(model.size)
    if weights is None:
        return None
    return Need(weights, kv_bytes_per_token(model.gguf), context_size or model.context_size)


def fit(name: str, model: LocalModel, context_size: int | None, memory: int) -> TaskResult:
    """The verdict for one model on a runner with ``memory`` bytes."""
    task = f"memory {name}"
    found = need(model, context_size)
    if found is None:
        return TaskResult(task, Status.SKIPPED, "the runner reports no size for it", area=AREA)
    gib = 1024**3
    kv = (
        f" + KV cache {found.kv / gib:.1f} GiB for {found.context} tokens"
        if found.kv_per_token and found.context
        else " (no KV cache estimate: the GGUF metadata does not say)"
    )
    said = (
        f"needs about {found.total / gib:.1f} GiB (weights {found.weights / gib:.1f} GiB{kv}); "
        f"the runner has {memory / gib:.1f} GiB"
    )
    if found.total <= memory * WARN_SHARE:
        return TaskResult(task, Status.OK, said, area=AREA)
    smaller = found.fitting_context(memory)
    fix = (
        f"set context_size = {smaller} (or less) for {name} under [[models]] in ultra-env.toml"
        if smaller and found.context and smaller < found.context
        else f"choose a smaller model or quantisation than {name}"
    ) + "; a smaller quantisation also needs less"
    status = Status.FAILED if found.total > memory else Status.WARN
    return TaskResult(task, status, said, fix, area=AREA)


def memory_checks(facts: Facts, settings: Settings) -> Iterator[TaskResult]:
    memory = facts.info.mem_total if facts.info else None
    if not settings.features.local_llm or not memory:
        return
    for spec in settings.models:
        probe = facts.model_found.get(spec.name)
        model = probe.value if probe is not None and probe.ok else None
        if model is not None:
            yield fit(spec.name, model, spec.context_size, memory)
