"""Recovering an interrupted run: the disk wins over the journal, and only the project is touched.

A switch (`invoke profile cloud` after a first render) is killed by strace between two renames of
its transaction, and then the user edits a file, moves the project folder or copies it; the next
run, even a listing (`invoke config`), must never replace a file that changed since the journal
was written (it keeps it, keeps the staged file in .ultra-env/backups/ and says so), must work
after a move, and must act on the copy alone. A journal someone planted (`../outside`, an
absolute path, a link out of the project) or that is not a journal (not JSON, another shape, a
folder, a FIFO) is refused: a one-line cause, its fix, exit 2, nothing changed anywhere.

And a lost or reset `.ultra-env/state.json`: ultra-env's own unedited files are still its own
(the compose file's signature proves it), a real edit is still a conflict.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import signal
from pathlib import Path

import pytest
from conftest import Project, Result
from support import hostile
from support.hostile import INVOKE, NO_DAEMON, finish, no_crash, refusal, snapshot, spawn

HANG = 90
invoke = functools.partial(hostile.invoke, timeout=HANG, daemon=False)
JOURNAL = ".ultra-env/journal.json"
BACKUPS = ".ultra-env/backups"


# --- helpers -------------------------------------------------------------------------------------


at = hostile.offline_project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "project"
    root.mkdir()
    return at(root)


@pytest.fixture
def references(tmp_path: Path) -> dict[str, str]:
    return hostile.reference_renders(tmp_path, HANG)


def agree(project: Project, references: dict[str, str]) -> str:
    """The three files tell one story (.env's ULTRA_PROFILE, the state's profile, the compose
    file rendered for it); returns the profile."""
    line = next(x for x in project.read(".env").splitlines() if x.startswith("ULTRA_PROFILE="))
    profile = line.split("=", 1)[1]
    state = json.loads(project.read(".ultra-env/state.json"))
    assert (state.get("profile") or "local") == profile, (state.get("profile"), profile)
    assert project.read("docker-compose.yml") == references[profile], f"the compose file is not {profile}'s"
    return profile


def staged(root: Path, name: str) -> list[Path]:
    path = root / name
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def traced(project: Project, inject: str, *args: str) -> Result:
    """`invoke ARGS` under strace with a fault injected (``rename,renameat,renameat2:signal=…``)."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    syscalls = inject.split(":", 1)[0]
    argv = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"trace={syscalls}", "-e", f"inject={inject}"]
    process = spawn([*argv, *INVOKE, *args], project.root, {**project.env, **NO_DAEMON}, text=True, errors="replace")
    out, err = finish(process, f"invoke {' '.join(args)} under strace", HANG)
    if "ptrace" in err and "Operation not permitted" in err:
        pytest.skip("ptrace is not permitted here")
    return Result(process.returncode, out, err)


RENAMES = "rename,renameat,renameat2"


def killed_switch(project: Project, pending: str) -> None:
    """A first render (local), then `invoke profile cloud` killed by SIGKILL at a rename, so that
    the journal is left with ``pending``'s new file staged and not yet renamed."""
    first = invoke(project, "render")
    assert first.returncode == 0, first.output
    when = {"docker-compose.yml": 2, ".env": 3}[pending]  # rename 1 is the journal's own
    run = traced(project, f"{RENAMES}:signal=SIGKILL:when={when}", "profile", "cloud")
    assert run.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL), run.output
    assert (project.root / JOURNAL).is_file(), "the kill left no journal"
    assert staged(project.root, pending), f"{pending} is not waiting for its rename"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the user edits a file after the kill ---------------------------------------------------------

EDITS = {
    ".env": lambda text: text + "MY_OWN_SETTING=kept-after-the-kill\n",
    "docker-compose.yml": lambda text: text.replace("restart: unless-stopped", "restart: always", 1),
}


@pytest.mark.parametrize("command", [("config",), ("render",), ("profiles",)], ids=["config", "render", "profiles"])
@pytest.mark.parametrize("name", list(EDITS))
def test_a_file_edited_after_the_kill_is_kept_and_the_staged_one_backed_up(
    project: Project, references: dict[str, str], name: str, command: tuple[str, ...]
) -> None:
    killed_switch(project, name)
    staged_text = staged(project.root, name)[0].read_bytes()
    edited = EDITS[name](project.read(name))
    project.write(name, edited)
    after = invoke(project, *command)
    no_crash(after)
    assert project.read(name) == edited, f"`invoke {' '.join(command)}` replaced the edited {name}"
    kept = sorted((project.root / BACKUPS).glob(f"{Path(name).name}.interrupted.*"))
    assert [p.read_bytes() for p in kept] == [staged_text], "the staged file was not kept as a backup"
    assert oct(kept[0].stat().st_mode & 0o777) == "0o600"
    assert not (project.root / JOURNAL).exists()
    # said by every command, the listings too (a warning: the user has something to look at)
    assert f"{name} changed after it was interrupted" in after.stdout, after.stdout
    assert kept[0].relative_to(project.root).as_posix() in after.stdout, after.stdout
    # undone: every other file is as before the switch, and the next switch merges the edit
    if name == ".env":
        assert agree(project, references) == "local"
        switch = invoke(project, "profile", "cloud")
        assert switch.returncode == 0, switch.output
        assert "MY_OWN_SETTING=kept-after-the-kill" in project.read(".env")
        assert agree(project, references) == "cloud"
    else:
        assert "ULTRA_PROFILE=local" in project.read(".env")
        conflict = invoke(project, "profile", "cloud")  # the user's edit is a conflict, as it should be
        assert conflict.returncode == 1 and "edited since ultra-env last wrote it" in conflict.stdout
        assert project.read(name) == edited


