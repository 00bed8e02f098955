"""Benchmark (not a test): `invoke doctor --json` against its raw docker commands run one after
another. Usage: python benchmarks/doctor.py [--runs N] [--profile local|mock|…]"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RAW = [
    ["docker", "version", "--format", "{{json .}}"],
    ["docker", "info", "--format", "{{json .}}"],
    ["docker", "compose", "version", "--format", "json"],
    ["docker", "context", "inspect", "--format", "{{json .Endpoints.docker.Host}}"],
    ["docker", "ps", "--filter", "label=com.docker.compose.project=ultra", "--format", "{{.Ports}}"],
]
RAW_LOCAL = [
    ["docker", "model", "version"],
    ["docker", "model", "status", "--json"],
    ["docker", "model", "list", "--json"],
]


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, timeout=120, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--profile", default="local")
    args = parser.parse_args()
    env = {**os.environ, "MODEL_RUNNER_NO_AUTO_INSTALL": "1", "ULTRA_ENV_PROFILE": args.profile}
    raw = RAW + (RAW_LOCAL if args.profile in ("local", "hybrid") else [])
    doctor = [sys.executable, "-m", "invoke", "-r", str(REPO), "doctor", "--json"]
    timed(doctor, env)  # warm the page cache once
    doctor_times = [timed(doctor, env) for _ in range(args.runs)]
    raw_times = [sum(timed(argv, env) for argv in raw) for _ in range(args.runs)]
    d, r = statistics.median(doctor_times), statistics.median(raw_times)
    print(f"| measure ({args.runs} runs, median) | seconds |")
    print("| --- | --- |")
    print(f"| `invoke doctor --json` (profile {args.profile}) | {d:.3f} |")
    print(f"| its {len(raw)} docker commands, one after another | {r:.3f} |")
    print(f"| ratio doctor / sequential | {d / r:.2f} |")


if __name__ == "__main__":
    main()
