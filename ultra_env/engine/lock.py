"""One run at a time per project: two `invoke setup` in the same folder must not interleave."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ultra_env.errors import UltraError
from ultra_env.project.state import STATE_DIR, ensure_state_dir

LOCK_FILE = "lock"


def _lock(fd: int) -> None:
    """An exclusive, non-blocking lock that dies with its process (flock; on Windows, msvcrt)."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]  # (Windows only)
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


@contextmanager
def exclusive(root: Path, command: str) -> Iterator[None]:
    """Hold the project's lock, or refuse at once naming who holds it (the kernel frees it when a
    holder dies, so a killed run never leaves a stale lock behind)."""
    directory = ensure_state_dir(root)
    try:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(directory / LOCK_FILE, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UltraError(
                f"{STATE_DIR}/{LOCK_FILE} is a symbolic link; ultra-env never writes through links",
                f"remove it: rm {STATE_DIR}/{LOCK_FILE}",
            ) from None
        raise UltraError(f"cannot create {STATE_DIR}/{LOCK_FILE}: {exc.strerror}", f"make {root} writable") from None
    try:
        try:
            _lock(fd)
        except (BlockingIOError, PermissionError):
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise UltraError(
                f"another ultra-env run is changing this project ({holder})",
                "wait for it to finish, then run this again",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"invoke {command}, pid {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)
