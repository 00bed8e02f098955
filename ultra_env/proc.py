"""The one way this project runs a subprocess: an argument list, a timeout, captured output."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ultra_env import trace
from ultra_env.errors import UltraError


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def output(self) -> str:
        """stdout and stderr together, as a terminal would show them."""
        return "\n".join(part for part in (self.stdout.strip(), self.stderr.strip()) if part)


class ProcError(UltraError):
    """The command could not be run, or gave no answer in time."""

    def __init__(self, argv: Sequence[str], message: str) -> None:
        super().__init__(f"{' '.join(argv[:3])}: {message}")
        self.argv = tuple(argv)


class CommandNotFound(ProcError):
    pass


class CommandTimeout(ProcError):
    def __init__(self, argv: Sequence[str], timeout: float) -> None:
        super().__init__(argv, f"no answer within {timeout:g}s")
        self.timeout = timeout


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    input: str | None = None,
) -> Completed:
    """Run ``argv`` (never through a shell) and capture its output.

    ``env`` is added to this process's environment. A missing executable raises
    CommandNotFound and a run past ``timeout`` seconds is killed and raises CommandTimeout;
    a non-zero exit is *not* an exception: callers read ``returncode``.
    """
    full_env = {**os.environ, **env} if env else None
    start = time.monotonic()
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=full_env,
            cwd=cwd,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        trace.command(argv, time.monotonic() - start, "command not found")
        raise CommandNotFound(argv, "command not found") from exc
    except subprocess.TimeoutExpired as exc:
        trace.command(argv, time.monotonic() - start, f"killed after {timeout:g}s")
        raise CommandTimeout(argv, timeout) from exc
    return _traced(Completed(tuple(argv), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start))


def _traced(done: Completed) -> Completed:
    trace.command(done.argv, done.seconds, f"exit {done.returncode}")
    return done


def _popen(argv: Sequence[str], env: Mapping[str, str] | None, *, stdout: int) -> subprocess.Popen[str]:
    """A started process: no standard input, ``stdout`` as asked, stderr piped, text."""
    full_env = {**os.environ, **env} if env else None
    try:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=full_env,
        )
    except FileNotFoundError as exc:
        trace.command(argv, 0.0, "command not found")
        raise CommandNotFound(argv, "command not found") from exc


def stream(
    argv: Sequence[str],
    *,
    timeout: float,
    on_line: Callable[[str], None],
    env: Mapping[str, str] | None = None,
) -> Completed:
    """Like ``run``, but each line of stdout goes to ``on_line`` as it is printed (a pull's progress).

    The whole run is bounded by ``timeout`` seconds: past it the process is killed and
    CommandTimeout raised. stderr is collected and returned with the rest.
    """
    start = time.monotonic()
    process = _popen(argv, env, stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.append(process.stderr.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line)
            on_line(line.rstrip("\n"))
        process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(5)
    seconds = time.monotonic() - start
    if seconds >= timeout and process.returncode < 0:
        trace.command(argv, seconds, f"killed after {timeout:g}s")
        raise CommandTimeout(argv, timeout)
    return _traced(Completed(tuple(argv), process.returncode, "".join(lines), "".join(errors), seconds))


class Background:
    """A command that runs beside the task that started it (an SSH tunnel) until ``stop``."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        self.argv = tuple(argv)
        self._process = _popen(argv, env, stdout=subprocess.DEVNULL)
        trace.command(argv, 0.0, f"started in the background (pid {self._process.pid})")

    def exited(self) -> Completed | None:
        """How it ended, or None while it runs."""
        if self._process.poll() is None:
            return None
        said = self._process.stderr.read() if self._process.stderr else ""
        return Completed(self.argv, self._process.returncode, "", said, 0.0)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stderr:
            self._process.stderr.close()
