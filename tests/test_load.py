"""Concurrent use against the local model: completions in parallel, `invoke health` in parallel,
and a pull killed half-way. Throughput and p95 are printed (`pytest -s`), not asserted."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import GEMMA, REPO, Project, StandIn

from ultra_env.llm.providers.base import ChatRequest
from ultra_env.llm.providers.openai_compat import OpenAICompatible
from ultra_env.operations import dmr as dmr_client

pytestmark = pytest.mark.llm
PARALLEL = 8


def open_sockets() -> set[str]:
    """This process's sockets (`socket:[inode]`), the stand-in's server side included."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the fd listing itself, closed in between
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


def test_eight_parallel_completions(dmr: StandIn) -> None:
    dmr_client.Api(dmr.url).pull(GEMMA, lambda progress: None)
    provider = OpenAICompatible("local", f"{dmr.url}/engines/v1")
    provider.chat(ChatRequest([{"role": "user", "content": "warm up"}], GEMMA, max_tokens=2))
    before = open_sockets()
    start = time.perf_counter()
    with ThreadPoolExecutor(PARALLEL) as pool:
        responses = list(
            pool.map(
                lambda i: provider.chat(
                    ChatRequest(
                        [{"role": "user", "content": f"Question {i}: name a fruit."}],
                        GEMMA,
                        max_tokens=16,
                        stream=i % 2 == 0,
                        timeout=120,
                    )
                ),
                range(PARALLEL),
            )
        )
    wall = time.perf_counter() - start
    assert len(responses) == PARALLEL and all(r.completion_tokens > 0 for r in responses)
    latencies = sorted(r.latency_s for r in responses)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    tokens = sum(r.completion_tokens for r in responses)
    print(
        f"\n{PARALLEL} parallel completions: {wall:.2f}s wall, {PARALLEL / wall:.2f} req/s, "
        f"{tokens / wall:.1f} tokens/s, p50 {statistics.median(latencies):.2f}s, p95 {p95:.2f}s"
    )
    deadline = time.monotonic() + 30  # the stand-in's handler threads close their ends as they finish
    while open_sockets() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_sockets() - before == set()  # every connection the eight opened was closed


@pytest.mark.shared_stack
@pytest.mark.docker
def test_health_in_parallel(stack: Project, dmr: StandIn) -> None:
    assert stack.invoke("setup", "--local-llm", timeout=900, **dmr.env).returncode == 0
    start = time.perf_counter()
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "invoke", "-r", str(REPO), "health", "--json"],
            env={**stack.env, **dmr.env},
            cwd=stack.root,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    codes = [run.wait(timeout=300) for run in runs]
    print(f"\n4 parallel `invoke health`: {time.perf_counter() - start:.2f}s")
    assert codes == [0, 0, 0, 0]


@pytest.mark.compose
def test_a_pull_killed_half_way_is_finished_by_the_next_run(project: Project, dmr: StandIn) -> None:
    dmr.update(pull_chunk_delay=0.05)
    env = {**project.env, **dmr.env}
    pull = subprocess.Popen(
        [sys.executable, "-m", "invoke", "-r", str(REPO), "models.pull"],
        env=env,
        cwd=project.root,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    line = ""
    while not line.startswith("  pulling "):  # wait until it is under way
        line = pull.stdout.readline()
        assert line, "models.pull ended before it started pulling"
    os.killpg(pull.pid, signal.SIGKILL)
    pull.wait()
    dmr.update(pull_chunk_delay=0.0)
    again = project.invoke("models.pull", "--json", **dmr.env)
    assert again.returncode == 0, again.stdout
    status = again.json()["tasks"][-1]["status"]
    assert status in ("changed", "ok")  # restarted (changed) or finished by the runner meanwhile (ok)
    listed = project.invoke("models.list", "--json", **dmr.env).json()
    assert [m["name"] for m in listed] == ["ai/gemma3:270M-Q4_K_M"]
