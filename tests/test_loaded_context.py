"""The context llama.cpp loaded a model with, read from a real llama.cpp log
(tests/fixtures/llama/load-n_ctx-2048.log): what `configure show` cannot tell."""

from __future__ import annotations

from pathlib import Path

from ultra_env.facts.model_runner import parse_loaded_context

LOG = (Path(__file__).parent / "fixtures" / "llama" / "load-n_ctx-2048.log").read_text()


def test_the_loaded_context_of_a_real_log() -> None:
    assert parse_loaded_context(LOG) == 2048  # not n_ctx_train (32768) nor n_ctx_seq


def test_the_last_load_counts() -> None:
    reloaded = LOG + LOG.replace("n_ctx                 = 2048", "n_ctx                 = 8192")
    assert parse_loaded_context(reloaded) == 8192


def test_a_log_without_a_load() -> None:
    assert parse_loaded_context("") is None
    assert parse_loaded_context("\\n".join(line for line in LOG.splitlines() if "llama_context" not in line)) is None
