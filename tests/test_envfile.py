"""``.env`` parsing, quoting and the per-key merge that never loses a user's value."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.oracle import compose, compose_values

from ultra_env.project.envfile import EnvFileError, assignment, fingerprint, masked, merge, parse, quote


def test_parse_keeps_every_line_and_reads_values_like_compose() -> None:
    text = (
        "# a comment\n\nA=1\nexport B='x y' # note\nC=\"a\\nb\\$c\"\nD=foo #bar\nE=foo#bar\nF=\nG=a=b=c\n"
        "H='#not a comment'\nI=\"it's\"\n"
    )
    doc = parse(text)
    assert doc.render() == text
    assert doc.values() == {
        "A": "1",
        "B": "x y",
        "C": "a\nb$c",
        "D": "foo",
        "E": "foo#bar",
        "F": "",
        "G": "a=b=c",
        "H": "#not a comment",
        "I": "it's",
    }


# Vectors verified against `docker compose config` (Compose v5.6.1, compose-go v2.16.1): the id is
# the row of the verification run that established what Compose makes of the text.
COMPOSE_READS = [
    ("L02", "export A=1\n", {}, {"A": "1"}),
    ("L04", "exportA=1\n", {}, {"exportA": "1"}),
    ("L06", "A = 1\nB\t=\t2\n", {}, {"A": "1", "B": "2"}),
    ("L09", "A\nB=2\n", {}, {"B": "2"}),
    ("L10", "A\nB=2\n", {"A": "fromproc"}, {"A": "fromproc", "B": "2"}),
    ("L11", "B=2\nA", {}, {"B": "2", "": "A"}),
    ("L13", "a.b=1\nx-y=2\na[0]=3\n1A=4\n_=5\n", {}, {"a.b": "1", "x-y": "2", "a[0]": "3", "1A": "4", "_": "5"}),
    ("L14", "\u00c9=1\n", {}, {"\u00c9": "1"}),
    ("L19", "# c1\n   # c2\n\t#c3\nA=1\n#B=2\n", {}, {"A": "1"}),
    ("L20", "A=1 # c\nB=1# c\nC=1\t# c\n", {}, {"A": "1", "B": "1# c", "C": "1\t# c"}),
    ("L21", "A=#x\nB= #y\n", {}, {"A": "#x", "B": "#y"}),
    (
        "L22",
        "A=\"1 # q\"\nB='1 # s'\nC=\"x\" # after\nD='y'#after\n",
        {},
        {"A": "1 # q", "B": "1 # s", "C": "x", "D": "y"},
    ),
    (
        "L24",
        "A=1\r\nB=\"q\"\r\nC='s'\r\nD\r\nE=x y \r\n",
        {"D": "pd"},
        {"A": "1", "B": "q", "C": "s", "D": "pd", "E": "x y"},
    ),
    ("L25", "\ufeffA=1\n", {}, {"A": "1"}),
    ("L27", "A: 1\nB:2\nC : 3\n", {}, {"A": "1", "B": "2", "C": "3"}),
    ("L28", "A=a=b:c\nB:x=y\n", {}, {"A": "a=b:c", "B": "x=y"}),
    ("L29", "A\tB=1\n", {}, {"A\tB": "1"}),
    ("L34", "A=1\rB=2\n", {}, {"A": "1\rB=2"}),
    ("V02", "A=a\\nb\\tc\n", {}, {"A": "a\\nb\\tc"}),
    ("V05", "B=1\nA='$B ${B} \\n'\n", {}, {"B": "1", "A": "$B ${B} \\n"}),
    ("V06", "A='l1\nl2'\nB=2\n", {}, {"A": "l1\nl2", "B": "2"}),
    ("V07", "A='it\\'s'\nB='a\\\\b'\n", {}, {"A": "it's", "B": "a\\\\b"}),
    ("V08", 'A="a\\nb\\tc"\n', {}, {"A": "a\nb\tc"}),
    ("V09", 'A="q\\"q"\nC="end\\\\"\n', {}, {"A": 'q"q', "C": "end\\"}),
    ("V10", 'B=1\nA="\\$B"\nC="$$B"\n', {}, {"B": "1", "A": "$B", "C": "$B"}),
    ("V12", 'A="\\c\\x41\\e"\n', {}, {"A": "\\c\\x41\\e"}),
    ("V13", 'A="\\0101"\nB="\\0"\nC="\\012"\n', {}, {"A": "A", "B": "\\", "C": "\\12"}),
    ("V14", 'A="l1\nl2"\nB=2\n', {}, {"A": "l1\nl2", "B": "2"}),
    ("V15", "A=\"x\" B=2\nC='y'D=3\n", {}, {"A": "x", "B": "2", "C": "y", "D": "3"}),
    ("V16", 'A="x"junk\nB=2\n', {"junk": "J"}, {"A": "x", "junk": "J", "B": "2"}),
    ("I01", "B=1\nA=$B\nC=${B}\nD=pre${B}post\n", {}, {"B": "1", "A": "1", "C": "1", "D": "pre1post"}),
    ("I02", "B=1\nA=$Bx\nC=$B.x\n", {}, {"B": "1", "A": "", "C": "1.x"}),
    ("I04", "E=\nA=${U-d}\nB=${E-d}\n", {}, {"E": "", "A": "d", "B": ""}),
    (
        "I05",
        "S=x\nE=\nA=${S:+alt}\nB=${E:+alt}\nC=${E+alt}\nD=${U+alt}\n",
        {},
        {"S": "x", "E": "", "A": "alt", "B": "", "C": "alt", "D": ""},
    ),
    ("I10", "B=b\nA=${U:-${V:-deep}}\nD=${U:-x${B}y}\n", {}, {"B": "b", "A": "deep", "D": "xby"}),
    ("I12", "B=1\nA=$$B\nC=a$$\n", {}, {"B": "1", "A": "$B", "C": "a$"}),
    ("I13", "B=1\nA=\\$B\n", {}, {"B": "1", "A": "\\1"}),
    ("I14", "A=${B}\nB=1\n", {}, {"A": "", "B": "1"}),
    ("I15", "A=$1\nB=a$\nC=$-x\nD=$ x\n", {}, {"A": "$1", "B": "a$", "C": "$-x", "D": "$ x"}),
    ("I22", "B=file\nA=${B}\n", {"B": "proc"}, {"B": "file", "A": "proc"}),
    ("I26", "B=$$C\nC=zzz\nA=${B}\n", {}, {"B": "$C", "C": "zzz", "A": "$C"}),
    ("I27", "A=${U:-a}b}\n", {}, {"A": "ab}"}),
    ("D02", "A=1\nA=${A}2\n", {}, {"A": "12"}),
    ("D06", "A=1\nB=${A}\nA=2\n", {}, {"A": "2", "B": "1"}),
    ("D07", "COMPOSE_A=1\nB=${COMPOSE_A}\nCOMPOSE_A=2\n", {}, {"COMPOSE_A": "2", "B": "2"}),
    ("X02", "A=a\x00b\n", {}, {"A": "a\x00b"}),
]


@pytest.mark.parametrize(("vector", "text", "environ", "values"), COMPOSE_READS, ids=[v[0] for v in COMPOSE_READS])
def test_read_as_compose_reads_it(vector: str, text: str, environ: dict, values: dict) -> None:
    doc = parse(text, environ=environ)
    assert doc.values() == values
    assert doc.render() == text  # every byte kept


COMPOSE_REFUSES = [
    ("L15", "A B=1\n", ".env:1: key cannot contain a space"),
    ("L16", "\nA$B=1\n", ".env:2: unexpected character '$' in variable name"),
    ("L26", "A=1\n\ufeffB=2\n", ".env:2: unexpected character"),
    ("V17", 'A="x" y z\n', "key cannot contain a space"),
    # Compose names the line of the end of the file, and echoes the value: ultra-env names the line
    # the quote opens on, and never the value (it may be a key).
    ("V20", 'A="abc\nB=1\n', '.env:1: a value opens a " quote that nothing closes'),
    ("V22", 'A="abc\\"\n', "quote that nothing closes"),
    ("I06", "A=${U:?need U}\n", ".env:1: A requires U, which is unset or empty"),
    ("I16", "A=${}\n", ".env:1: the value of A has a ${...} Compose cannot read"),
    ("I18", "A=${B:x}\n", "Compose cannot read"),
    ("I19", "A=${U:- #x}\n", "Compose cannot read"),
    ("I21", 'A="${U:-a\\nb}"\n', "Compose cannot read"),
    ("X03", "A\x00B=1\n", "unexpected character"),
]


@pytest.mark.parametrize(("vector", "text", "fragment"), COMPOSE_REFUSES, ids=[v[0] for v in COMPOSE_REFUSES])
def test_what_compose_refuses_is_refused_naming_the_line(vector: str, text: str, fragment: str) -> None:
    with pytest.raises(EnvFileError) as caught:
        parse(text)
    assert fragment in caught.value.cause and caught.value.fix
    assert caught.value.exit_code == 2


TRICKY = [
    "plain",
    "",
    "a b",
    "it's",
    'say "hi"',
    "$HOME",
    "${X:-y}",
    "a#b",
    "a #b",
    "x=y",
    "multi\nline",
    "tab\there",
    "back\\slash",
    "ünïcødé ✓",
    "'quoted'",
    "both ' and \" and $",
]


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
    done = subprocess.run(
        [*compose(), "config", "--format", "json"], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
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
    last = {"USE_MODEL_RUNNER": fingerprint("true"), "PORT": fingerprint("8000")}
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
    twice, changes = merge(once, desired, {"A": fingerprint("1"), "B": fingerprint("2")})
    assert twice.render() == once.render()
    assert changes == []


def test_masked_hides_secret_values_only() -> None:
    doc = parse("OPENAI_API_KEY=sk-123456\nREDIS_PASSWORD=hunter22\nUSER=ultra\nEMPTY_TOKEN=\n")
    text = masked(doc)
    assert "sk-123456" not in text and "hunter22" not in text
    assert "USER=ultra" in text and "EMPTY_TOKEN=\n" in text


@pytest.mark.parametrize(
    ("value", "form"),
    [("abc", "abc"), ("a b", "'a b'"), ("it's", '"it\'s"'), ("$x", "'$x'"), ("\n", '"\\n"'), ("x\n", '"x\\n"')],
)
def test_quote_picks_the_simplest_form(value: str, form: str) -> None:
    assert quote(value) == form


def test_a_merge_rewrites_only_what_ultra_env_owns_byte_for_byte() -> None:
    text = (
        '\ufeff# mine\r\nexport PEM="-----BEGIN KEY-----\nabc\n-----END KEY-----"\r\n'
        "# OLD_KEY=sk-old-one\nUSE_MODEL_RUNNER=true\nweird.key: 'v'\nLAST=1"
    )
    current = parse(text)
    desired = parse("USE_MODEL_RUNNER=false\nNEW=x\n")
    result, changes = merge(current, desired, {"USE_MODEL_RUNNER": fingerprint("true")})
    assert result.render() == text.replace("USE_MODEL_RUNNER=true", "USE_MODEL_RUNNER=false") + "\nNEW=x\n"
    assert result.values()["PEM"] == "-----BEGIN KEY-----\nabc\n-----END KEY-----"
    shown = masked(result, owned=["USE_MODEL_RUNNER", "NEW"])
    assert "sk-old-one" not in shown and "OLD_KEY" not in shown and "# ***" in shown and "BEGIN KEY" not in shown
    assert "weird.key=***" in shown and "USE_MODEL_RUNNER=false" in shown


KEYS = [f"K{i}" for i in range(4)]
_SAFE = st.text(st.sampled_from("abcXYZ019 _-./:@%+,#"), max_size=8)


@st.composite
def env_files(draw: st.DrawFn) -> str:
    """`.env` texts of every statement form: export, `=` or `:`, unquoted, single and double quotes
    (escapes, several lines), expansions of earlier keys and of unset ones with defaults, comments,
    blank lines, CRLF."""
    lines = []
    for key in draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=6)):
        ref = draw(st.sampled_from([*KEYS, "UNSET"]))
        value = draw(
            st.one_of(
                _SAFE.map(lambda v: v.strip(" #") and v.replace(" #", "#")),
                _SAFE.map(lambda v: f"'{v}'"),
                _SAFE.map(lambda v: f"'{v}\n{v}'"),
                st.tuples(_SAFE, st.sampled_from(["\\n", "\\t", '\\"', "\\\\", "\\$", "$$", "\n"]), _SAFE).map(
                    lambda t: '"' + t[0].replace("#", "") + t[1] + t[2] + '"'
                ),
                st.sampled_from(
                    [
                        f"${ref}",
                        f"${{{ref}}}",
                        f"${{{ref}:-dflt}}",
                        f"${{{ref}-x}}",
                        f"${{{ref}:+alt}}",
                        f'"${{{ref}:-a b}}"',
                        f"pre${{{ref}}}post",
                    ]
                ),
            )
        )
        prefix = draw(st.sampled_from(["", "export ", "  "]))
        separator = draw(st.sampled_from(["=", ": ", " = "]))
        lines.append(f"{prefix}{key}{separator}{value}")
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "# a comment", "   # indented", "#K0=commented"])))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(lines) + newline


@pytest.mark.compose
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=env_files())
def test_compose_is_the_oracle(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    """Differential: what ultra-env reads from a generated `.env` is what `docker compose config`
    resolves from it, value for value (or both refuse it)."""
    theirs = compose_values(tmp_path_factory.mktemp("oracle"), text.encode(), KEYS, {})
    try:
        ours = parse(text).values()
    except EnvFileError:
        assert theirs is None, f"ultra-env refused what Compose reads: {text!r}"
        return
    assert theirs is not None, f"Compose refused what ultra-env reads: {text!r}"
    assert {k: v for k, v in ours.items() if k in KEYS} == theirs, repr(text)
