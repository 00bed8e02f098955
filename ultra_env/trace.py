"""What ultra-env runs, as it runs it: with ``-v`` (or ``ULTRA_ENV_DEBUG=1``) each command (``proc``)
and each request (``http``) is printed on stderr with its duration and result, through the run's
redactors. Off, it costs a check of two globals per call."""

from __future__ import annotations

import shlex
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TextIO

DEBUG_VAR = "ULTRA_ENV_DEBUG"

_lock = threading.Lock()
_stream: TextIO | None = None
_masks: list[Callable[[str], str]] = []
_pending: list[str] | None = None  # lines of probes started before the run could mask them


def wanted(verbose: bool, environ: Mapping[str, str]) -> bool:
    return verbose or environ.get(DEBUG_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def arm(verbose: bool, environ: Mapping[str, str]) -> None:
    """Keep the lines of what starts before the run (the early probes) until ``tracing`` prints them."""
    global _pending
    if _stream is None and wanted(verbose, environ):
        _pending = []


@contextmanager
def tracing(mask: Callable[[str], str], stream: TextIO | None = None) -> Iterator[None]:
    """Print what runs inside the ``with``: each line through ``mask`` and through each redactor
    added by ``mask_with`` (secrets the run learns later are masked too)."""
    global _stream, _masks, _pending
    with _lock:
        _stream, _masks = stream or sys.stderr, [mask]
        held, _pending = _pending or [], None
        for text in held:
            _write(text)
    try:
        yield
    finally:
        with _lock:
            _stream, _masks, _pending = None, [], None


def mask_with(mask: Callable[[str], str]) -> None:
    with _lock:
        if _stream is not None:
            _masks.append(mask)


def line(kind: str, what: str, seconds: float, result: str) -> str:
    return f"[{kind:<4} {seconds:7.3f}s] {what} -> {result}"


def command(argv: Sequence[str], seconds: float, result: str) -> None:
    if _stream is not None or _pending is not None:
        _emit(line("run", shlex.join(argv), seconds, result))


def request(method: str, url: str, seconds: float, result: str) -> None:
    if _stream is not None or _pending is not None:
        _emit(line("http", f"{method} {url}", seconds, result))


def _emit(text: str) -> None:
    with _lock:
        if _stream is not None:
            _write(text)
        elif _pending is not None:
            _pending.append(text)


def _write(text: str) -> None:
    assert _stream is not None
    for mask in _masks:
        text = mask(text)
    _stream.write(text + "\n")
    _stream.flush()
