"""Pure parts of the benchmark: percentiles, prompts, and the server's own speed in responses."""

import pytest

from ultra_env.llm.bench import percentile, prompt_of
from ultra_env.llm.providers.base import ChatResponse, Usage
from ultra_env.llm.providers.openai_compat import server_speed


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [
        ([], 0.5, None),
        ([3.0], 0.95, 3.0),
        ([1, 2, 3, 4], 0.5, 2),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95, 10),
        ([5, 1, 4, 2, 3], 0.5, 3),
    ],
)
def test_percentile_nearest_rank(values, share, expected) -> None:
    assert percentile(values, share) == expected


def test_prompt_length_in_words() -> None:
    assert len(prompt_of(20).split(": ", 1)[1].split()) == 20


def test_server_speed_from_llama_cpp_timings() -> None:
    assert server_speed({"timings": {"predicted_per_second": 41.5, "prompt_per_second": 300.0}}) == 41.5
    assert server_speed({"usage": {}}) is None


def test_decode_speed_excludes_the_first_token() -> None:
    streamed = ChatResponse("p", "m", "x" * 11, "length", Usage(5, 11), latency_s=1.2, ttft_s=0.2, chunks=11)
    assert streamed.tokens_per_s == pytest.approx(10.0)
    plain = ChatResponse("p", "m", "x", "stop", Usage(5, 10), latency_s=2.0)
    assert plain.tokens_per_s == pytest.approx(5.0)