def test_an_unedited_project_is_completed_as_before(project: Project, references: dict[str, str]) -> None:
    killed_switch(project, ".env")
    after = invoke(project, "render")
    assert after.returncode == 0, after.output
    assert "an interrupted run was recovered: completed its writes" in after.stdout, after.stdout
    assert agree(project, references) == "cloud"
    assert not (project.root / BACKUPS).exists()


# --- the folder moved or copied after the kill ----------------------------------------------------


def test_the_folder_moved_after_the_kill(project: Project, references: dict[str, str], tmp_path: Path) -> None:
    killed_switch(project, ".env")
    moved = at(tmp_path / "moved")
    project.root.rename(moved.root)
    after = invoke(moved, "render")
    no_crash(after)
    assert after.returncode == 0, after.output
    assert "edited since" not in after.output, after.output
    assert "an interrupted run was recovered: completed its writes" in after.stdout, after.stdout
    assert agree(moved, references) == "cloud"
    assert staged(moved.root, ".env") == [] and not (moved.root / JOURNAL).exists()


@pytest.mark.parametrize("command", ["render", "config"])
def test_a_copy_recovers_itself_and_never_the_original(
    project: Project, references: dict[str, str], tmp_path: Path, command: str
) -> None:
    killed_switch(project, ".env")
    copy = at(tmp_path / "copy")
    shutil.copytree(project.root, copy.root, symlinks=True)
    (copy.root / ".ultra-env" / "lock").unlink(missing_ok=True)
    original = snapshot(project.root)
    after = invoke(copy, command)
    no_crash(after)
    assert after.returncode == 0, after.output
    assert snapshot(project.root) == original, "a run in the copy changed the original project"
    assert agree(copy, references) == "cloud"
    assert not (copy.root / JOURNAL).exists()
    # the original still recovers itself
    back = invoke(project, "render")
    assert back.returncode == 0 and "completed its writes" in back.stdout, back.output
    assert agree(project, references) == "cloud"


# --- faults while recovering or undoing ---------------------------------------------------------


def test_killed_while_undoing_the_next_run_still_undoes(project: Project, references: dict[str, str]) -> None:
    killed_switch(project, ".env")
    edited = project.read(".env") + "MINE=1\n"
    project.write(".env", edited)
    # the recovery decides to undo, writes that down, puts docker-compose.yml back, keeps .env
    # aside, and is killed as it removes the staged state (its first unlink)
    run = traced(project, "unlink,unlinkat:signal=SIGKILL:when=1", "render")
    assert run.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL), run.output
    assert json.loads(project.read(JOURNAL)).get("undo") is True
    assert staged(project.root, ".ultra-env/state.json") and not staged(project.root, ".env")
    after = invoke(project, "render")
    assert after.returncode == 0, after.output
    assert "put the files back as they were" in after.stdout, after.stdout
    assert project.read(".env") == edited
    assert agree(project, references) == "local"  # not the cloud state with local files


def test_a_second_write_fault_while_undoing_is_finished_by_the_next_run(
    project: Project, references: dict[str, str]
) -> None:
    first = invoke(project, "render")
    assert first.returncode == 0, first.output
    # renames: 1 the journal, 2 docker-compose.yml, 3 .env (fails), 4 the journal says "undo",
    # 5 docker-compose.yml put back (fails too)
    run = traced(project, f"{RENAMES}:error=EACCES:when=3+2", "profile", "cloud")
    no_crash(run)
    assert run.returncode == 1, run.output
    assert "cannot put back docker-compose.yml" in run.stdout and "fix:" in run.stdout, run.stdout
    after = invoke(project, "render")
    assert after.returncode == 0, after.output
    assert "put the files back as they were" in after.stdout, after.stdout
    assert agree(project, references) == "local"
    assert not (project.root / JOURNAL).exists()


