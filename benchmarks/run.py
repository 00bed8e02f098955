"""Benchmarks (not tests): run by hand after `bash tests/support/prepare.sh`.
Writes the table to docs/performance.md. Needs the real engine, the test images and the model.

    python benchmarks/run.py [--runs 5] [--out docs/performance.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from dmr_standin import plugin, server, state  # noqa: E402  (the test suite's DMR stand-in)

sys.path.insert(0, str(REPO / "benchmarks"))
import backend as backend_bench  # noqa: E402

GEMMA = "ai/gemma3:270M-Q4_K_M"
MAX = 16  # tokens an analysis asks for in the backend's benchmark (benchmarks/backend.py)
WHEELHOUSE = Path(os.environ.get("ULTRA_ENV_CACHE") or Path.home() / ".cache" / "ultra-env") / "wheelhouse"
IMAGES = {  # as in the tests: the shipped backend built from the test Python image and the wheelhouse
    "ULTRA_ENV_IMAGES__PYTHON": "ultra-test/python:3",
    "ULTRA_ENV_BACKEND__WHEELHOUSE": str(WHEELHOUSE),
    "ULTRA_ENV_IMAGES__POSTGRES": "ultra-test/postgres:15",
    "ULTRA_ENV_IMAGES__REDIS": "ultra-test/redis:7",
    "ULTRA_ENV_PULL_POLICY": "never",
}


def timed(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-500:]}")
    return seconds


def median(fn: Callable[[], float], runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))


def invoke(*args: str) -> list[str]:
    return [sys.executable, "-m", "invoke", "-r", str(REPO), *args]


class Bench:
    def __init__(self, runs: int, work: Path) -> None:
        self.runs = runs
        self.work = work
        self.rows: list[tuple[str, str, str]] = []
        self.base = {k: v for k, v in os.environ.items() if not k.startswith(("ULTRA_ENV_", "COMPOSE_"))}

    def row(self, what: str, value: str, note: str = "") -> None:
        self.rows.append((what, value, note))
        print(f"{what}: {value} {note}", flush=True)

    def project(self, name: str, **env: str) -> tuple[Path, dict[str, str]]:
        root = self.work / name
        root.mkdir()
        return root, {
            **self.base,
            "ULTRA_ENV_PROJECT_DIR": str(root),
            "ULTRA_ENV_PROJECT_NAME": f"bench-{name}",
            "ULTRA_ENV_PORTS__BACKEND": str(18700 + len(self.rows)),
            **IMAGES,
            **env,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "performance.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ultra-bench-"))
    b = Bench(args.runs, work)
    runs = args.runs

    # The DMR stand-in, as in the tests: plugin + API served by the real llama.cpp and model.
    home = state.init_home(work / "dmr-home")
    gguf = state.assemble_gemma(work / "gemma.gguf")
    state.add_to_registry(home, state.gemma_entry(gguf))
    api = server.start(home, 0, host="0.0.0.0")
    config = work / "docker-config" / "cli-plugins"
    config.mkdir(parents=True)
    (config / "docker-compose").symlink_to(shutil.which("docker-compose"))
    plugin.install(config, home)
    local_env = {
        "DOCKER_CONFIG": str(config.parent),
        "ULTRA_ENV_MODEL_RUNNER__HOST_URL": api.url,
        "ULTRA_ENV_MODELS": json.dumps([{"name": GEMMA, "context_size": 2048, "size_mb": 254}]),
    }
    stacks: list[tuple[str, dict[str, str]]] = []
    try:
        # 1. Start-up.
        python = median(lambda: timed([sys.executable, "-c", "pass"], b.base), runs * 2)
        listing = median(lambda: timed(invoke("--list"), b.base), runs * 2)
        b.row("`python -c pass`", f"{python:.3f} s")
        b.row("`invoke --list`", f"{listing:.3f} s", f"ratio {listing / python:.1f}× python")

        # 2. doctor vs its raw commands, one after another.
        root, env = b.project("doctor", **local_env)
        # What doctor runs for the local profile (the model list comes from the API's answer).
        raw = [
            ["docker", "version", "--format", "{{json .}}"],
            ["docker", "info", "--format", "{{json .}}"],
            ["docker", "context", "inspect", "--format", "{{json .Endpoints.docker.Host}}"],
            ["docker", "model", "status", "--json"],
            ["docker", "model", "version"],
            ["curl", "-fsS", "-o", "/dev/null", f"{api.url}/models"],
        ]
        raw_env = {**env, "MODEL_RUNNER_NO_AUTO_INSTALL": "1"}
        doctor = median(lambda: timed(invoke("doctor", "--json"), env), runs)
        sequential = median(lambda: sum(timed(argv, raw_env) for argv in raw), runs)
        b.row("`invoke doctor --json` (local profile, DMR stand-in)", f"{doctor:.3f} s")
        b.row(f"its {len(raw)} probes run one after another", f"{sequential:.3f} s", f"ratio {doctor / sequential:.2f}")

        # 3. render, cold (empty folder) and warm (nothing to change), per profile.
        for profile in ("local", "cloud", "hybrid", "mock"):

            def cold() -> float:
                folder = Path(tempfile.mkdtemp(dir=work))
                return timed(invoke("render", "--profile", profile), {**env, "ULTRA_ENV_PROJECT_DIR": str(folder)})

            cold_s = median(cold, runs)
            folder = Path(tempfile.mkdtemp(dir=work))
            warm_env = {**env, "ULTRA_ENV_PROJECT_DIR": str(folder)}
            timed(invoke("render", "--profile", profile), warm_env)
            warm_s = median(lambda: timed(invoke("render", "--profile", profile), warm_env), runs)
            b.row(f"`invoke render --profile {profile}`", f"cold {cold_s:.3f} s / warm {warm_s:.3f} s")

        # 4. setup's second run vs `docker compose up -d --wait` alone, on the same stack; the first run
        #    builds the shipped backend's image (removed first, so that it is really built).
        for label, flags, extra in (("mock", ["--profile", "mock"], {}), ("local", ["--local-llm"], local_env)):
            root, env = b.project(f"setup-{label}", **extra)
            stacks.append((root.name, env))
            subprocess.run(invoke("render", *flags), env=env, capture_output=True, timeout=300)
            image = json.loads((root / ".ultra-env" / "state.json").read_text())["backend_image"]
            subprocess.run(["docker", "image", "rm", "-f", image], capture_output=True, timeout=120)
            first = timed(invoke("setup", *flags), env)
            second = median(lambda: timed(invoke("setup", *flags), env), runs)
            compose = median(lambda: timed(["docker", "compose", "up", "-d", "--wait"], env, cwd=root), runs)
            b.row(f"`invoke setup {' '.join(flags)}` first run", f"{first:.2f} s", "the backend's image built too")
            b.row(
                f"`invoke setup {' '.join(flags)}` second run",
                f"{second:.2f} s",
                f"ratio {second / compose:.2f} to `docker compose up -d --wait` ({compose:.2f} s)",
            )

        # 5. The shipped backend: its overhead over the runner, and two models at once.
        root, env = stacks[-1][0], stacks[-1][1]
        port = env["ULTRA_ENV_PORTS__BACKEND"]
        cost = backend_bench.overhead(f"http://127.0.0.1:{port}", api.url, GEMMA)
        allowed = max(0.05 * cost["direct_s"], 0.010)
        b.row(
            f"`POST /api/analyze`, one local model, {MAX} tokens (through the stack's backend)",
            f"{cost['analyze_s']:.3f} s",
            f"median of {cost['runs']}",
        )
        b.row(
            "the same streamed completion straight at the Model Runner",
            f"{cost['direct_s']:.3f} s",
            f"overhead {cost['overhead_s'] * 1000:.1f} ms ({cost['overhead_pct']:.1f} %); allowed "
            f"{allowed * 1000:.1f} ms: {'met' if cost['overhead_s'] <= allowed else 'NOT met'}",
        )
        two = backend_bench.concurrency(gguf, REPO, (18791, 18792, 18793))
        b.row(
            "one analysis of two models on two servers (one thread each)",
            f"{two['both_s']:.3f} s",
            f"each alone {two['one_s']:.3f} s / {two['two_s']:.3f} s; sum {two['one_s'] + two['two_s']:.3f} s; "
            f"median of {two['runs']}",
        )

        # 6. The model, as `invoke models.bench` sees it.
        done = subprocess.run(
            invoke("models.bench", "--requests", "8", "--max-tokens", "64", "--json"),
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        bench_rows = json.loads(done.stdout)["results"]
        log = (home / "llama.log").read_text(errors="replace") if (home / "llama.log").exists() else ""
        server_rates = [
            float(line.split("(")[1].split("ms per token,")[1].split("tokens per second")[0])
            for line in log.splitlines()
            if "eval time" in line and "prompt eval" not in line and "tokens per second" in line
        ]
    finally:
        for name, env in stacks:
            subprocess.run(["docker", "compose", "-p", f"bench-{name}", "down", "-v"], env=env, capture_output=True)
        api.stop()

    write(args.out, b.rows, bench_rows, server_rates, runs)
    shutil.rmtree(work, ignore_errors=True)


KEPT = "## Before and after"  # written by hand, below the measured tables: kept by every run

READING = """
## Reading the numbers

