"""What a project like Ultra's backend writes with ultra-env's pytest plugin: its own adapter code
tested against a real local model, offline, with no key. This folder stands for such a project's
suite; tests/test_pytest_plugin.py runs it as a separate pytest, with and without a runner.

The model here is tiny (Gemma 3 270M in ultra-env's own tests): assert the shape of an answer, not
its wording.
"""

from __future__ import annotations

import httpx
import pytest


def ask_for_summary(client: httpx.Client, model: str, text: str) -> dict:
    """Stands for the project's code under test: one OpenAI-style request, the parts it keeps."""
    body = {
        "model": model,
        "messages": [{"role": "system", "content": "Summarise in one sentence."}, {"role": "user", "content": text}],
        "max_tokens": 24,
    }
    response = client.post("/chat/completions", json=body)
    response.raise_for_status()
    answer = response.json()
    return {
        "text": answer["choices"][0]["message"]["content"],
        "finish": answer["choices"][0]["finish_reason"],
        "tokens_in": answer["usage"]["prompt_tokens"],
        "tokens_out": answer["usage"]["completion_tokens"],
    }


def test_the_adapter_gets_text_and_token_counts(dmr_model) -> None:
    summary = ask_for_summary(dmr_model.client, dmr_model.name, "Ultra sends one prompt to several models.")
    assert summary["tokens_in"] > 0 and 0 < summary["tokens_out"] <= 24
    assert summary["finish"] in ("stop", "length") and isinstance(summary["text"], str)


def test_the_models_listing_names_the_model(dmr_model) -> None:
    listed = [m["id"] for m in dmr_model.client.get("/models").json()["data"]]
    assert any(dmr_model.name.split(":")[0] in entry for entry in listed), listed


@pytest.mark.dmr_model("ai/gemma3:270M-Q4_K_M")
def test_a_marker_picks_the_model(dmr_model) -> None:
    assert dmr_model.name == "ai/gemma3:270M-Q4_K_M"
    assert dmr_model.chat("Hi", max_tokens=4)["usage"]["completion_tokens"] > 0


def test_a_test_that_needs_no_model_runs_anyway() -> None:
    assert ask_for_summary.__doc__
