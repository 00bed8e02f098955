"""Ansible-style runs: named tasks, each ok / changed / failed / skipped (or warn), and a recap."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from ultra_env.errors import UltraError


class Status(StrEnum):
    OK = "ok"
    CHANGED = "changed"
    WARN = "warn"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class TaskResult:
    name: str
    status: Status
    msg: str
    fix: str | None = None
    diff: str | None = None
    data: dict[str, Any] | None = None
    area: str | None = None
    seconds: float | None = None  # wall time since the task before it ended (set by Run.add)
    exit_code: int = 1  # what the run ends with when this task failed: 2 for bad usage or configuration

    def to_dict(self, *, diff: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "status": self.status.value, "msg": self.msg, "fix": self.fix}
        if self.area:
            out["area"] = self.area
        if self.seconds is not None:
            out["seconds"] = round(self.seconds, 3)
        if diff and self.diff:
            out["diff"] = self.diff
        if self.data:
            out["data"] = self.data
        return out


def ok(name: str, msg: str, **kw: Any) -> TaskResult:
    return TaskResult(name, Status.OK, msg, **kw)


def changed(name: str, msg: str, **kw: Any) -> TaskResult:
    return TaskResult(name, Status.CHANGED, msg, **kw)


def failed(name: str, msg: str, fix: str | None = None, **kw: Any) -> TaskResult:
    return TaskResult(name, Status.FAILED, msg, fix, **kw)


def refused(name: str, msg: str, fix: str, **kw: Any) -> TaskResult:
    """Bad usage, or a question not answered yes: nothing was done, and the run ends with exit status 2."""
    return TaskResult(name, Status.FAILED, msg, fix, exit_code=2, **kw)


def from_error(name: str, exc: UltraError, fix: str | None = None, *, about: str | None = None) -> TaskResult:
    """The one way an error becomes a result: its cause (after ``about``), its own fix or else ``fix``,
    and its exit code."""
    msg = f"{about}: {exc.cause}" if about else exc.cause
    return TaskResult(name, Status.FAILED, msg, exc.fix or fix, exit_code=exc.exit_code)


def skipped(name: str, msg: str, **kw: Any) -> TaskResult:
    return TaskResult(name, Status.SKIPPED, msg, **kw)


def warn(name: str, msg: str, fix: str | None = None, **kw: Any) -> TaskResult:
    return TaskResult(name, Status.WARN, msg, fix, **kw)


@dataclass(frozen=True)
class Options:
    check: bool = False
    diff: bool = False
    json: bool = False
    force: bool = False
    keep_going: bool = False
    live: bool = False  # doctor: ask the cloud providers whether the keys work
    verbose: bool = False  # print each command and request (ultra_env.trace)


class Reporter(Protocol):
    def task(self, result: TaskResult) -> None: ...
    def finish(self, run: Run) -> None: ...


@dataclass
class Run:
    """One invocation: its options, its results in order, and how it ends."""

    command: str
    options: Options
    reporter: Reporter
    results: list[TaskResult] = field(default_factory=list)
    _mark: float = field(default_factory=time.monotonic)
    _started: float = field(default_factory=time.monotonic)

    def add(self, result: TaskResult) -> TaskResult:
        now = time.monotonic()
        if result.seconds is None:
            result.seconds = now - self._mark
        self._mark = now
        self.results.append(result)
        self.reporter.task(result)
        return result

    @property
    def failed(self) -> bool:
        return any(r.status is Status.FAILED for r in self.results)

    def recap(self) -> dict[str, int]:
        counts = {status.value: 0 for status in (Status.OK, Status.CHANGED, Status.FAILED, Status.SKIPPED, Status.WARN)}
        for result in self.results:
            counts[result.status.value] += 1
        return counts

    def exit_code(self) -> int:
        return max((r.exit_code for r in self.results if r.status is Status.FAILED), default=0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "seconds": round(time.monotonic() - self._started, 3),
            "ok": not self.failed,
            "check": self.options.check,
            "recap": self.recap(),
            "tasks": [r.to_dict(diff=self.options.diff) for r in self.results],
        }

    def finish(self) -> int:
        self.reporter.finish(self)
        return self.exit_code()
