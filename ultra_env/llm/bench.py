"""``invoke models.bench``: time to first token, decode speed and end-to-end latency of every
enabled model, at several concurrencies, with percentiles over N requests."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

from ultra_env import concurrently
from ultra_env.errors import ConfigError
from ultra_env.llm.ask import request_for
from ultra_env.llm.providers.base import ChatResponse, ProviderError
from ultra_env.llm.providers.registry import Target

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "the",
    "lazy",
    "dog",
    "while",
    "the",
    "sun",
    "sets",
    "behind",
    "distant",
    "hills",
]


LIMITS = {"requests": (1, 1000), "max-tokens": (1, 32768), "prompt-words": (0, 100_000), "concurrency": (1, 64)}


EXAMPLE = "example: --requests 8 --concurrency 1,2,4 --max-tokens 64"


def whole(flag: str, text: str, example: str = EXAMPLE) -> int:
    """A flag's value as a whole number within its limits, or a ConfigError saying which and why."""
    low, high = LIMITS[flag]
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ConfigError(f"--{flag} takes a whole number, not {str(text)[:20]!r}", example) from None
    if not low <= value <= high:
        raise ConfigError(f"--{flag} takes {low} to {high}, not {value if value < 10**12 else 'that'}", example)
    return value


def prompt_of(words: int) -> str:
    body = " ".join(WORDS[i % len(WORDS)] for i in range(words))
    return f"Continue this text: {body}"


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (``share`` in 0..1)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


@dataclass
class BenchRow:
    provider: str
    model: str
    concurrency: int
    requests: int
    errors: int
    ttft_p50_s: float | None
    ttft_p95_s: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    decode_tokens_per_s: float | None  # client side: median over requests
    server_tokens_per_s: float | None  # as the server reports it, where it does
    throughput_tokens_per_s: float | None  # all completion tokens over the wall time
    first_error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _one(target: Target, prompt: str, max_tokens: int, timeout: float) -> ChatResponse | ProviderError:
    try:
        return target.provider.chat(
            request_for(prompt, target.model, stream=True, timeout=timeout, max_tokens=max_tokens)
        )
    except ProviderError as exc:
        return exc


def bench_target(
    target: Target, *, prompt: str, max_tokens: int, requests: int, concurrency: int, timeout: float
) -> BenchRow:
    start = time.perf_counter()
    outcomes = concurrently.each(
        lambda _: _one(target, prompt, max_tokens, timeout), range(requests), at_once=concurrency
    )
    wall = time.perf_counter() - start
    ok = [o for o in outcomes if isinstance(o, ChatResponse)]
    errors = [o for o in outcomes if isinstance(o, ProviderError)]
    ttfts = [o.ttft_s for o in ok if o.ttft_s is not None]
    latencies = [o.latency_s for o in ok]
    speeds = [o.tokens_per_s for o in ok if o.tokens_per_s]
    server = [o.server_tokens_per_s for o in ok if o.server_tokens_per_s]
    tokens = sum(o.completion_tokens for o in ok)

    def rounded(value: float | None, digits: int = 3) -> float | None:
        return None if value is None else round(value, digits)

    return BenchRow(
        provider=target.provider.name,
        model=target.model,
        concurrency=concurrency,
        requests=requests,
        errors=len(errors),
        ttft_p50_s=rounded(percentile(ttfts, 0.5)),
        ttft_p95_s=rounded(percentile(ttfts, 0.95)),
        latency_p50_s=rounded(percentile(latencies, 0.5)),
        latency_p95_s=rounded(percentile(latencies, 0.95)),
        decode_tokens_per_s=rounded(statistics.median(speeds), 1) if speeds else None,
        server_tokens_per_s=rounded(statistics.median(server), 1) if server else None,
        throughput_tokens_per_s=rounded(tokens / wall, 1) if ok and wall > 0 else None,
        first_error=f"{errors[0].kind}: {errors[0].message}" if errors else None,
    )


def run(
    targets: list[Target],
    *,
    prompt_words: int,
    max_tokens: int,
    requests: int,
    concurrencies: list[int],
    timeout: float,
) -> list[BenchRow]:
    """Every target at every concurrency, one after another (so they do not disturb each other)."""
    prompt = prompt_of(prompt_words)
    for target in targets:  # warm-up: loads the model, so the first row measures serving, not loading
        _one(target, prompt, 1, timeout)
    return [
        bench_target(t, prompt=prompt, max_tokens=max_tokens, requests=requests, concurrency=c, timeout=timeout)
        for t in targets
        for c in concurrencies
    ]
