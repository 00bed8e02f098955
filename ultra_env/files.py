"""Writing files so that nothing is ever half-written: temp file, fsync, rename."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from ultra_env.errors import UltraError


class NotText(UltraError):
    """The file holds bytes that are not UTF-8 text."""


def refuse_symlink(path: Path) -> None:
    if path.is_symlink():
        raise UltraError(
            f"{path.name} is a symbolic link (to {os.readlink(path)}); ultra-env never writes through links",
            f"replace it with a regular file: cp --remove-destination \"$(readlink -f {path.name})\" {path.name}",
        )


def read_text(path: Path) -> str | None:
    """The file's text, or None when it does not exist."""
    refuse_symlink(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UltraError(f"cannot read {path}: {exc.strerror}", f"check the permissions of {path}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotText(f"{path.name} is not UTF-8 text", f"restore {path.name} or remove it to re-create it") from None


def _cannot_write(path: Path, exc: OSError) -> UltraError:
    return UltraError(f"cannot write {path.name}: {exc.strerror}", f"free space or fix permissions in {path.parent}")


def _stage(path: Path, text: str, mode: int) -> Path:
    """Write ``text`` to a temp file beside ``path`` (same file system, so the rename is atomic)."""
    refuse_symlink(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _cannot_write(path, exc) from None
        raise
    return Path(tmp)


def remove_stale_temps(path: Path) -> list[Path]:
    """Temp files a killed run left beside ``path`` (``.NAME.*.tmp``); call only under the project lock."""
    stale = list(path.parent.glob(f".{path.name}.*.tmp"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


class Transaction:
    """Several files replaced together: every one is written and synced to a temp file first, and
    only when all of them are on disk are they renamed into place, one rename each (atomic per file;
    a rename in the same folder does not run out of space). A failure before the renames leaves
    every old file as it was and no temp file behind."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []

    def write(self, path: Path, text: str, mode: int = 0o644) -> None:
        self._staged.append((_stage(path, text, mode), path))

    def commit(self) -> None:
        try:
            for tmp, path in self._staged:
                os.replace(tmp, path)
        except OSError as exc:
            self.abort()
            raise _cannot_write(path, exc) from None
        for directory in {path.parent for _, path in self._staged}:
            _fsync_dir(directory)
        self._staged = []

    def abort(self) -> None:
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged = []

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is not None:
            self.abort()
        else:
            self.commit()


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` in one step; on any failure the old file is untouched."""
    with Transaction() as txn:
        txn.write(path, text, mode)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def backup(path: Path, backup_dir: Path) -> Path:
    """Copy ``path`` into ``backup_dir`` under a timestamped name, mode 0600."""
    refuse_symlink(backup_dir)
    backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = backup_dir / f"{path.name}.{stamp}"
    write_atomic(target, path.read_text(encoding="utf-8"), mode=0o600)
    return target
