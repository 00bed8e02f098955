"""Writing files so that nothing is ever half-written: temp file, fsync, rename."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from ultra_env.errors import ConfigError, UltraError


class NotText(UltraError):
    """The file holds bytes that are not UTF-8 text."""


def refuse_symlink(path: Path) -> None:
    if path.is_symlink():
        raise UltraError(
            f"{path.name} is a symbolic link (to {os.readlink(path)}); ultra-env never writes through links",
            f'replace it with a regular file: cp --remove-destination "$(readlink -f {path.name})" {path.name}',
        )


KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFSOCK: "a socket",
}


def regular(path: Path) -> bool:
    """Whether ``path`` is a regular file (after links); False when it does not exist. Anything
    else where a file is expected is refused, before opening it (a FIFO would block forever)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise UltraError(f"cannot read {path}: {exc.strerror}", f"check the permissions of {path}") from None
    if stat.S_ISREG(mode):
        return True
    raise ConfigError(
        f"{path.name} is {KINDS.get(stat.S_IFMT(mode), 'not a regular file')}, not a file",
        f"move it away (mv {path.name} {path.name}.away) and put a regular file there, or none",
    )


def read_text(path: Path, *, errors: str = "strict", links: bool = False) -> str | None:
    """The file's text, or None when it does not exist (``errors="surrogateescape"`` keeps bytes
    that are not UTF-8, to be written back as they were). A link is refused unless ``links``
    (ultra-env writes through none), and anything but a regular file always."""
    if not links:
        refuse_symlink(path)
    if not regular(path):
        return None
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UltraError(f"cannot read {path}: {exc.strerror}", f"check the permissions of {path}") from None
    try:
        return data.decode("utf-8", errors)
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
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
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
    """Temp and set-aside files a killed run left beside ``path`` (``.NAME.*.tmp``, ``.NAME.*.old``);
    call only under the project lock, after ``recover``."""
    stale = [*path.parent.glob(f".{path.name}.*.tmp"), *path.parent.glob(f".{path.name}.*.old")]
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


