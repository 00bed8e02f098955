"""``.env`` parsing, quoting and the per-key merge that never loses a user's value."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ultra_env.envfile import EnvFileError, assignment, masked, merge, parse, quote


def test_parse_keeps_every_line_and_reads_values_like_compose() -> None:
    text = (
        "# a comment\n\nA=1\nexport B='x y' # note\nC=\"a\\nb\\$c\"\nD=foo #bar\nE=foo#bar\nF=\nG=a=b=c\n"
        "H='#not a comment'\nI=\"it's\"\n"
    )
    doc = parse(text)
    assert doc.render() == text
    assert doc.values() == {
        "A": "1", "B": "x y", "C": "a\nb$c", "D": "foo", "E": "foo#bar", "F": "", "G": "a=b=c",
        "H": "#not a comment", "I": "it's",
    }


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("A=1\nnot an assignment\n", ".env:2: not KEY=value"),
        ("A=1\nA=2\n", ".env:2: A is set twice (first on line 1)"),
        ("\ufeffA=1\n", "byte-order mark"),
        ("A=1\r\nB=2\r\n", "CRLF"),
        ("A='open\n", ".env:1: unterminated single quote"),
        ('A="open\n', ".env:1: unterminated double quote"),
        ("A='x' trailing\n", "text after the closing quote"),
        ("1A=2\n", "is not a variable name"),
        ("A\x00=1\n", "NUL"),
    ],
)
def test_malformed_files_name_the_line_and_the_fix(text: str, fragment: str) -> None:
    with pytest.raises(EnvFileError) as caught:
        parse(text)
    assert fragment in caught.value.cause
    assert caught.value.fix
    assert caught.value.exit_code == 2


TRICKY = ["plain", "", "a b", "it's", "say \"hi\"", "$HOME", "${X:-y}", "a#b", "a #b", "x=y", "multi\nline",
          "tab\there", "back\\slash", "ünïcødé ✓", "'quoted'", "both ' and \" and $"]


@pytest.mark.parametrize("value", TRICKY)
def test_quote_round_trips_through_our_parser(value: str) -> None:
    assert parse(assignment("K", value) + "\n").values()["K"] == value


@pytest.mark.compose
def test_compose_reads_written_values_verbatim(tmp_path: Path) -> None:
    """The real Compose reads every value back exactly as ultra-env wrote it."""
    values = {f"V{i}": value for i, value in enumerate(TRICKY)}
    (tmp_path / ".env").write_text("".join(assignment(k, v) + "\n" for k, v in values.items()))
    env_lines = "".join(f"      {k}: ${{{k}}}\n" for k in values)
    (tmp_path / "docker-compose.yml").write_text(
        f"services:\n  s:\n    image: busybox\n    env_file: [.env]\n    environment:\n{env_lines}"
    )
    done = subprocess.run(["docker", "compose", "config", "--format", "json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)["services"]["s"]["environment"]
    # `config` prints a Compose file, where a literal $ is written $$.
    assert {k: seen[k].replace("$$", "$") for k in values} == values


def test_merge_without_a_file_takes_the_template() -> None:
    desired = parse("# c\nA=1\n")
    result, changes = merge(None, desired, {})
    assert result.render() == "# c\nA=1\n"
    assert [(c.key, c.action) for c in changes] == [("A", "added")]


def test_merge_keeps_user_values_comments_and_order() -> None:
    current = parse("# mine\nOPENAI_API_KEY=sk-mine\nCUSTOM=1\nUSE_MODEL_RUNNER=true\nPORT=9999\n")
    desired = parse("# header\nUSE_MODEL_RUNNER=false\nOPENAI_API_KEY=\nPORT=8000\n# new\nNEW=x\n")
    last = {"USE_MODEL_RUNNER": "true", "PORT": "8000"}
    result, changes = merge(current, desired, last)
    assert result.render() == (
        "# mine\nOPENAI_API_KEY=sk-mine\nCUSTOM=1\nUSE_MODEL_RUNNER=false\nPORT=9999\n\n# new\nNEW=x\n"
    )
    assert {(c.key, c.action) for c in changes} == {("USE_MODEL_RUNNER", "updated"), ("PORT", "kept"), ("NEW", "added")}


def test_merge_fills_an_empty_secret_but_never_replaces_one() -> None:
    desired = parse("OPENAI_API_KEY=sk-from-env\nREDIS_PASSWORD=generated\n")
    empty, changes = merge(parse("OPENAI_API_KEY=\nREDIS_PASSWORD=\n"), desired, {})
    assert empty.values() == {"OPENAI_API_KEY": "sk-from-env", "REDIS_PASSWORD": "generated"}
    kept, changes = merge(parse("OPENAI_API_KEY=sk-mine\nREDIS_PASSWORD=mine\n"), desired, {})
    assert kept.values() == {"OPENAI_API_KEY": "sk-mine", "REDIS_PASSWORD": "mine"}
    assert {c.action for c in changes} == {"kept"}


def test_merge_is_idempotent() -> None:
    current = parse("A=1\n")
    desired = parse("A=1\nB=2\n")
    once, _ = merge(current, desired, {})
    twice, changes = merge(once, desired, {"A": "1", "B": "2"})
    assert twice.render() == once.render()
    assert changes == []


def test_masked_hides_secret_values_only() -> None:
    doc = parse("OPENAI_API_KEY=sk-123456\nREDIS_PASSWORD=hunter22\nUSER=ultra\nEMPTY_TOKEN=\n")
    text = masked(doc)
    assert "sk-123456" not in text and "hunter22" not in text
    assert "USER=ultra" in text and "EMPTY_TOKEN=\n" in text


@pytest.mark.parametrize(("value", "form"), [("abc", "abc"), ("a b", "'a b'"), ("it's", '"it\'s"'), ("$x", "'$x'"),
                                             ("\n", '"\\n"'), ("x\n", '"x\\n"')])
def test_quote_picks_the_simplest_form(value: str, form: str) -> None:
    assert quote(value) == form
