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
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath, PureWindowsPath

from ultra_env.errors import ConfigError, UltraError


class NotText(UltraError):
    """The file holds bytes that are not UTF-8 text."""


def refuse_symlink(path: Path) -> None:
    if path.is_symlink():
        raise UltraError(
            f"{path.name} is a symbolic link (to {os.readlink(path)}); ultra-env never writes through links",
            f'replace it with a regular file: cp --remove-destination "$(readlink -f {path.name})" {path.name}',
        )


_KINDS = {
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
        f"{path.name} is {_KINDS.get(stat.S_IFMT(mode), 'not a regular file')}, not a file",
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


class JournalError(ConfigError):
    """A journal ultra-env cannot act on: not what it writes, or naming a path outside the project
    or through a link. Nothing is recovered or changed; the run stops with this cause (exit 2)."""


JOURNAL_VERSION = 2
_JOURNAL_MAX = 64 * 1024
_HEX = frozenset("0123456789abcdef")


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
        self._journal = journal
        self._root = root if root is not None else (journal.parent if journal is not None else None)

    def write(self, path: Path, text: str, mode: int = 0o644) -> None:
        data = text.encode("utf-8", "surrogateescape")
        self._staged.append((_stage(path, text, mode), path, _sha256(data)))

    def commit(self) -> None:
        """The renames, with Ctrl-C and SIGTERM held until they are done (a kill is what the
        journal is for)."""
        with _signals_held():
            self._commit()

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
                _discard(olds.values())
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
                _finish(self._journal, olds.values())
                raise UltraError(
                    f"cannot write {path.name}: {exc.strerror}; nothing was changed (the files "
                    "written before it were put back)",
                    f"fix the permissions of {path}",
                ) from None
            done.append(path)
        for directory in {path.parent for _, path, _ in self._staged}:
            _fsync_dir(directory)
        _finish(self._journal, olds.values())
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
def _signals_held() -> Iterator[None]:
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


def _discard(paths: Iterable[Path | None]) -> None:
    for path in paths:
        if path is not None:
            path.unlink(missing_ok=True)


def _finish(journal: Path | None, olds: Iterable[Path | None]) -> None:
    _discard(olds)
    if journal is not None:
        journal.unlink(missing_ok=True)
        _fsync_dir(journal.parent)


# --- recovery ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalEntry:
    name: str  # the target, relative to the project (posix)
    target: Path
    tmp: Path
    old: Path | None
    before: str | None  # the target's digest when the journal was written (None: there was none)
    after: str  # the staged file's digest


@dataclass(frozen=True)
class Journal:
    entries: list[JournalEntry]
    undo: bool  # the transaction is being undone (decided before a kill, or a failed rename)
    body: dict[str, object]  # as read, to be written again with "undo"


@dataclass
class Recovery:
    outcome: str  # "completed" | "undone"
    names: list[str]
    kept: list[tuple[str, str]] = field(default_factory=list)  # (file kept as it is, where the staged one went)


def _digest_or_none(value: object) -> bool:
    return value is None or (isinstance(value, str) and len(value) == 64 and set(value) <= _HEX)


def read_journal(journal: Path, root: Path, targets: Collection[str]) -> Journal | None:
    """The journal an interrupted run left, checked: None when there is none. Raises JournalError
    for anything but what ``Transaction`` writes: not JSON, another shape, a target that is not
    one of ``targets`` (names relative to ``root``), a path that is absolute, climbs out with
    ``..`` or passes through a link, a temp or old file that is not a regular file beside its
    target, a target that is a link."""
    shown = _shown(journal, root)

    def bad(why: str) -> JournalError:
        return JournalError(
            f"{shown} is not a journal ultra-env can act on ({why}); nothing was recovered or changed",
            f"look at it (cat {shown}); if no ultra-env run was interrupted here, remove it (rm {shown}) and run again",
        )

    folder_link = _link_on_the_way(root, journal.relative_to(root).parent.parts)
    if folder_link is not None:
        raise bad(f"{folder_link} is a symbolic link")
    try:
        mode = os.lstat(journal).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise bad(f"it cannot be read: {exc.strerror}") from None
    if stat.S_ISLNK(mode):
        raise bad("it is a symbolic link")
    if not stat.S_ISREG(mode):
        raise bad(f"it is {_KINDS.get(stat.S_IFMT(mode), 'not a regular file')}")
    try:
        with open(journal, "rb") as handle:
            data = handle.read(_JOURNAL_MAX + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise bad(f"it cannot be read: {exc.strerror}") from None
    if len(data) > _JOURNAL_MAX:
        raise bad(f"it is larger than {_JOURNAL_MAX // 1024} KiB")
    try:
        body = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        raise bad("it is not JSON") from None
    keys = {"target", "tmp", "old", "before", "after"}
    if not (
        isinstance(body, dict)
        and set(body) <= {"version", "entries", "undo"}
        and isinstance(body.get("undo", False), bool)
        and body.get("version") == JOURNAL_VERSION
        and isinstance(body.get("entries"), list)
        and body["entries"]
        and all(
            isinstance(e, dict)
            and set(e) == keys
            and isinstance(e["target"], str)
            and isinstance(e["tmp"], str)
            and (e["old"] is None or isinstance(e["old"], str))
            and _digest_or_none(e["before"])
            and e["after"] is not None
            and _digest_or_none(e["after"])
            for e in body["entries"]
        )
    ):
        raise bad(f"it is not in the form ultra-env {JOURNAL_VERSION} writes")
    entries: list[JournalEntry] = []
    for raw in body["entries"]:
        name = raw["target"]
        for path in (name, raw["tmp"], raw["old"]):
            if path is None:
                continue
            pure = PurePosixPath(path)
            if pure.is_absolute() or PureWindowsPath(path).is_absolute() or "\\" in path or "\0" in path:
                raise bad(f"it names {path!r}, outside the project")
            if ".." in pure.parts or path != pure.as_posix() or path in ("", "."):
                raise bad(f"it names {path!r}, outside the project")
        if name not in targets:
            raise bad(f"it names {name!r}, which is not a file ultra-env writes")
        if any(e.name == name for e in entries):
            raise bad(f"it names {name!r} twice")
        target = PurePosixPath(name)
        for path, suffix in ((raw["tmp"], ".tmp"), (raw["old"], ".old")):
            if path is None:
                continue
            pure = PurePosixPath(path)
            if pure.parent != target.parent or not (
                pure.name.startswith(f".{target.name}.") and pure.name.endswith(suffix)
            ):
                raise bad(f"it names {path!r}, which is not a temp file of {name}")
        link = _link_on_the_way(root, target.parent.parts)
        if link is not None:
            raise bad(f"{link} is a symbolic link")
        entry = JournalEntry(
            name,
            root.joinpath(*target.parts),
            root.joinpath(*PurePosixPath(raw["tmp"]).parts),
            root.joinpath(*PurePosixPath(raw["old"]).parts) if raw["old"] else None,
            raw["before"],
            raw["after"],
        )
        if fingerprint(entry.target) == "link":
            raise bad(
                f"{name} is a symbolic link (to {os.readlink(entry.target)}); ultra-env never writes through links"
            )
        for path in (entry.tmp, entry.old):
            if path is not None and fingerprint(path) in ("link", "not a file"):
                raise bad(f"{path.name} is not a regular file")
        entries.append(entry)
    return Journal(entries, body.get("undo", False), body)


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _link_on_the_way(root: Path, parts: tuple[str, ...]) -> str | None:
    """The first folder below ``root`` on the way to ``parts`` that is a link (or not a folder)."""
    here = root
    for part in parts:
        here = here / part
        try:
            mode = os.lstat(here).st_mode
        except FileNotFoundError:
            return None
        except OSError:
            return _shown(here, root)
        if not stat.S_ISDIR(mode):
            return _shown(here, root)
    return None


def recover(journal: Path, root: Path, targets: Collection[str], backups: Path) -> Recovery | None:
    """Finish what a killed transaction began. When every target still waiting for its new file
    is as the journal found it, the remaining temp files are renamed into place ("completed").
    When one of them changed since (the user edited it after the kill), or a rename fails, the
    transaction is undone instead ("undone"; the journal says so first, so that a kill now does
    not turn the undoing into completing): a file that changed is kept as it is and the staged
    file meant for it is moved to ``backups``; a file already renamed is put back only if it is
    still what the run wrote. Nothing is replaced that changed since the journal was written, and
    nothing outside ``root`` is touched (``read_journal``). Returns what was done, None when there
    was no journal. Raises JournalError for a journal it cannot act on (left as it is),
    UltraError when the files could not be put back (the journal is kept, to try again). Call
    only under the project lock; Ctrl-C and SIGTERM wait until it is done."""
    found = read_journal(journal, root, targets)
    if found is None:
        return None
    with _signals_held():
        return _recover(journal, found, root, backups)


def _recover(journal: Path, found: Journal, root: Path, backups: Path) -> Recovery:
    entries, names = found.entries, [e.name for e in found.entries]
    if not found.undo:
        pending = [e for e in entries if os.path.lexists(e.tmp)]
        if all(fingerprint(e.target) == e.before for e in pending):
            try:
                for entry in pending:
                    os.replace(entry.tmp, entry.target)
            except OSError:
                pass
            else:
                _fsync_dirs(entries)
                _finish(journal, (e.old for e in entries))
                return Recovery("completed", names)
        with contextlib.suppress(OSError, UltraError):
            write_atomic(journal, json.dumps({**found.body, "undo": True}), mode=0o600)
    kept, stuck = [], []
    for entry in entries:
        try:
            if not os.path.lexists(entry.tmp):
                _put_back(entry)
            elif fingerprint(entry.target) != entry.before:
                kept.append((entry.name, _keep_aside(entry, root, backups)))
            else:
                entry.tmp.unlink()
        except OSError as exc:
            stuck.append(f"{entry.name}: {exc.strerror}")
    _fsync_dirs(entries)
    if stuck:
        raise UltraError(
            f"an interrupted run could not be undone ({'; '.join(stuck)})",
            "fix the permissions of the project's files, then run any ultra-env command again",
        )
    _finish(journal, (e.old for e in entries))
    return Recovery("undone", names, kept)


def _put_back(entry: JournalEntry) -> None:
    """The file a transaction renamed into place back as it was, if it is still what the run wrote."""
    if fingerprint(entry.target) != entry.after:
        return  # changed since: it is someone's now, and stays
    if entry.before is None:
        entry.target.unlink(missing_ok=True)
    elif entry.old is not None and fingerprint(entry.old) == entry.before:
        os.replace(entry.old, entry.target)


def _keep_aside(entry: JournalEntry, root: Path, backups: Path) -> str:
    """The staged file meant for a target that changed since, moved into ``backups`` (mode 0600);
    where it went, relative to ``root`` (or where it stays when it cannot be moved)."""
    try:
        refuse_symlink(backups)
        backups.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        kept = backups / f"{entry.target.name}.interrupted.{stamp}"
        try:
            os.replace(entry.tmp, kept)
        except OSError:
            shutil.copyfile(entry.tmp, kept)
            entry.tmp.unlink()
        os.chmod(kept, 0o600)
    except (OSError, UltraError):
        kept = entry.tmp.with_name(entry.tmp.name.removesuffix(".tmp") + ".kept")
        with contextlib.suppress(OSError):
            os.replace(entry.tmp, kept)
    return _shown(kept, root)


def _fsync_dirs(entries: Iterable[JournalEntry]) -> None:
    for directory in {e.target.parent for e in entries}:
        _fsync_dir(directory)


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