JOURNAL_VERSION = 2


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(path: Path) -> str | None:
    """What is at ``path`` now, to compare with what a journal recorded: the sha256 of a regular
    file's bytes, None when nothing is there, and for anything else (a link, a folder, a FIFO, a
    file that cannot be read) a word that is never a digest. Links are not followed."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError:
        return "unreadable"
    if stat.S_ISLNK(mode):
        return "link"
    if not stat.S_ISREG(mode):
        return "not a file"
    try:
        return _sha256(path.read_bytes())
    except OSError:
        return "unreadable"


class Transaction:
    """Several files replaced together, all or nothing, also across a kill.

    Every file is written and synced to a temp file beside its target first. With a ``journal``,
    the old files are then linked aside (``.NAME.ID.old``) and the journal is written (atomically)
    before the first rename. It names every temp, target and old file relative to ``root`` (so it
    still holds after the project folder is moved or copied), with the digest of each target
    before and after. A rename that fails puts back the files already renamed; a run killed
    between two renames leaves the journal, and ``recover`` completes or undoes the transaction on
    the next run, never replacing a file that changed since the journal was written.
    """

    def __init__(self, journal: Path | None = None, root: Path | None = None) -> None:
        self._staged: list[tuple[Path, Path, str]] = []
        self._expected: dict[Path, str | None] = {}
        self._journal = journal
        self._root = root if root is not None else (journal.parent if journal is not None else None)

    def write(self, path: Path, text: str, mode: int = 0o644) -> None:
        data = text.encode("utf-8", "surrogateescape")
        self._staged.append((_stage(path, text, mode), path, _sha256(data)))

    def expect(self, path: Path, text: str | None) -> None:
        """What ``path`` held when the new text was made from it (None: nothing): should it hold
        anything else at commit (an editor saved meanwhile), nothing is written."""
        self._expected[path] = None if text is None else _sha256(text.encode("utf-8", "surrogateescape"))

    def commit(self) -> None:
        """The renames, with Ctrl-C and SIGTERM held until they are done (a kill is what the
        journal is for)."""
        with signals_held():
            self._unchanged()
            self._commit()

    def _unchanged(self) -> None:
        changed = [path.name for path, was in self._expected.items() if fingerprint(path) != was]
        if changed:
            self.abort()
            raise UltraError(
                f"{', '.join(changed)} changed while this run was at work (an editor saved it?); "
                "nothing was written, and that change is kept",
                "run the command again: it starts from the file as it is now",
            )

    def _relative(self, path: Path) -> str:
        assert self._root is not None
        return path.relative_to(self._root).as_posix()

    def _commit(self) -> None:
        olds: dict[Path, Path | None] = {}
        body: dict[str, object] = {}
        if self._journal is not None:
            if os.path.lexists(self._journal):
                self.abort()
                raise UltraError(
                    f"{self._journal.name} still names an interrupted run that could not be recovered; "
                    "nothing was written",
                    "run any ultra-env command to see why (its recover line), fix that, then run again",
                )
            try:
                befores = {path: fingerprint(path) for _, path, _ in self._staged}
                olds = {path: _set_aside(path, tmp) for tmp, path, _ in self._staged}
                entries = [
                    {
                        "target": self._relative(path),
                        "tmp": self._relative(tmp),
                        "old": self._relative(olds[path]) if olds[path] else None,  # type: ignore[arg-type]
                        "before": befores[path],
                        "after": after,
                    }
                    for tmp, path, after in self._staged
                ]
                body = {"version": JOURNAL_VERSION, "entries": entries}
                write_atomic(self._journal, json.dumps(body), mode=0o600)
            except BaseException:
                discard(olds.values())
                self.abort()
                raise
        done: list[Path] = []
        for tmp, path, _ in self._staged:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                if self._journal is not None:
                    try:  # the journal says "undo" first: if putting back fails too, the next run goes on
                        write_atomic(self._journal, json.dumps({**body, "undo": True}), mode=0o600)
                    except (OSError, UltraError):
                        raise UltraError(  # everything is left as the journal says: the next run completes it
                            f"cannot write {path.name}: {exc.strerror}; the next run completes or undoes this write",
                            f"fix the permissions in {path.parent}, then run any ultra-env command",
                        ) from None
                self.abort()
                stuck = []
                for put in done:
                    try:
                        _undo([(put, olds.get(put))])
                    except OSError as again:
                        stuck.append(f"{put.name} ({again.strerror})")
                if stuck and self._journal is not None:
                    raise UltraError(
                        f"cannot write {path.name}: {exc.strerror}, and cannot put back {', '.join(stuck)} "
                        "yet; the next run puts them back",
                        f"fix the permissions in {path.parent}, then run any ultra-env command",
                    ) from None
                finish(self._journal, olds.values())
                raise UltraError(
                    f"cannot write {path.name}: {exc.strerror}; nothing was changed (the files "
                    "written before it were put back)",
                    f"fix the permissions of {path}",
                ) from None
            done.append(path)
        for directory in {path.parent for _, path, _ in self._staged}:
            fsync_dir(directory)
        finish(self._journal, olds.values())
        self._staged = []

    def abort(self) -> None:
        for tmp, _, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged = []

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is not None:
            self.abort()
        else:
            self.commit()


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    held = {signal.SIGINT, signal.SIGTERM}
    can = hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held) if can else None
    try:
        yield
    finally:
        if before is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _set_aside(path: Path, tmp: Path) -> Path | None:
    """A link to the file about to be replaced (its old content, kept until the transaction ends)."""
    if not path.exists():
        return None
    old = tmp.with_name(tmp.name.removesuffix(".tmp") + ".old")
    try:
        os.link(path, old)
    except OSError:
        shutil.copy2(path, old)
    return old


def _undo(renamed: list[tuple[Path, Path | None]]) -> None:
    for path, old in renamed:
        if old is not None:
            os.replace(old, path)
        else:
            path.unlink(missing_ok=True)


def discard(paths: Iterable[Path | None]) -> None:
    for path in paths:
        if path is not None:
            path.unlink(missing_ok=True)


def finish(journal: Path | None, olds: Iterable[Path | None]) -> None:
    discard(olds)
    if journal is not None:
        journal.unlink(missing_ok=True)
        fsync_dir(journal.parent)


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` in one step; on any failure the old file is untouched."""
    with Transaction() as txn:
        txn.write(path, text, mode)


def fsync_dir(directory: Path) -> None:
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
