"""The shipped backend's cost (imported by benchmarks/run.py, which writes docs/performance.md):

- ``overhead``: ``POST /api/analyze`` for one local model, through the running stack's backend,
  against the same streamed completion sent straight to the Model Runner, interleaved, median of N;
- ``concurrency``: two model servers (two llama.cpp processes, one thread each on this 2-core
  machine) behind a backend process: one analysis of both against each alone.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from dmr_standin.llama import start_llama  # the test suite's: benchmarks/run.py puts tests/ on the path

PROMPT = "Say hello in five words."
MAX_TOKENS = 16


def _analyze(url: str, models: list[str]) -> float:
    start = time.perf_counter()
    answer = httpx.post(
        f"{url}/api/analyze", json={"prompt": PROMPT, "models": models, "max_tokens": MAX_TOKENS}, timeout=120
    )
    seconds = time.perf_counter() - start
    results = answer.json()["results"]
    if answer.status_code != 200 or any(r["error"] for r in results):
        raise SystemExit(f"analysis failed: {answer.text[:300]}")
    return seconds


def _direct(base: str, model: str) -> float:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    with httpx.Client(timeout=120) as client, client.stream("POST", f"{base}/chat/completions", json=body) as answer:
        for _ in answer.iter_lines():
            pass
    return time.perf_counter() - start


def overhead(backend: str, runner: str, model: str, runs: int = 25) -> dict[str, float]:
    """Medians of ``runs`` interleaved pairs (after one warm-up each)."""
    _analyze(backend, [f"local:{model}"])
    _direct(f"{runner}/engines/v1", model)
    through, straight = [], []
    for _ in range(runs):
        through.append(_analyze(backend, [f"local:{model}"]))
        straight.append(_direct(f"{runner}/engines/v1", model))
    a, d = statistics.median(through), statistics.median(straight)
    return {"analyze_s": a, "direct_s": d, "overhead_s": a - d, "overhead_pct": 100 * (a - d) / d, "runs": runs}


def _wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def concurrency(gguf: Path, repo: Path, ports: tuple[int, int, int], runs: int = 5) -> dict[str, float]:
    """One analysis of two models against each alone, the models on servers of their own."""
    work = Path(tempfile.mkdtemp(prefix="ultra-bench-two-"))
    one, two, backend_port = ports
    servers = [
        start_llama(gguf, port, alias=alias, log=work / f"{alias[3:6]}.log", threads=1)
        for port, alias in ((one, "ai/one:1"), (two, "ai/two:1"))
    ]
    env = {
        **os.environ,
        "ULTRA_PROFILE": "local",
        "USE_MODEL_RUNNER": "true",
        "LOCAL_MODELS": "LLM,LLM2",
        "LLM_URL": f"http://127.0.0.1:{one}/v1",
        "LLM_MODEL": "ai/one:1",
        "LLM2_URL": f"http://127.0.0.1:{two}/v1",
        "LLM2_MODEL": "ai/two:1",
        "PORT": str(backend_port),
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "warning",
        "PYTHONPATH": str(repo),
    }
    backend = subprocess.Popen(
        [sys.executable, "-m", "ultra_env.backend"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{backend_port}"
    try:
        _wait(f"{url}/api/available-models")
        for models in (["local:ai/one:1"], ["local:ai/two:1"]):
            _analyze(url, models)
        alone = [
            statistics.median(_analyze(url, [m]) for _ in range(runs)) for m in ("local:ai/one:1", "local:ai/two:1")
        ]
        both = statistics.median(_analyze(url, ["local:ai/one:1", "local:ai/two:1"]) for _ in range(runs))
    finally:
        backend.terminate()
        backend.wait(30)
        for server in servers:
            server.stop()
    return {"one_s": alone[0], "two_s": alone[1], "both_s": both, "runs": runs}
