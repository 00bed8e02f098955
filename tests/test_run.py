"""The run engine and its reporters, as data: tasks in, exit code, recap and printed lines out."""

from __future__ import annotations

import io
import json

import pytest

from ultra_env.cli.reporters import HumanReporter, JsonReporter
from ultra_env.engine.redact import Redactor
from ultra_env.engine.run import (
    Options,
    Run,
    Status,
    TaskResult,
    changed,
    failed,
    from_error,
    ok,
    refused,
    skipped,
    warn,
)
from ultra_env.errors import ConfigError, UltraError

SECRET = "sk-unit-9f8e7d6c5b4a"

# tasks -> (exit code, recap)
EXIT_CODES = [
    ([], 0, dict(ok=0, changed=0, failed=0, skipped=0, warn=0)),
    ([ok("a", "fine")], 0, dict(ok=1, changed=0, failed=0, skipped=0, warn=0)),
    ([ok("a", ""), changed("b", ""), skipped("c", "")], 0, dict(ok=1, changed=1, failed=0, skipped=1, warn=0)),
    ([warn("a", "worth knowing")], 0, dict(ok=0, changed=0, failed=0, skipped=0, warn=1)),
    ([ok("a", ""), failed("b", "broken", "fix it")], 1, dict(ok=1, changed=0, failed=1, skipped=0, warn=0)),
    ([refused("configuration", "bad value", "fix it")], 2, dict(ok=0, changed=0, failed=1, skipped=0, warn=0)),
    (
        [failed("a", "broken"), refused("b", "not confirmed", "--yes")],
        2,
        dict(ok=0, changed=0, failed=2, skipped=0, warn=0),
    ),
    ([from_error("c", ConfigError("bad value"))], 2, dict(ok=0, changed=0, failed=1, skipped=0, warn=0)),
    ([from_error("c", UltraError("gone")), ok("d", "")], 1, dict(ok=1, changed=0, failed=1, skipped=0, warn=0)),
]


@pytest.mark.parametrize(("tasks", "code", "recap"), EXIT_CODES)
def test_exit_code_and_recap(tasks: list[TaskResult], code: int, recap: dict[str, int]) -> None:
    out = io.StringIO()
    run = Run("render", Options(json=True), JsonReporter(Redactor(), stream=out))
    for task in tasks:
        run.add(task)
    assert run.finish() == code
    document = json.loads(out.getvalue())
    assert document["recap"] == recap
    assert document["ok"] is (code == 0)
    assert [t["name"] for t in document["tasks"]] == [t.name for t in tasks]
    assert all(t["seconds"] >= 0 for t in document["tasks"])


# (error, fallback fix, about) -> (message, fix, exit code)
FROM_ERROR = [
    (UltraError("daemon gone"), None, None, ("daemon gone", None, 1)),
    (UltraError("daemon gone", "start it"), "invoke doctor", None, ("daemon gone", "start it", 1)),
    (UltraError("daemon gone"), "invoke doctor", None, ("daemon gone", "invoke doctor", 1)),
    (ConfigError("bad port", "set PORT"), None, "backend", ("backend: bad port", "set PORT", 2)),
]


@pytest.mark.parametrize(("exc", "fix", "about", "expected"), FROM_ERROR)
def test_an_error_becomes_a_result_in_one_way(
    exc: UltraError, fix: str | None, about: str | None, expected: tuple[str, str | None, int]
) -> None:
    result = from_error("task", exc, fix, about=about)
    assert result.status is Status.FAILED
    assert (result.msg, result.fix, result.exit_code) == expected


def test_nothing_in_the_package_sets_an_exit_code_beside_a_result() -> None:
    """The exit code comes from the results alone: no flag on the run, no result built by hand from
    an error's parts (a message that adds a diagnosis to the cause is a new message)."""
    import re
    from pathlib import Path

    package = Path(__file__).parent.parent / "ultra_env"
    by_hand = re.compile(r"failed\([^,()]+, exc\.cause[,)]|usage_error")
    found = [
        f"{p.name}:{n}"
        for p in package.rglob("*.py")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if by_hand.search(line)
    ]
    assert found == []


