"""The state folder (``.ultra-env/``, git-ignored): what ultra-env wrote last, the active profile,
and the journal a killed run left (checked, then completed or undone by ``recover``).

It never holds a secret: files are remembered by hash, and only non-secret ``.env`` values.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath, PureWindowsPath

from ultra_env.errors import ConfigError, UltraError
from ultra_env.project import files
from ultra_env.project.dotenv import ENV_FILE
from ultra_env.project.envfile import is_secret_key

STATE_DIR = ".ultra-env"
STATE_FILE = "state.json"
JOURNAL = "journal.json"
#: what a render writes in one journaled transaction (operations.converge.apply), relative to the
#: project: the only files recovering an interrupted run may replace
JOURNALED = frozenset({"docker-compose.yml", ENV_FILE, f"{STATE_DIR}/{STATE_FILE}"})
PROFILES = frozenset({"local", "cloud", "hybrid", "mock", "team"})  # config.Profile, without importing pydantic
VERSION = 2  # 2: .env values are kept as fingerprints (envfile.fingerprint), never as text


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class State:
    profile: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    #: `docker compose config --hash` per service at the last successful `up` (models: bound services
    #: carry a container hash that includes what the plugin injected, so only this tells if they changed)
    up_hashes: dict[str, str] = field(default_factory=dict)
    backend_image: str | None = None  # the backend image the rendered docker-compose.yml names

    def to_json(self) -> str:
        env = {k: v for k, v in sorted(self.env.items()) if not is_secret_key(k)}
        body = {
            "version": VERSION,
            "profile": self.profile,
            "files": dict(sorted(self.files.items())),
            "env": env,
            "up_hashes": dict(sorted(self.up_hashes.items())),
            "backend_image": self.backend_image,
        }
        return json.dumps(body, indent=2) + "\n"


def state_dir(root: Path) -> Path:
    return root / STATE_DIR


def ensure_state_dir(root: Path) -> Path:
    """The state folder, created 0700; a link there is refused (everything in it is written)."""
    directory = state_dir(root)
    if directory.is_symlink():
        raise UltraError(
            f"{STATE_DIR} is a symbolic link; ultra-env never writes through links",
            f"remove the link: rm {STATE_DIR} (it is recreated)",
        )
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        directory.chmod(0o700)
    except OSError as exc:
        raise UltraError(f"cannot create {STATE_DIR}/: {exc.strerror}", f"make {root} writable") from None
    return directory


def journal_path(root: Path) -> Path:
    return state_dir(root) / JOURNAL


def load(root: Path) -> State:
    """The state; refused (ConfigError) while a journal is there that recovery cannot act on,
    since what ultra-env wrote last is then unknown (``read_journal`` says why)."""
    read_journal(journal_path(root), root, JOURNALED)
    path = state_dir(root) / STATE_FILE
    text = files.read_text(path)
    if text is None:
        return State()
    corrupt = ConfigError(
        f"{STATE_DIR}/{STATE_FILE} is corrupt (not what ultra-env writes)",
        f"remove it (rm {STATE_DIR}/{STATE_FILE}); the next render rebuilds it",
    )
    try:
        data = json.loads(text)
        tables = [data.get(name, {}) for name in ("files", "env", "up_hashes")]
    except (ValueError, AttributeError, RecursionError):
        raise corrupt from None
    profile, image = data.get("profile"), data.get("backend_image")
    strings = all(
        isinstance(t, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in t.items()) for t in tables
    )
    if (
        not strings
        or not (profile is None or (isinstance(profile, str) and profile in PROFILES))
        or not (image is None or isinstance(image, str))
    ):
        raise corrupt
    files_, env, up = (dict(t) for t in tables)
    return State(profile, files_, env, up, image)


def save(root: Path, state: State, txn: files.Transaction | None = None) -> None:
    """Write the state (within ``txn`` when given, so it lands together with the files it describes)."""
    directory = ensure_state_dir(root)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        files.write_atomic(ignore, "*\n", mode=0o600)
    if txn is None:
        files.write_atomic(directory / STATE_FILE, state.to_json(), mode=0o600)
    else:
        txn.write(directory / STATE_FILE, state.to_json(), mode=0o600)


class JournalError(ConfigError):
    """A journal ultra-env cannot act on: not what it writes, or naming a path outside the project
    or through a link. Nothing is recovered or changed; the run stops with this cause (exit 2)."""


_JOURNAL_MAX = 64 * 1024
_HEX = frozenset("0123456789abcdef")


# --- the journal an interrupted run left: checked, then completed or undone ---------------------


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
        raise bad(f"it is {files.KINDS.get(stat.S_IFMT(mode), 'not a regular file')}")
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
        and body.get("version") == files.JOURNAL_VERSION
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
        raise bad(f"it is not in the form ultra-env {files.JOURNAL_VERSION} writes")
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
        if files.fingerprint(entry.target) == "link":
            raise bad(
                f"{name} is a symbolic link (to {os.readlink(entry.target)}); ultra-env never writes through links"
            )
        for path in (entry.tmp, entry.old):
            if path is not None and files.fingerprint(path) in ("link", "not a file"):
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
    with files.signals_held():
        return _recover(journal, found, root, backups)


def _recover(journal: Path, found: Journal, root: Path, backups: Path) -> Recovery:
    entries, names = found.entries, [e.name for e in found.entries]
    if not found.undo:
        pending = [e for e in entries if os.path.lexists(e.tmp)]
        if all(files.fingerprint(e.target) == e.before for e in pending):
            try:
                for entry in pending:
                    os.replace(entry.tmp, entry.target)
            except OSError:
                pass
            else:
                _fsync_dirs(entries)
                files.finish(journal, (e.old for e in entries))
                return Recovery("completed", names)
        with contextlib.suppress(OSError, UltraError):
            files.write_atomic(journal, json.dumps({**found.body, "undo": True}), mode=0o600)
    kept, stuck = [], []
    for entry in entries:
        try:
            if not os.path.lexists(entry.tmp):
                _put_back(entry)
            elif files.fingerprint(entry.target) != entry.before:
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
    files.finish(journal, (e.old for e in entries))
    return Recovery("undone", names, kept)


def _put_back(entry: JournalEntry) -> None:
    """The file a transaction renamed into place back as it was, if it is still what the run wrote."""
    if files.fingerprint(entry.target) != entry.after:
        return  # changed since: it is someone's now, and stays
    if entry.before is None:
        entry.target.unlink(missing_ok=True)
    elif entry.old is not None and files.fingerprint(entry.old) == entry.before:
        os.replace(entry.old, entry.target)


def _keep_aside(entry: JournalEntry, root: Path, backups: Path) -> str:
    """The staged file meant for a target that changed since, moved into ``backups`` (mode 0600);
    where it went, relative to ``root`` (or where it stays when it cannot be moved)."""
    try:
        files.refuse_symlink(backups)
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
        files.fsync_dir(directory)
