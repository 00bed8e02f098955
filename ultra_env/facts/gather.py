"""Running the fact probes: concurrently, each with its own timeout, never raising."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ultra_env import proc
from ultra_env.facts.docker import DockerVersion, parse_compose_version, parse_docker_version

DOCKER = "docker"

@dataclass(frozen=True)
class Probe:
    """A fact's value, or why it could not be had (``error``), with the raw output kept for checks."""

    value: Any = None
    error: str | None = None
    output: str = ""
    missing: bool = False  # the command itself does not exist

    @property
    def ok(self) -> bool:
        return self.error is None

def probe(argv: list[str], parse: Callable[[str], Any], *, timeout: float,
          env: dict[str, str] | None = None, accept: Callable[[proc.Completed], bool] | None = None) -> Probe:
    try:
        done = proc.run(argv, timeout=timeout, env=env)
    except proc.CommandNotFound as exc:
        return Probe(error=str(exc), missing=True)
    except proc.ProcError as exc:
        return Probe(error=str(exc))
    if not (accept(done) if accept else done.ok):
        return Probe(error=done.output.splitlines()[0] if done.output else f"exit {done.returncode}",
                     output=done.output)
    try:
        return Probe(value=parse(done.stdout), output=done.output)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return Probe(error=f"unexpected output ({exc.__class__.__name__}: {exc})", output=done.output)

def docker_version(timeout: float) -> Probe:
    # With the daemon down, the client half still prints and the exit is 1: keep the client facts.
    return probe([DOCKER, "version", "--format", "{{json .}}"], parse_docker_version, timeout=timeout,
                 accept=lambda done: done.stdout.strip().startswith("{"))

def compose_version(timeout: float) -> Probe:
    return probe([DOCKER, "compose", "version", "--format", "json"], parse_compose_version, timeout=timeout)

def concurrently(probes: dict[str, Callable[[], Probe]]) -> dict[str, Probe]:
    if len(probes) == 1:
        ((name, fn),) = probes.items()
        return {name: fn()}
    with ThreadPoolExecutor(max_workers=len(probes)) as pool:
        futures = {name: pool.submit(fn) for name, fn in probes.items()}
        return {name: future.result() for name, future in futures.items()}

def server_up(version: Probe) -> bool:
    value: DockerVersion | None = version.value
    return bool(value and value.server)

