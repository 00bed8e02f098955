"""Calls that wait on the network, at the same time, in daemon threads: Ctrl-C ends the run at
once even while a provider never answers (a thread pool would wait for its threads first, at the
interrupt and again at exit)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def each(call: Callable[[T], R], items: Iterable[T], *, at_once: int | None = None) -> list[R]:
    """``call`` on every item, ``at_once`` at a time (all by default); the results in the items'
    order. An exception in a call is raised here, after the others are done."""
    work = list(items)
    results: list[R | None] = [None] * len(work)
    errors: list[BaseException] = []
    todo: queue.Queue[int] = queue.Queue()
    for index in range(len(work)):
        todo.put(index)
    done = threading.Semaphore(0)

    def worker() -> None:
        while True:
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            try:
                results[index] = call(work[index])
            except BaseException as exc:  # handed to the caller, which decides
                errors.append(exc)
            finally:
                done.release()

    for _ in range(min(at_once or len(work), len(work))):
        threading.Thread(target=worker, daemon=True).start()
    for _ in work:
        while not done.acquire(timeout=0.2):  # a timeout, so that Ctrl-C reaches the main thread
            pass
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]
