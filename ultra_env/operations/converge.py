"""Bringing the rendered files to their desired state without losing anything.

Each generated file gets a plan: create, identical, update, conflict (the user edited it since
the last render) or overwrite (``--force``, with a backup). ``.env`` is merged per key instead.
Nothing is written until every plan is known and none conflicts.
"""

from __future__ import annotations

import difflib
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ultra_env.engine.redact import has_userinfo
from ultra_env.errors import UltraError
from ultra_env.project import envfile, files
from ultra_env.project.dotenv import ENV_FILE
from ultra_env.project.state import JOURNALED, STATE_FILE, State, digest, state_dir
from ultra_env.project.state import journal_path as state_journal_path
from ultra_env.project.state import save as save_state

COMPOSE_FILE = "docker-compose.yml"
GENERATED_SECRETS = ("POSTGRES_PASSWORD", "REDIS_PASSWORD")
ENV_MODE = 0o600


@dataclass
class FilePlan:
    name: str
    path: Path
    old: str | None
    new: str
    action: str  # create | identical | update | conflict | overwrite | mode
    mode: int = 0o644
    diff: str = ""
    notes: list[str] = field(default_factory=list)
    env_written: dict[str, str] = field(default_factory=dict)

    @property
    def writes(self) -> bool:
        return self.action in ("create", "update", "overwrite", "mode")


def unified_diff(name: str, old: str | None, new: str) -> str:
    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{name}" if old is not None else "/dev/null",
        tofile=f"b/{name}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def plan_generated(root: Path, name: str, new: str, state: State, *, force: bool) -> FilePlan:
    path = root / name
    old = files.read_text(path)
    if old is None:
        action = "create"
    elif old == new:
        action = "identical"
    elif state.files.get(name) == digest(old):
        action = "update"
    else:
        action = "overwrite" if force else "conflict"
    return FilePlan(name, path, old, new, action, diff=unified_diff(name, old, new))


def generated_secrets(current: envfile.EnvDoc | None) -> dict[str, str]:
    """Passwords the stack needs: the user's if set, else new random ones."""
    values = current.values() if current else {}
    return {key: values.get(key) or secrets.token_hex(16) for key in GENERATED_SECRETS}


def plan_env(root: Path, current: envfile.EnvDoc | None, desired_text: str, state: State) -> FilePlan:
    path = root / ENV_FILE
    desired = envfile.parse(desired_text, "templates/env.j2 (rendered)")
    merged, changes = envfile.merge(current, desired, state.env)
    new = merged.render()
    old = None if current is None else current.render()
    notes = []
    for action in ("added", "updated", "kept"):
        keys = [c.key for c in changes if c.action == action]
        if keys and (action != "added" or current is not None):
            label = "kept your value of" if action == "kept" else action
            notes.append(f"{label} {', '.join(keys)}")
    if old is None:
        action = "create"
    elif new != old:
        action = "update"
    elif stat.S_IMODE(os.stat(path).st_mode) != ENV_MODE:
        action = "mode"
        notes.append(f"mode {stat.S_IMODE(os.stat(path).st_mode):o} → {ENV_MODE:o}")
    else:
        action = "identical"
    # Nothing secret is remembered, not even by fingerprint: no secret-named key, no URL with a password.
    written = {
        e.key: envfile.fingerprint(e.value or "")
        for e in desired.entries
        if e.key and not envfile.is_secret_key(e.key) and not has_userinfo(e.value or "")
    }
    owned = [e.key for e in desired.entries if e.key]
    comments = [line for e in desired.entries if e.key is None for line in e.raw.splitlines()]
    diff = unified_diff(
        ENV_FILE,
        None if current is None else envfile.masked(current, owned, comments),
        envfile.masked(merged, owned, comments),
    )
    return FilePlan(ENV_FILE, path, old, new, action, mode=ENV_MODE, diff=diff, notes=notes, env_written=written)


def apply(root: Path, plans: list[FilePlan], state: State) -> list[str]:
    """Write what the plans say and the state that records it, all or nothing; returns backup paths."""
    backups = [
        str(files.backup(plan.path, state_dir(root) / "backups").relative_to(root))
        for plan in plans
        if plan.action == "overwrite" and plan.old is not None
    ]
    for plan in plans:
        if plan.name == ENV_FILE:
            state.env = {k: v for k, v in plan.env_written.items() if not envfile.is_secret_key(k)}
        else:
            state.files[plan.name] = digest(plan.new)
    with files.Transaction(journal=journal_path(root), root=root) as txn:
        for plan in plans:
            if plan.writes:
                txn.write(plan.path, plan.new, mode=plan.mode)
        save_state(root, state, txn)
    return backups


def journal_path(root: Path) -> Path:
    return state_journal_path(root)


def recover(root: Path) -> str | None:
    """What an interrupted run left: its transaction completed or undone, its temp files swept.
    Returns what was done, for the run to say; None when there was nothing, or when the journal
    is not one recovery can act on (it is left as it is, and the configuration task refuses to
    go on, saying why: ``state.load``). Under the project lock."""
    journal = journal_path(root)
    try:
        done = files.recover(journal, root, JOURNALED, state_dir(root) / "backups")
    except files.JournalError:
        return None
    except UltraError as exc:
        return f"an interrupted run could not be recovered: {exc.cause} (fix: {exc.fix})"
    swept = [
        p
        for path in (root / COMPOSE_FILE, root / ENV_FILE, state_dir(root) / STATE_FILE, journal)
        for p in files.remove_stale_temps(path)
    ]
    if done is not None:
        return _recovered(done)
    if swept:
        return f"removed {len(swept)} temp file(s) an interrupted run left"
    return None


def _recovered(done: files.Recovery) -> str:
    names = ", ".join(done.names)
    if done.outcome == "completed":
        return f"an interrupted run was recovered: completed its writes ({names})"
    if not done.kept:
        return f"an interrupted run was recovered: put the files back as they were ({names})"
    yours = ", ".join(name for name, _ in done.kept)
    staged = ", ".join(where for _, where in done.kept)
    return (
        f"an interrupted run was undone: {yours} changed after it was interrupted, so yours is kept and "
        f"every other file is as before that run; what it would have written is in {staged} "
        "(run that command again)"
    )
