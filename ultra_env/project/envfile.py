"""``.env`` files exactly as Docker Compose reads them, merged per key without losing anything.

The grammar is compose-go's (``dotenv/parser.go``, checked against Compose v5.6.1): the file
is a run of statements, not of lines. A statement is ``[export] KEY=value`` or ``KEY: value``
(a key of letters, digits, ``_ . - [ ]``), or a lone ``KEY`` (taken from the environment); ``#``
starts a comment only where a statement would start. Values: unquoted (to the end of the line,
cut at `` #``, expanded), ``'single'`` (literal, over several lines, ``\\'`` for a quote),
``"double"`` (over several lines, escapes, expanded). Expansion (``interpolation``) sees the
process environment first, then the keys above. A later key wins over an earlier one.

A document keeps every byte it was read from: rendering an untouched document gives the file
back as it was, and a merge rewrites only the statements ultra-env owns.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ultra_env.errors import ConfigError
from ultra_env.project.interpolation import TemplateError, interpolate

_PLAIN = re.compile(r"^[A-Za-z0-9_./:@%+,=^-]*\Z")
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASS|PWD|CREDENTIAL|DSN|AUTH|PRIVATE|CERT|SALT|SIGNING)", re.IGNORECASE)
_EXPORT = re.compile(r"export\s+")
_ESCAPE = re.compile(r"\\(?:[abcfnrtv$\"\\]|0\d{0,3})")
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "$": "$$",
}
BOM = "\ufeff"


_NOT_SECRET = frozenset({"PWD", "OLDPWD"})  # the shell's working directories, not passwords


def is_secret_key(key: str) -> bool:
    """Whether a variable's name says it holds a secret (``*_KEY``, ``*PASSWORD*``, …); a name that
    says it holds the *name* of a variable (``key_var``) does not."""
    if key in _NOT_SECRET or key.lower().endswith("key_var"):
        return False
    return bool(_SECRET_NAME.search(key))


def fingerprint(value: str) -> str:
    """What the state keeps of a value ultra-env wrote: enough to know it again, nothing to read."""
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:32]


class EnvFileError(ConfigError):
    pass


@dataclass
class Entry:
    """A piece of the file: a statement (``key`` set; ``value`` None when a lone ``KEY`` is not
    found) or the text between statements (blank space, comments)."""

    raw: str
    key: str | None = None
    value: str | None = None

    @property
    def exported(self) -> bool:
        return self.raw.lstrip().startswith("export")


@dataclass
class EnvDoc:
    entries: list[Entry] = field(default_factory=list)

    def values(self) -> dict[str, str]:
        """Every key's value as Compose resolves it (a later statement wins)."""
        return {e.key: e.value for e in self.entries if e.key is not None and e.value is not None}

    def last(self, key: str) -> Entry | None:
        return next((e for e in reversed(self.entries) if e.key == key), None)

    def render(self) -> str:
        return "".join(e.raw for e in self.entries)


def _is_space(ch: str) -> bool:
    """Go's isSpace of the dotenv parser: Unicode white space but the newline."""
    return ch != "\n" and ch.isspace()


def _key_char(ch: str) -> bool:
    return ch in "_.-[]" or unicodedata.category(ch)[0] in "LN" or _is_space(ch)


