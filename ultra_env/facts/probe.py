"""A fact probe: one command, its own timeout, its parser; never raising."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ultra_env import proc

T = TypeVar("T")


@dataclass(frozen=True)
class Probe(Generic[T]):
    """A fact's value, or why it could not be had (``error``), with the raw output kept for checks."""

    value: T | None = None
    error: str | None = None
    output: str = ""
    missing: bool = False  # the command itself does not exist

    @property
    def ok(self) -> bool:
        return self.error is None


def probe(
    argv: list[str],
    parse: Callable[[str], T],
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    accept: Callable[[proc.Completed], bool] | None = None,
) -> Probe[T]:
    try:
        done = proc.run(argv, timeout=timeout, env=env)
    except proc.CommandNotFound as exc:
        return Probe(error=str(exc), missing=True)
    except proc.ProcError as exc:
        return Probe(error=str(exc))
    if not (accept(done) if accept else done.ok):
        return Probe(
            error=done.output.splitlines()[0] if done.output else f"exit {done.returncode}", output=done.output
        )
    try:
        return Probe(value=parse(done.stdout), output=done.output)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return Probe(error=f"unexpected output ({exc.__class__.__name__}: {exc})", output=done.output)
