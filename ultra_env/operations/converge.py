"""Bringing the rendered files to their desired state without losing anything.

Each generated file gets a plan: create, identical, update, conflict (the user edited it since
the last render) or overwrite (``--force``, with a backup). ``.env`` is merged per key instead.
Nothing is written until every plan is known and none conflicts.

What ultra-env wrote last is known from the state, and also from the generated file itself: its
last line (``# ultra-env: {...}``) holds the digest of the text above it and a short fingerprint
of each ``.env`` value written with it. A file whose text still matches that digest is ultra-env's
own even when the state is lost or reset, and so are the ``.env`` values that still match it; any
edit breaks the match, and the file (or value) is the user's.
"""

from __future__ import annotations

import difflib
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ultra_env.engine.plan import Action
from ultra_env.engine.redact import has_userinfo
from ultra_env.engine.run import TaskResult, changed, warn
from ultra_env.errors import UltraError
from ultra_env.project import envfile, files
from ultra_env.project.dotenv import ENV_FILE
from ultra_env.project.state import JOURNALED, STATE_FILE, JournalError, Recovery, State, digest, state_dir
from ultra_env.project.state import journal_path as state_journal_path
from ultra_env.project.state import recover as recover_journal
from ultra_env.project.state import save as save_state

RECOVER = "recover"  # the task that says what recovering an interrupted run did
COMPOSE_FILE = "docker-compose.yml"
GENERATED_SECRETS = ("POSTGRES_PASSWORD", "REDIS_PASSWORD")
ENV_MODE = 0o600


@dataclass
class FilePlan:
    name: str
    path: Path
    old: str | None
    new: str
    action: Action
    mode: int = 0o644
    diff: str = ""
    notes: list[str] = field(default_factory=list)
    env_written: dict[str, str] = field(default_factory=dict)
    with_env: bool = True  # its signature vouches for the .env values written with it (the compose file)

    @property
    def writes(self) -> bool:
        return self.action.changes


def unified_diff(name: str, old: str | None, new: str) -> str:
    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{name}" if old is not None else "/dev/null",
        tofile=f"b/{name}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


SIGNATURE = "# ultra-env: "
_SHORT = 8  # hex digits of each .env value's fingerprint kept in the signature


def _short(fingerprint: str) -> str:
    known = fingerprint if fingerprint.startswith("sha256:") else envfile.fingerprint(fingerprint)  # a v1 state: text
    return known.removeprefix("sha256:")[:_SHORT]


def sign(body: str, env: dict[str, str]) -> str:
    """``body`` with the line that proves it ultra-env's own: the digest of ``body`` and a short
    fingerprint of each ``.env`` value written with it (``env``: key → ``envfile.fingerprint``)."""
    if body and not body.endswith("\n"):
        body += "\n"
    record = {"sha256": digest(body), "env": {key: _short(value) for key, value in sorted(env.items())}}
    return body + SIGNATURE + json.dumps(record, separators=(",", ":")) + "\n"


@dataclass(frozen=True)
class Signed:
    body: str  # the text above the signature
    env: dict[str, str]  # key → short fingerprint of the .env value written with it


def signed(text: str | None) -> Signed | None:
    """What the signature of ``text`` proves: None when it has none, or the text above it is not
    what was signed (an edit, anywhere, makes the file the user's)."""
    if not text or not text.endswith("\n"):
        return None
    cut = text.rfind("\n", 0, len(text) - 1) + 1
    body, line = text[:cut], text[cut:-1]
    if not line.startswith(SIGNATURE):
        return None
    try:
        record = json.loads(line.removeprefix(SIGNATURE))
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or record.get("sha256") != digest(body):
        return None
    env = record.get("env")
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        return None
    return Signed(body, dict(env))


def plan_generated(root: Path, name: str, new: str, state: State, *, force: bool, with_env: bool = True) -> FilePlan:
    """``new`` signed (with the ``.env`` values the state says were written; ``apply`` signs
    again with the ones written now) against the file on disk: ultra-env's own when the state
    recorded it or its signature still holds, else the user's (a conflict)."""
    path = root / name
    old = files.read_text(path)
    new = sign(new, state.env if with_env else {})
    if old is None:
        action = Action.CREATE
    elif old == new:
        action = Action.KEEP
    elif state.files.get(name) == digest(old) or signed(old) is not None:
        action = Action.UPDATE
    else:
        action = Action.OVERWRITE if force else Action.CONFLICT
    return FilePlan(name, path, old, new, action, diff=unified_diff(name, old, new), with_env=with_env)


def proven_env(root: Path, current: envfile.EnvDoc | None) -> dict[str, str]:
    """When the state remembers no ``.env`` value (lost, reset): the values of ``current`` that the
    signature of an unedited docker-compose.yml says ultra-env wrote, by fingerprint (as the state
    keeps them). Nothing when there is no such file."""
    if current is None:
        return {}
    try:
        proof = signed(files.read_text(root / COMPOSE_FILE))
    except UltraError:
        return {}
    if proof is None:
        return {}
    found = {}
    for key, short in proof.env.items():
        entry = current.last(key)
        if entry is not None and entry.value is not None:
            known = envfile.fingerprint(entry.value)
            if _short(known) == short:
                found[key] = known
    return found