def test_a_write_fault_that_cannot_even_be_journaled_is_completed_by_the_next_run(
    project: Project, references: dict[str, str]
) -> None:
    first = invoke(project, "render")
    assert first.returncode == 0, first.output
    run = traced(project, f"{RENAMES}:error=EACCES:when=3+", "profile", "cloud")  # .env, and every rename after
    no_crash(run)
    assert run.returncode == 1, run.output
    assert "the next run completes or undoes this write" in run.stdout, run.stdout
    after = invoke(project, "render")
    assert after.returncode == 0, after.output
    assert "completed its writes" in after.stdout, after.stdout
    assert agree(project, references) == "cloud"


# --- journals ultra-env did not write ------------------------------------------------------------


@pytest.fixture
def rendered(project: Project) -> Project:
    first = invoke(project, "render", "--profile", "mock")
    assert first.returncode == 0, first.output
    return project


def entry(target: str, tmp: str, old: str | None = None, before: str | None = None) -> dict:
    return {"target": target, "tmp": tmp, "old": old, "before": before, "after": "0" * 64}


def plant(project: Project, outside: Path, case: str) -> None:
    """A journal naming a file outside the project, in one of several ways, with its staged file."""
    victim = outside / "victim"
    journal = project.root / JOURNAL
    if case == "../outside":
        (outside / ".victim.x.tmp").write_text("planted\n")
        body: object = {"version": 2, "entries": [entry("../outside/victim", "../outside/.victim.x.tmp")]}
    elif case == "an absolute path":
        (outside / ".victim.x.tmp").write_text("planted\n")
        body = {"version": 2, "entries": [entry(str(victim), str(outside / ".victim.x.tmp"))]}
    elif case == "a link to a file outside":
        (project.root / ".env").unlink()
        (project.root / ".env").symlink_to(victim)
        (project.root / "..env.x.tmp").write_text("planted\n")
        body = {"version": 2, "entries": [entry(".env", "..env.x.tmp", before=digest(victim))]}
    elif case == "a folder linked outside":
        os.symlink(outside, project.root / "elsewhere")
        (outside / ".victim.x.tmp").write_text("planted\n")
        body = {"version": 2, "entries": [entry("elsewhere/victim", "elsewhere/.victim.x.tmp")]}
    elif case == "a staged file outside":
        (outside / ".docker-compose.yml.x.tmp").write_text("planted\n")
        before = digest(project.root / "docker-compose.yml")
        body = {
            "version": 2,
            "entries": [entry("docker-compose.yml", "../outside/.docker-compose.yml.x.tmp", None, before)],
        }
    elif case == "a staged file that is a link":
        os.symlink(victim, project.root / ".docker-compose.yml.x.tmp")
        before = digest(project.root / "docker-compose.yml")
        body = {"version": 2, "entries": [entry("docker-compose.yml", ".docker-compose.yml.x.tmp", None, before)]}
    elif case == "a project file ultra-env does not write":
        (project.root / "README.md").write_text("mine\n")
        (project.root / ".README.md.x.tmp").write_text("planted\n")
        body = {
            "version": 2,
            "entries": [entry("README.md", ".README.md.x.tmp", None, digest(project.root / "README.md"))],
        }
    elif case == "the journal of an older ultra-env (absolute paths)":
        (outside / ".victim.x.tmp").write_text("planted\n")
        body = {"entries": [{"target": str(victim), "tmp": str(outside / ".victim.x.tmp"), "old": None}]}
    else:
        raise AssertionError(case)
    journal.write_text(json.dumps(body))


PLANTED = [
    "../outside",
    "an absolute path",
    "a link to a file outside",
    "a folder linked outside",
    "a staged file outside",
    "a staged file that is a link",
    "a project file ultra-env does not write",
    "the journal of an older ultra-env (absolute paths)",
]


