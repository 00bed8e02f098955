"""``.env`` files: parse, merge per key without losing the user's values, and write back.

The format is the one Docker Compose reads: ``KEY=value`` lines, optional ``export``, ``#``
comments, blank lines. Unquoted values end at `` #``; ``'single'`` quotes are literal;
``"double"`` quotes know ``\\\\``, ``\\"``, ``\\n``, ``\\t`` and ``\\$``. Compose expands ``$VAR`` in
unquoted and double-quoted values, so values are written in a form it reads back verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ultra_env.errors import ConfigError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LINE = re.compile(r"^\s*(?P<export>export\s+)?(?P<key>[^=\s]+)\s*=(?P<rest>.*)$")
_PLAIN = re.compile(r"^[A-Za-z0-9_./:@%+,=^-]*\Z")
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASS|PWD|CREDENTIAL|DSN|AUTH|PRIVATE|CERT|SALT|SIGNING)",
                          re.IGNORECASE)
_DQ_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "$": "$", "r": "\r"}


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_NAME.search(key))


class EnvFileError(ConfigError):
    pass


@dataclass
class Line:
    """One physical line; ``key``/``value`` are set for assignments only."""

    raw: str
    key: str | None = None
    value: str | None = None


@dataclass
class EnvDoc:
    lines: list[Line] = field(default_factory=list)

    def values(self) -> dict[str, str]:
        return {line.key: line.value for line in self.lines if line.key is not None and line.value is not None}

    def render(self) -> str:
        return "".join(line.raw + "\n" for line in self.lines)


def _parse_value(rest: str, where: str) -> str:
    rest = rest.strip()
    if not rest:
        return ""
    quote = rest[0]
    if quote == "'":
        end = rest.find("'", 1)
        if end < 0:
            raise EnvFileError(f"{where}: unterminated single quote", "close the quote on the same line")
        value, tail = rest[1:end], rest[end + 1:]
    elif quote == '"':
        chars: list[str] = []
        i = 1
        while i < len(rest):
            ch = rest[i]
            if ch == "\\" and i + 1 < len(rest):
                nxt = rest[i + 1]
                chars.append(_DQ_ESCAPES.get(nxt, "\\" + nxt))
                i += 2
                continue
            if ch == '"':
                break
            chars.append(ch)
            i += 1
        else:
            raise EnvFileError(f"{where}: unterminated double quote", "close the quote on the same line")
        value, tail = "".join(chars), rest[i + 1:]
    else:
        comment = re.search(r"\s#", rest)
        return (rest[: comment.start()] if comment else rest).strip()
    tail = tail.strip()
    if tail and not tail.startswith("#"):
        raise EnvFileError(f"{where}: text after the closing quote", "put comments after ' #' or remove the text")
    return value


def parse(text: str, name: str = ".env") -> EnvDoc:
    """Parse ``text``; raise EnvFileError naming the line for anything Compose would misread."""
    if text.startswith("\ufeff"):
        raise EnvFileError(f"{name}: starts with a byte-order mark", f"save {name} as UTF-8 without BOM")
    if "\x00" in text:
        raise EnvFileError(f"{name}: contains NUL bytes (not a text file)", f"restore {name} from env.example")
    if "\r" in text:
        raise EnvFileError(f"{name}: has Windows (CRLF) line endings", f"convert it: sed -i 's/\\r$//' {name}")
    doc = EnvDoc()
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        if number > 1 and raw == "" and number == text.count("\n") + 1:
            break  # the newline at the end of the file
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            doc.lines.append(Line(raw))
            continue
        where = f"{name}:{number}"
        match = _LINE.match(raw)
        if not match:
            raise EnvFileError(f"{where}: not KEY=value", "fix or comment out the line (prefix it with #)")
        key = match["key"]
        if not _KEY.fullmatch(key):
            raise EnvFileError(f"{where}: {key!r} is not a variable name", "use letters, digits and _")
        if key in seen:
            raise EnvFileError(
                f"{where}: {key} is set twice (first on line {seen[key]})", "keep one of the two lines"
            )
        seen[key] = number
        doc.lines.append(Line(raw, key, _parse_value(match["rest"], where)))
    return doc


def quote(value: str) -> str:
    """The shortest form of ``value`` that Compose reads back exactly."""
    if _PLAIN.match(value):
        return value
    if "'" not in value and not any(ch in value for ch in "\n\r"):
        return f"'{value}'"
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
        .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    )
    return f'"{escaped}"'


def assignment(key: str, value: str) -> str:
    return f"{key}={quote(value)}"


@dataclass(frozen=True)
class KeyChange:
    key: str
    action: str  # "added" | "updated" | "kept"


def merge(
    current: EnvDoc | None,
    desired: EnvDoc,
    last_written: Mapping[str, str],
) -> tuple[EnvDoc, list[KeyChange]]:
    """Bring ``current`` to ``desired`` without losing what the user set.

    - A missing key is added, with the comment lines that precede it in ``desired``.
    - A key whose value is what ultra-env wrote last time (``last_written``) follows ``desired``
      (a profile switch), also to an empty value; a secret-named key that is empty is filled.
    - Any other value that differs from a non-empty desired one is the user's and is kept
      (reported as ``kept``); an empty desired value is a placeholder and never reported.
    - Keys ultra-env does not know, comments and order are left alone.
    """
    if current is None:
        return EnvDoc([Line(line.raw, line.key, line.value) for line in desired.lines]), [
            KeyChange(line.key, "added") for line in desired.lines if line.key
        ]
    result = EnvDoc([Line(line.raw, line.key, line.value) for line in current.lines])
    present = {line.key: line for line in result.lines if line.key}
    changes: list[KeyChange] = []
    pending_comments: list[Line] = []
    for line in desired.lines:
        if line.key is None:
            pending_comments.append(line)
            continue
        want = line.value or ""
        have = present.get(line.key)
        if have is None:
            if not result.lines or result.lines[-1].raw.strip():
                if pending_comments and pending_comments[0].raw.strip():
                    result.lines.append(Line(""))
            result.lines.extend(Line(c.raw) for c in pending_comments)
            result.lines.append(Line(line.raw, line.key, want))
            changes.append(KeyChange(line.key, "added"))
        elif have.value != want and (want or last_written.get(line.key, want) == have.value):
            export = "export " if have.raw.lstrip().startswith("export ") else ""
            ours = line.key in last_written and last_written[line.key] == have.value
            fill = is_secret_key(line.key) and not have.value
            if ours or fill:
                have.raw = export + assignment(line.key, want)
                have.value = want
                changes.append(KeyChange(line.key, "updated"))
            else:
                changes.append(KeyChange(line.key, "kept"))
        pending_comments = []
    return result, changes


def masked(doc: EnvDoc, owned: Iterable[str] | None = None) -> str:
    """The file's text for diffs and logs: values of secret-named keys, and of every key not in
    ``owned`` (the user's own variables, whatever their names), replaced by ``***``."""
    known = None if owned is None else set(owned)
    out = []
    for line in doc.lines:
        private = is_secret_key(line.key or "") or (known is not None and line.key not in known)
        if line.key and line.value and private:
            out.append(f"{line.key}=***\n")
        else:
            out.append(line.raw + "\n")
    return "".join(out)