# (options, reporter options, task) -> lines printed for people
HUMAN = [
    (
        {},
        {},
        ok("render templates", "done"),
        ["ok       render templates         done", "recap: ok=1 changed=0 failed=0 skipped=0"],
    ),
    (
        {"check": True},
        {},
        changed(".env", "would update"),
        [
            "changed  .env                     would update",
            "recap: ok=0 changed=1 failed=0 skipped=0 (check mode: nothing was changed)",
        ],
    ),
    (
        {},
        {},
        failed("stack up", "exit 1", "invoke doctor"),
        [
            "failed   stack up                 exit 1",
            "         fix: invoke doctor",
            "recap: ok=0 changed=0 failed=1 skipped=0",
        ],
    ),
    (
        {},
        {"symbols": True},
        TaskResult("daemon", Status.WARN, "old", "upgrade", area="Docker"),
        [
            "Docker",
            "  ! daemon                   old",
            "    fix: upgrade",
            "recap: ok=0 changed=0 failed=0 skipped=0 warn=1",
        ],
    ),
    ({}, {"quiet": True}, ok("config", "listed"), []),
    ({}, {"quiet": True}, failed("config", "no"), ["failed   config                   no"]),
    (
        {"diff": True},
        {"show_diff": True},
        changed(".env", "updated", diff=f"-OPENAI_API_KEY={SECRET}\n+A=1\n"),
        [
            "changed  .env                     updated",
            "         -OPENAI_API_KEY=***",
            "         +A=1",
            "recap: ok=0 changed=1 failed=0 skipped=0",
        ],
    ),
    (
        {},
        {},
        changed(".env", "updated", diff="+A=1\n"),
        ["changed  .env                     updated", "recap: ok=0 changed=1 failed=0 skipped=0"],
    ),
]


@pytest.mark.parametrize(("options", "style", "task", "lines"), HUMAN)
def test_human_reporter_lines(options: dict, style: dict, task: TaskResult, lines: list[str]) -> None:
    out = io.StringIO()
    redactor = Redactor()
    redactor.add(SECRET)
    run = Run("render", Options(**options), HumanReporter(redactor, stream=out, **style))
    run.add(task)
    run.finish()
    assert out.getvalue().splitlines() == lines


def test_json_reporter_masks_and_leaves_out_diffs_unless_asked() -> None:
    for diff, expect_diff in ((False, False), (True, True)):
        out = io.StringIO()
        redactor = Redactor()
        redactor.add(SECRET)
        run = Run("render", Options(json=True, diff=diff), JsonReporter(redactor, stream=out))
        run.add(changed(".env", f"kept {SECRET}", diff=f"+K={SECRET}\n", data={"key": SECRET}))
        run.finish()
        assert SECRET not in out.getvalue()
        (task,) = json.loads(out.getvalue())["tasks"]
        assert task["msg"] == "kept ***" and task["data"] == {"key": "***"}
        assert ("diff" in task) is expect_diff


def test_the_listings_pass_through_the_redactor(tmp_path) -> None:
    """What the quiet commands print is masked too: a password in the runner's URL, a known secret."""
    from pathlib import Path

    from ultra_env.cli import output
    from ultra_env.config.settings import Settings
    from ultra_env.operations.compose import parse_ps

    fixtures = Path(__file__).parent / "fixtures" / "compose"
    settings = Settings(
        profile="local",
        features={"local_llm": True},
        models=[{"name": "ai/smollm2"}],
        model_runner={"host_url": "http://runner:pw-4f3e2d1c@localhost:12434"},
    )
    redactor = Redactor()
    redactor.add("295109722f00")  # as if a container ID were a secret: it is masked wherever it shows
    out = io.StringIO()
    output.print_summary(settings, tmp_path, ok=True, redactor=redactor, stream=out)
    services = parse_ps((fixtures / "ps-all.jsonl").read_text())
    for as_json in (False, True):
        output.print_services(services, "capture", as_json=as_json, redactor=redactor, stream=out)
    progress = output.PullProgress(redactor, out, every_s=0)
    progress(type("Progress", (), {"model": "ai/295109722f00", "done": 1, "total": 2})())
    text = out.getvalue()
    assert "pw-4f3e2d1c" not in text and "http://***@localhost:12434" in text
    assert "295109722f00" not in text and text.count("***") == 3  # the summary, the JSON listing, the progress
    assert "localhost:12434/engines/v1" in text  # the rest of the URL is kept
