"""Writing files so that nothing is ever half-written: temp file, fsync, rename."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from ultra_env.errors import UltraError


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
        raise UltraError(f"{path.name} is not UTF-8 text", f"restore {path.name} or remove it to re-create it") from None


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` in one step; on any failure the old file is untouched."""
    refuse_symlink(path)
    directory = path.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UltraError(f"cannot write in {directory}: {exc.strerror}", f"make {directory} writable") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise UltraError(f"cannot write {path.name}: {exc.strerror}", f"free space or fix permissions in {directory}") from None
        raise
    _fsync_dir(directory)


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
    backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = backup_dir / f"{path.name}.{stamp}"
    write_atomic(target, path.read_text(encoding="utf-8"), mode=0o600)
    return target