def generated_secrets(current: envfile.EnvDoc | None) -> dict[str, str]:
    """Passwords the stack needs: the user's if set, else new random ones."""
    values = current.values() if current else {}
    return {key: values.get(key) or secrets.token_hex(16) for key in GENERATED_SECRETS}


def plan_env(root: Path, current: envfile.EnvDoc | None, desired_text: str, state: State) -> FilePlan:
    path = root / ENV_FILE
    desired = envfile.parse(desired_text, "templates/env.j2 (rendered)")
    merged, changes = envfile.merge(current, desired, state.env or proven_env(root, current))
    new = merged.render()
    old = None if current is None else current.render()
    notes = []
    for change in ("added", "updated", "kept"):
        keys = [c.key for c in changes if c.action == change]
        if keys and (change != "added" or current is not None):
            label = "kept your value of" if change == "kept" else change
            notes.append(f"{label} {', '.join(keys)}")
    if old is None:
        file_action = Action.CREATE
    elif new != old:
        file_action = Action.UPDATE
    elif stat.S_IMODE(os.stat(path).st_mode) != ENV_MODE:
        file_action = Action.UPDATE  # only its mode: rewritten as it is, with the right one
        notes.append(f"mode {stat.S_IMODE(os.stat(path).st_mode):o} → {ENV_MODE:o}")
    else:
        file_action = Action.KEEP
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
    return FilePlan(ENV_FILE, path, old, new, file_action, mode=ENV_MODE, diff=diff, notes=notes, env_written=written)


def apply(root: Path, plans: list[FilePlan], state: State) -> list[str]:
    """Write what the plans say and the state that records it, all or nothing; returns backup paths."""
    backups = [
        str(files.backup(plan.path, state_dir(root) / "backups").relative_to(root))
        for plan in plans
        if plan.action is Action.OVERWRITE and plan.old is not None
    ]
    for plan in plans:
        if plan.name == ENV_FILE:
            state.env = {k: v for k, v in plan.env_written.items() if not envfile.is_secret_key(k)}
    for plan in plans:
        if plan.name != ENV_FILE:
            _sign_again(plan, state.env)
            state.files[plan.name] = digest(plan.new)
    with files.Transaction(journal=journal_path(root), root=root) as txn:
        for plan in plans:
            if plan.writes:
                txn.expect(plan.path, plan.old)
                txn.write(plan.path, plan.new, mode=plan.mode)
        save_state(root, state, txn)
    return backups


def _sign_again(plan: FilePlan, env: dict[str, str]) -> None:
    """The generated file signed with the ``.env`` values written with it now (the plan signed
    it with the ones written last); written also when that is all that changed."""
    proof = signed(plan.new)
    if proof is None or not plan.with_env or plan.action is Action.CONFLICT:
        return
    final = sign(proof.body, env)
    if final != plan.new:
        plan.new = final
        plan.diff = unified_diff(plan.name, plan.old, final)
        if plan.action is Action.KEEP:
            plan.action = Action.UPDATE


def journal_path(root: Path) -> Path:
    return state_journal_path(root)


def recover(root: Path) -> TaskResult | None:
    """What an interrupted run left: its transaction completed or undone, its temp files swept.
    Returns what was done, for the run to say; None when there was nothing, or when the journal
    is not one recovery can act on (it is left as it is, and the configuration task refuses to
    go on, saying why: ``state.load``). Under the project lock."""
    journal = journal_path(root)
    try:
        done = recover_journal(journal, root, JOURNALED, state_dir(root) / "backups")
    except JournalError:
        return None
    except UltraError as exc:
        return warn(RECOVER, f"an interrupted run could not be recovered: {exc.cause}", exc.fix)
    swept = [
        p
        for path in (root / COMPOSE_FILE, root / ENV_FILE, state_dir(root) / STATE_FILE, journal)
        for p in files.remove_stale_temps(path)
    ]
    if done is not None:
        return _recovered(done)
    if swept:
        return changed(RECOVER, f"removed {len(swept)} temp file(s) an interrupted run left")
    return None


def _recovered(done: Recovery) -> TaskResult:
    names = ", ".join(done.names)
    if done.outcome == "completed":
        return changed(RECOVER, f"an interrupted run was recovered: completed its writes ({names})")
    if not done.kept:
        return changed(RECOVER, f"an interrupted run was recovered: put the files back as they were ({names})")
    yours = ", ".join(name for name, _ in done.kept)
    staged = ", ".join(where for _, where in done.kept)
    return warn(
        RECOVER,
        f"an interrupted run was undone: {yours} changed after it was interrupted, so yours is kept and "
        f"every other file is as before that run; what it would have written is in {staged} "
        "(run that command again)",
        "compare what it would have written (.ultra-env/backups/) with yours",
    )
