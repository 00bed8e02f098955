"""How a run is shown while it goes: a line per task and a recap for people, one JSON document for
machines; and ``write``, the one way text reaches a stream. Everything passes through the Redactor
on its way out."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from ultra_env.engine.redact import Redactor
from ultra_env.engine.run import Run, Status, TaskResult

_COLORS = {
    Status.OK: "32",
    Status.CHANGED: "33",
    Status.WARN: "35",
    Status.FAILED: "31",
    Status.SKIPPED: "36",
}
NAME_WIDTH = 24
_SYMBOLS = {Status.OK: "✓", Status.CHANGED: "~", Status.WARN: "!", Status.FAILED: "✗", Status.SKIPPED: "-"}


def write(stream: TextIO | None, text: str) -> None:
    """Write and flush, whatever the stream: a reader that went away (``| head``), a stream that
    was closed before the run (``>&-``: Python has none) or one that cannot encode the text
    (``PYTHONIOENCODING=ascii``: the characters it lacks are replaced) must not abort a run."""
    if stream is None:
        return
    try:
        try:
            stream.write(text)
        except UnicodeEncodeError:
            encoding = getattr(stream, "encoding", None) or "ascii"
            stream.write(text.encode(encoding, "replace").decode(encoding, "replace"))
        stream.flush()
    except (OSError, ValueError):
        pass


def _use_color(stream: TextIO | None) -> bool:
    return stream is not None and stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


class HumanReporter:
    def __init__(
        self,
        redactor: Redactor,
        *,
        show_diff: bool = False,
        quiet: bool = False,
        symbols: bool = False,
        stream: TextIO | None = None,
    ) -> None:
        self.redact = redactor
        self.symbols = symbols  # doctor's style: ✓ / ! / ✗ under a heading per area
        self._area: str | None = None
        self.show_diff = show_diff
        self.quiet = quiet  # only failures and warnings, no recap: for commands whose output is a listing
        self.stream = stream or sys.stdout
        self.color = _use_color(self.stream)

    def _paint(self, status: Status, text: str) -> str:
        return f"\033[{_COLORS[status]}m{text}\033[0m" if self.color else text

    def task(self, result: TaskResult) -> None:
        if self.quiet and result.status not in (Status.FAILED, Status.WARN):
            return
        lines = []
        if self.symbols:
            if result.area and result.area != self._area:
                self._area = result.area
                lines.append(result.area)
            label = "  " + self._paint(result.status, _SYMBOLS[result.status])
            indent = 4
        else:
            label = self._paint(result.status, f"{result.status.value:<8}")
            indent = 9
        lines.append(f"{label} {result.name:<{NAME_WIDTH}} {result.msg}".rstrip())
        if result.fix:
            lines.append(f"{'':<{indent}}fix: {result.fix}")
        if self.show_diff and result.diff:
            lines.extend(f"{'':<{indent}}{line}" for line in result.diff.rstrip("\n").split("\n"))
        write(self.stream, self.redact("\n".join(lines)) + "\n")

    def finish(self, run: Run) -> None:
        if self.quiet:
            return
        recap = run.recap()
        parts = [f"{key}={recap[key]}" for key in ("ok", "changed", "failed", "skipped")]
        if recap["warn"]:
            parts.append(f"warn={recap['warn']}")
        mode = " (check mode: nothing was changed)" if run.options.check else ""
        write(self.stream, f"recap: {' '.join(parts)}{mode}\n")


class JsonReporter:
    def __init__(self, redactor: Redactor, *, stream: TextIO | None = None) -> None:
        self.redact = redactor
        self.stream = stream or sys.stdout

    def task(self, result: TaskResult) -> None:
        pass

    def finish(self, run: Run) -> None:
        write(self.stream, self.redact.json(run.to_dict(), indent=2) + "\n")
