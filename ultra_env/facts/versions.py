"""Version strings as Docker tools print them (``v5.6.1``, ``4.48.0``, ``20.10.24+dfsg1``)."""

from __future__ import annotations

import re

_NUMBERS = re.compile(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def parse(text: str | None) -> tuple[int, int, int] | None:
    """``"v2.38.1-desktop.1"`` → ``(2, 38, 1)``; None when there is no version in ``text``."""
    if not text:
        return None
    match = _NUMBERS.search(text)
    if match is None:
        return None
    return tuple(int(part or 0) for part in match.groups())  # type: ignore[return-value]


def at_least(version: str | None, minimum: str) -> bool | None:
    """True/False, or None when ``version`` is unknown."""
    have, need = parse(version), parse(minimum)
    if have is None or need is None:
        return None
    return have >= need