def _expand_escapes(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        escape = match.group()
        if escape[1] == "0":
            octal = "\\" + escape[2:]
            digits = escape[2:]
            if len(digits) == 3 and all(d in "01234567" for d in digits) and int(digits, 8) <= 0o377:
                return chr(int(digits, 8))
            return octal
        return _SIMPLE_ESCAPES.get(escape[1], escape)

    return _ESCAPE.sub(one, text)


class _Parser:
    def __init__(self, text: str, name: str, environ: Mapping[str, str]) -> None:
        self.text, self.name, self.environ = text, name, environ
        self.found: dict[str, str] = {}
        self.doc = EnvDoc()

    def error(self, at: int, message: str, fix: str) -> EnvFileError:
        line = self.text.count("\n", 0, at) + 1
        return EnvFileError(f"{self.name}:{line}: {message}", fix)

    def lookup(self, key: str) -> str | None:
        return self.environ[key] if key in self.environ else self.found.get(key)

    def expand(self, key: str, value: str, at: int) -> str:
        """The value expanded; a refusal names the key, never the value (it may be a secret)."""
        try:
            return interpolate(value, self.lookup)
        except TemplateError as exc:
            required = re.match(r"required variable (\S+) is missing a value", str(exc))
            if required:
                raise self.error(
                    at,
                    f"{key} requires {required.group(1)}, which is unset or empty",
                    f"set {required.group(1)} (in the environment or above this line)",
                ) from None
            raise self.error(
                at,
                f"the value of {key} has a ${{...}} Compose cannot read",
                "fix the ${...} (a literal $ is $$), or quote the value with '...'",
            ) from None

    def parse(self) -> EnvDoc:
        text, i = self.text, 0
        while i < len(text):
            start = i
            while i < len(text) and (text[i].isspace() or text[i] == "#"):
                if text[i] == "#":
                    end = text.find("\n", i)
                    i = len(text) if end < 0 else end
                else:
                    i += 1
            if i > start:
                self.doc.entries.append(Entry(text[start:i]))
            if i < len(text):
                i = self.statement(i)
        return self.doc

    def statement(self, start: int) -> int:
        text = self.text
        export = _EXPORT.match(text, start)
        key_start = export.end() if export else start
        while key_start < len(text) and _is_space(text[key_start]):
            key_start += 1
        end = key_start
        while end < len(text) and text[end] not in "=:\n":
            end += 1
        key = text[key_start:end].rstrip()
        if " " in key:
            raise self.error(start, "key cannot contain a space", "remove the space, or comment the line out with #")
        bad = next((ch for ch in key if not _key_char(ch)), None)
        if bad is not None:
            raise self.error(
                start,
                f"unexpected character {bad!r} in variable name {key!r}",
                "use letters, digits and _ . - in names, or comment the line out with #",
            )
        if end == len(text):  # a last line with no separator: compose-go reads it as key "" = the text
            self.add(text[start:], "", key)
            return end
        if text[end] == "\n":
            self.add(text[start:end], key, self.lookup(key))
            return end
        value_start = end + 1
        while value_start < len(text) and _is_space(text[value_start]):
            value_start += 1
        quote = text[value_start : value_start + 1]
        if quote in ("'", '"'):
            close = self.closing(value_start)
            body = text[value_start + 1 : close]
            if quote == "'":
                value = body.replace("\\'", "'")
            else:
                value = self.expand(key, _expand_escapes(body.replace('\\"', '"')), start)
            self.add(text[start : close + 1], key, value)
            return close + 1
        line_end = text.find("\n", value_start)
        line_end = len(text) if line_end < 0 else line_end
        value = text[value_start:line_end].split(" #", 1)[0].rstrip()
        self.add(text[start:line_end], key, self.expand(key, value, start))
        return line_end

    def closing(self, at: int) -> int:
        quote, i = self.text[at], at + 1
        while i < len(self.text):
            if self.text[i] == "\\":
                i += 2
                continue
            if self.text[i] == quote:
                return i
            i += 1
        line = self.text.count("\n", 0, at) + 1
        raise EnvFileError(
            f"{self.name}:{line}: a value opens a {quote} quote that nothing closes",
            f"close the quote (a value may span lines: {quote}…{quote})",
        )

    def add(self, raw: str, key: str, value: str | None) -> None:
        self.doc.entries.append(Entry(raw, key, value))
        if value is not None:
            self.found[key] = value


def parse(text: str, name: str = ".env", environ: Mapping[str, str] | None = None) -> EnvDoc:
    """Read ``text`` as Compose reads a ``.env``; raise EnvFileError naming the line for anything
    Compose refuses. ``environ`` is the process environment that expansions see first."""
    environ = environ or {}
    body = text[len(BOM) :] if text.startswith(BOM) else text
    doc = _Parser(body, name, environ).parse()
    composes = {k: v for k, v in doc.values().items() if k.startswith("COMPOSE_") and k not in environ}
    if composes:  # Compose exports COMPOSE_* keys before it reads the file: expansions see their last value
        doc = _Parser(body, name, {**composes, **environ}).parse()
    if body is not text:
        doc.entries.insert(0, Entry(BOM))
    return doc


def line_of(doc: EnvDoc, key: str) -> int | None:
    """The line the statement Compose uses for ``key`` (its last) starts on."""
    line = 1
    found = None
    for entry in doc.entries:
        if entry.key == key:
            found = line
        line += entry.raw.count("\n")
    return found


def quote(value: str) -> str:
    """The shortest form of ``value`` that Compose reads back exactly."""
    if _PLAIN.match(value):
        return value
    if "'" not in value and not value.endswith("\\") and not any(ch in value for ch in "\n\r"):
        return f"'{value}'"
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("$", "\\$")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def assignment(key: str, value: str) -> str:
    return f"{key}={quote(value)}"


@dataclass(frozen=True)
class KeyChange:
    key: str
    action: str  # "added" | "updated" | "kept"


def _was_ours(last_written: Mapping[str, str], entry: Entry) -> bool:
    """Whether the statement is exactly what ultra-env wrote last: the same value (by fingerprint,
    or as text in a state before version 2) in the very form ultra-env writes it. A line the user
    wrote another way (``${X:-false}``, other quotes) is the user's, whatever it resolves to."""
    known = last_written.get(entry.key or "")
    if known is None or entry.value is None or known not in (fingerprint(entry.value), entry.value):
        return False
    return entry.raw.strip().removeprefix("export").strip() == assignment(entry.key or "", entry.value)


def _ends_open(doc: EnvDoc) -> bool:
    text = doc.render()
    return bool(text) and not text.endswith("\n")


def merge(current: EnvDoc | None, desired: EnvDoc, last_written: Mapping[str, str]) -> tuple[EnvDoc, list[KeyChange]]:
    """Bring ``current`` to ``desired`` without losing what the user set.

    - A missing key is added at the end, with the comment lines that precede it in ``desired``.
    - A key whose value is what ultra-env wrote last time (``last_written``, by fingerprint)
      follows ``desired`` (a profile switch), also to an empty value; a secret-named key that is
      empty is filled.
    - Any other value that differs from a non-empty desired one is the user's and is kept
      (reported as ``kept``); an empty desired value is a placeholder and never reported.
    - Every other byte of the file (keys ultra-env does not know, comments, order, quoting,
      line endings) is left as it was.
    """
    if current is None:
        return EnvDoc([Entry(e.raw, e.key, e.value) for e in desired.entries]), [
            KeyChange(e.key, "added") for e in desired.entries if e.key
        ]
    result = EnvDoc([Entry(e.raw, e.key, e.value) for e in current.entries])
    changes: list[KeyChange] = []
    comments: list[str] = []
    for entry in desired.entries:
        if entry.key is None:
            comments = [line for line in entry.raw.splitlines() if line.strip().startswith("#")]
            continue
        want = entry.value or ""
        have = result.last(entry.key)
        if have is None:
            if _ends_open(result):
                result.entries.append(Entry("\n"))
            if comments and result.render() and not result.render().endswith("\n\n"):
                result.entries.append(Entry("\n"))
            result.entries.append(Entry("".join(c + "\n" for c in comments)))
            result.entries += [Entry(assignment(entry.key, want), entry.key, want), Entry("\n")]
            changes.append(KeyChange(entry.key, "added"))
        elif have.value != want and (want or _was_ours(last_written, have)):
            if _was_ours(last_written, have) or (is_secret_key(entry.key) and not have.value):
                have.raw = ("export " if have.exported else "") + assignment(entry.key, want)
                have.value = want
                changes.append(KeyChange(entry.key, "updated"))
            else:
                changes.append(KeyChange(entry.key, "kept"))
        comments = []
    return result, changes


def masked(doc: EnvDoc, owned: Iterable[str] | None = None, comments: Iterable[str] = ()) -> str:
    """The file's text for diffs and logs, with nothing shown that ultra-env does not own: a key
    it owns (and whose name is not secret) as ultra-env would write it; every other key as
    ``KEY=***``; of the text between them the blank lines and ultra-env's own ``comments``,
    every other line (a commented-out old key, a note) as ``# ***``."""
    known = None if owned is None else set(owned)
    ours = {line.strip() for line in comments}
    out = []
    for entry in doc.entries:
        if entry.key is None:
            out.append(
                "".join(
                    line
                    if not line.strip(BOM + " \t\r\n") or line.strip() in ours
                    else "# ***" + line[len(line.rstrip("\r\n")) :]
                    for line in entry.raw.splitlines(keepends=True)
                )
            )
            continue
        private = is_secret_key(entry.key) or (known is not None and entry.key not in known)
        if private:
            out.append(f"{entry.key}=***" if entry.value else f"{entry.key}=")
        else:
            out.append(assignment(entry.key, entry.value or ""))
    return "".join(out)
