"""The docs are true of the code: generated parts are current, every doctor check is explained in
troubleshooting.md, and every command block marked runnable runs against the stand-in stack."""

from __future__ import annotations

import importlib.util
import re
import shlex

import pytest
from conftest import REPO, Project, StandIn

DOCS = REPO / "docs"
RUNNABLE = re.compile(r"<!-- runnable -->\s*\n```(?:sh|bash|console)\n(.*?)```", re.S)


def tasks_collection():
    spec = importlib.util.spec_from_file_location("ultra_env_tasks", REPO / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ns


def test_profiles_and_flags_is_generated_and_current() -> None:
    from ultra_env.cli import docgen

    committed = (DOCS / "profiles-and-flags.md").read_text()
    assert committed == docgen.render(tasks_collection()), "stale: run `invoke gen-docs`"


def check_names() -> set[str]:
    """Every name doctor and health can report, as written in the code (f-strings: their fixed part)."""
    names = set()
    for path in sorted((REPO / "ultra_env" / "checks").glob("*.py")):
        source = path.read_text()
        for match in re.finditer(r'(?:result\(\s*\w+,\s*|(?:ok|failed|warn|skipped)\(\s*)f?"([^"{]+)', source):
            names.add(match.group(1).strip())
        for match in re.finditer(r'name = "([^"]+)"', source):
            names.add(match.group(1))
    return {n for n in names if len(n) > 2}


def test_troubleshooting_explains_every_check() -> None:
    text = (DOCS / "troubleshooting.md").read_text()
    names = check_names()
    assert len(names) > 15
    missing = sorted(name for name in names if name not in text)
    assert missing == [], f"troubleshooting.md does not mention: {missing}"


def runnable_blocks() -> list[tuple[str, list[str]]]:
    blocks = []
    for path in sorted(DOCS.glob("*.md")):
        commands = [
            line.strip() for block in RUNNABLE.findall(path.read_text()) for line in block.splitlines() if line.strip()
        ]
        if commands:
            blocks.append((path.name, commands))
    return blocks


def test_runnable_blocks_hold_only_invoke_commands() -> None:
    blocks = runnable_blocks()
    assert any(name == "quickstart.md" for name, _ in blocks), "quickstart.md has no runnable block"
    for name, commands in blocks:
        for command in commands:
            assert command.startswith("invoke ") and not re.search(r"[|;&><`$]", command), (name, command)


@pytest.mark.docker
@pytest.mark.llm
@pytest.mark.parametrize("doc", [name for name, _ in runnable_blocks()])
def test_runnable_commands_work(stack: Project, dmr: StandIn, doc: str) -> None:
    """A newcomer's path: each marked command, in order, in a fresh project, exits 0."""
    commands = dict(runnable_blocks())[doc]
    for command in commands:
        args = shlex.split(command)[1:]
        result = stack.invoke(*args, timeout=900, **dmr.env)
        assert result.returncode == 0, f"{doc}: `{command}` exited {result.returncode}\n{result.output[-3000:]}"


def test_every_doc_is_linked_from_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    for path in DOCS.glob("*.md"):
        assert f"docs/{path.name}" in readme, f"README.md does not link docs/{path.name}"
