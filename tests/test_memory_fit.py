"""Whether a model fits its runner's memory, as data: the real runner's `GET /models` answer
(tests/fixtures/dmr/models-real.json, Gemma 3 270M: 18 layers, 1 KV head, key and value 256) and
the memory `docker info` reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from ultra_env.checks.memory import fit, kv_bytes_per_token, need, size_bytes
from ultra_env.engine.run import Status
from ultra_env.facts.model_runner import parse_list_json

(GEMMA,) = parse_list_json((Path(__file__).parent / "fixtures" / "dmr" / "models-real.json").read_text())
GIB = 1024**3


def test_the_estimate_from_the_real_metadata() -> None:
    assert size_bytes(GEMMA.size) == int(235.16 * 1024**2)
    assert kv_bytes_per_token(GEMMA.gguf) == 18 * 1 * (256 + 256) * 2
    packaged = need(GEMMA, None)
    assert packaged is not None and packaged.context == 32768  # no context_size: the packaged one loads
    assert packaged.kv == 18432 * 32768
    assert need(GEMMA, 2048).kv == 18432 * 2048  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("memory", "context", "status", "fix"),
    [
        (24 * GIB, None, Status.OK, None),
        (24 * GIB, 131072, Status.OK, None),
        (GIB * 9 // 10, None, Status.WARN, "context_size = 27648"),  # 0.79 of 0.9 GiB: little left for the rest
        (GIB // 2, None, Status.FAILED, "context_size = 9216"),
        (320 * 1024**2, 2048, Status.WARN, "context_size = 1024"),  # the weights alone nearly fill it
        (GIB // 8, 2048, Status.FAILED, "smaller model"),
    ],
)
def test_fit(memory: int, context: int | None, status: Status, fix: str | None) -> None:
    verdict = fit("ai/gemma3", GEMMA, context, memory)
    assert verdict.status is status, verdict.msg
    assert "GiB" in verdict.msg
    if fix:
        assert verdict.fix and fix in verdict.fix, verdict.fix


@pytest.mark.parametrize("text", ["", "12 parsecs", "MiB", None])
def test_sizes_that_do_not_read(text: str | None) -> None:
    assert size_bytes(text) is None
