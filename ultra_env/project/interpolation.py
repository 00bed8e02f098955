"""``$VAR`` and ``${VAR…}`` as Docker Compose expands them (compose-go ``template/template.go``):
``$$`` is a literal ``$``; ``${V:-d}``, ``${V-d}``, ``${V:+a}``, ``${V+a}``, ``${V:?m}``, ``${V?m}``
with their text expanded only when chosen (and nested ``${…}`` in it); a ``$`` followed by
nothing that makes a name is literal; a ``${`` that is not a valid form is an error.

Checked against Compose v5.6.1 (tests/test_envfile.py, tests/test_hostile_files.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ultra_env.errors import ConfigError

Lookup = Callable[[str], str | None]
_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_OPERATORS = (":-", ":+", ":?", "-", "+", "?")


class TemplateError(ConfigError, ValueError):
    """Compose would refuse the value: an invalid ``${…}``, or a required variable unset."""


def _closing(text: str, start: int) -> int:
    """The index of the ``}`` that closes the ``${`` whose body starts at ``start`` (nesting counted)."""
    depth, i = 1, start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _braced(body: str, whole: str, lookup: Lookup) -> str:
    name = _NAME.match(body)
    if name is None or "\n" in body:
        raise TemplateError(f'Invalid template: "{whole}"')
    rest = body[name.end() :]
    value = lookup(name.group())
    if not rest:
        return value or ""
    operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
    if operator is None:
        raise TemplateError(f'Invalid template: "{whole}"')
    arg = rest[len(operator) :]
    empty = value is None or (operator.startswith(":") and value == "")
    if operator.endswith("-"):
        return interpolate(arg, lookup) if empty else value or ""
    if operator.endswith("+"):
        return (value or "") if empty else interpolate(arg, lookup)
    if empty:
        message = interpolate(arg, lookup)
        raise TemplateError(
            f"required variable {name.group()} is missing a value" + (f": {message}" if message else "")
        )
    return value or ""


def interpolate(text: str, lookup: Lookup) -> str:
    """``text`` with every ``$…`` expanded through ``lookup`` (None: unset)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        dollar = text.find("$", i)
        if dollar < 0:
            out.append(text[i:])
            break
        out.append(text[i:dollar])
        nxt = text[dollar + 1 : dollar + 2]
        if nxt == "$":
            out.append("$")
            i = dollar + 2
        elif nxt == "{":
            end = _closing(text, dollar + 2)
            if end < 0:
                raise TemplateError(f'Invalid template: "{text}"')
            out.append(_braced(text[dollar + 2 : end], text, lookup))
            i = end + 1
        elif (name := _NAME.match(text, dollar + 1)) is not None:
            out.append(lookup(name.group()) or "")
            i = name.end()
        else:
            out.append("$")
            i = dollar + 1
    return "".join(out)


def escape(text: str) -> str:
    """``text`` as a Compose file must hold it to be taken literally: every ``$`` doubled."""
    return text.replace("$", "$$")