- `invoke doctor` runs its probes at once (and starts the docker ones before its own configuration
  is even imported), but it also starts a Python process with invoke and pydantic (≈0.25 s here,
  `invoke config` alone), which the raw commands do not pay. With the stand-in, each `docker model`
  call also starts two Python processes where Docker's plugin is one Go binary.
- `invoke setup --local-llm` verifies more than `docker compose up` does: a streamed and a plain chat
  completion, the API from inside the backend container, the backend's `/api/health` and a real
  analysis through `POST /api/analyze`.
- The backend's overhead is everything between the prompt and the model: the HTTP hop into the
  container (through Docker's NAT), FastAPI, a thread per model, the same completion sent on, and
  the analysis written to PostgreSQL. Both sides stream, so both wait for the last token.
- Two models on two servers: the backend asks both at once, so an analysis takes about as long as
  the slower model. On this 2-core machine each server gets one thread, so that they do not slow
  each other down through the CPU rather than through the backend.
"""


def write(
    out: Path, rows: list[tuple[str, str, str]], bench_rows: list[dict], server_rates: list[float], runs: int
) -> None:
    lines = [
        "# Performance",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}, real dockerd, "
        "Compose v5, the DMR stand-in with the real Gemma 3 270M (Q4_K_M) on llama.cpp, CPU only.",
        f"Median of {runs} runs unless said otherwise. Produced by:",
        "",
        "```sh",
        "python benchmarks/run.py",
        "```",
        "",
        "| measure | result | note |",
        "| --- | --- | --- |",
        *(f"| {what} | {value} | {note} |" for what, value, note in rows),
        "",
        "## `invoke models.bench --requests 8 --max-tokens 64`",
        "",
        "| model | concurrency | TTFT p50 | TTFT p95 | latency p50 | latency p95 "
        "| decode tok/s (client) | total tok/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *(
            f"| {r['model']} | {r['concurrency']} | {r['ttft_p50_s']} s | {r['ttft_p95_s']} s | {r['latency_p50_s']} s "
            f"| {r['latency_p95_s']} s | {r['decode_tokens_per_s']} | {r['throughput_tokens_per_s']} |"
            for r in bench_rows
        ),
        "",
        "The server's own decode speed is not in llama-cpp-python's responses (real DMR's llama.cpp server "
        "returns `timings.predicted_per_second`, which `models.bench` shows as SERVER tok/s). Its log says: "
        + (
            f"median {statistics.median(server_rates):.1f} tokens/s over {len(server_rates)} requests "
            f"(`eval time` lines of llama.cpp's log)."
            if server_rates
            else "nothing (no log lines found)."
        ),
        "llama.cpp serves one request at a time, so concurrency raises time to first token and latency while "
        "total throughput stays flat.",
        READING,
    ]
    previous = out.read_text(encoding="utf-8") if out.exists() else ""
    at = previous.find(f"\n{KEPT}\n")
    out.write_text("\n".join(lines) + (previous[at:] if at >= 0 else ""))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