@pytest.mark.parametrize("command", ["config", "render"])
@pytest.mark.parametrize("case", PLANTED)
def test_a_planted_journal_is_refused_and_nothing_outside_is_touched(
    rendered: Project, tmp_path: Path, case: str, command: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("the user's file outside the project\n")
    plant(rendered, outside, case)
    before, around = snapshot(rendered.root), snapshot(outside)
    result = invoke(rendered, command)
    cause, fix = refusal(result, before, rendered.root)
    assert snapshot(outside) == around, "a file outside the project was changed"
    assert JOURNAL in cause and "nothing was recovered or changed" in cause, cause
    assert f"rm {JOURNAL}" in fix, fix


NOT_JOURNALS: dict[str, object] = {
    "not JSON": b"{not json",
    "bytes": b"\xff\xfe\x00garbage",
    "empty": b"",
    "a list": [],
    "no entries": {"version": 2, "entries": []},
    "an entry of the wrong shape": {"version": 2, "entries": [{"target": ".env"}]},
    "a number for a path": {"version": 2, "entries": [entry(".env", "..env.x.tmp") | {"tmp": 7}]},
    "a digest that is not one": {"version": 2, "entries": [entry(".env", "..env.x.tmp") | {"after": "x"}]},
    "a newer version": {"version": 99, "entries": [entry(".env", "..env.x.tmp")]},
    "nested 100 000 deep": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("case", list(NOT_JOURNALS) + ["a folder", "a FIFO", "a link"])
def test_a_journal_that_is_not_one_is_refused_and_kept(rendered: Project, tmp_path: Path, case: str) -> None:
    journal = rendered.root / JOURNAL
    (rendered.root / "..env.x.tmp").write_text("A=staged\n")  # what a real journal would name: kept too
    if case == "a folder":
        journal.mkdir()
    elif case == "a FIFO":
        os.mkfifo(journal)
    elif case == "a link":
        (tmp_path / "elsewhere.json").write_text("{}")
        journal.symlink_to(tmp_path / "elsewhere.json")
    else:
        body = NOT_JOURNALS[case]
        journal.write_bytes(body if isinstance(body, bytes) else json.dumps(body).encode())
    before = snapshot(rendered.root)
    for command in ("config", "render", "profile"):
        args = ("profile", "cloud") if command == "profile" else (command,)
        cause, fix = refusal(invoke(rendered, *args), before, rendered.root)
        assert JOURNAL in cause and f"rm {JOURNAL}" in fix, (cause, fix)
    # the fix it gives works
    shutil.rmtree(journal) if case == "a folder" else journal.unlink()
    again = invoke(rendered, "render")
    assert again.returncode == 0, again.output


# --- a lost or reset state -----------------------------------------------------------------------


def state_lost(project: Project, how: str) -> None:
    if how == "removed":
        (project.root / ".ultra-env" / "state.json").unlink()
    elif how == "the whole folder removed":
        shutil.rmtree(project.root / ".ultra-env")
    elif how == "corrupt, then removed as the fix says":
        (project.root / ".ultra-env" / "state.json").write_text("{corrupt")
        refused = invoke(project, "profile", "cloud")
        assert refused.returncode == 2 and "state.json is corrupt" in refused.stdout, refused.output
        (project.root / ".ultra-env" / "state.json").unlink()
    elif how == "reset to an empty state":
        (project.root / ".ultra-env" / "state.json").write_text('{"version": 2}\n')
    else:
        raise AssertionError(how)


LOST = ["removed", "the whole folder removed", "corrupt, then removed as the fix says", "reset to an empty state"]


@pytest.mark.parametrize("how", LOST)
def test_a_lost_state_is_no_conflict_for_files_ultra_env_wrote(
    project: Project, references: dict[str, str], how: str
) -> None:
    first = invoke(project, "render")
    assert first.returncode == 0, first.output
    state_lost(project, how)
    switch = invoke(project, "profile", "cloud")
    no_crash(switch)
    assert switch.returncode == 0, switch.output
    assert "edited since" not in switch.output and "kept your value" not in switch.output, switch.output
    assert agree(project, references) == "cloud"
    again = invoke(project, "render", "--json")
    assert again.returncode == 0 and again.json()["recap"]["changed"] == 0, again.stdout


@pytest.mark.parametrize("how", LOST)
def test_a_lost_state_still_finds_the_users_edits(project: Project, how: str) -> None:
    first = invoke(project, "render")
    assert first.returncode == 0, first.output
    env = project.read(".env").replace("ENABLE_MOCK_LLM=false", "ENABLE_MOCK_LLM=no")
    project.write(".env", env)
    state_lost(project, how)
    switch = invoke(project, "profile", "mock")
    assert switch.returncode == 0, switch.output
    assert "kept your value of ENABLE_MOCK_LLM" in switch.stdout, switch.stdout
    assert "updated ULTRA_PROFILE" in switch.stdout, switch.stdout
    edited = project.read("docker-compose.yml").replace("restart: unless-stopped", "restart: always", 1)
    project.write("docker-compose.yml", edited)
    state_lost(project, how)
    conflict = invoke(project, "profile", "cloud")
    assert conflict.returncode == 1 and "edited since ultra-env last wrote it" in conflict.stdout, conflict.output
    assert project.read("docker-compose.yml") == edited


def test_recovering_says_so_in_json(project: Project) -> None:
    killed_switch(project, ".env")
    project.write(".env", project.read(".env") + "MINE=1\n")
    result: Result = invoke(project, "render", "--json")
    assert result.returncode == 0, result.output
    recover = next(t for t in result.json()["tasks"] if t["name"] == "recover")
    assert ".env changed after it was interrupted" in recover["msg"] and BACKUPS in recover["msg"], recover
    assert recover["status"] == "warn" and recover["fix"], recover
