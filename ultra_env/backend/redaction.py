"""Secrets masked on the way out, whole texts and streams alike.

Every occurrence of every secret is found, overlapping ones included, and each stretch of text
they cover becomes ``***`` (so two secrets that overlap leave no tail of either). A stream is
masked as it goes: the text that could still turn out to be the start of a secret (a tail that
begins a secret, or a secret that a longer one could still extend) is held back until the next
piece or the end decides it, so the pieces joined are exactly the whole text masked, and no piece
shows a key that arrived split across pieces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

MASK = "***"
Redact = Callable[[str], str]


def _spans(text: str, secrets: tuple[str, ...]) -> list[tuple[int, int]]:
    """The stretches of ``text`` that secrets cover, merged where they overlap (not where they only touch)."""
    found = []
    for secret in secrets:
        start = text.find(secret)
        while start >= 0:
            found.append((start, start + len(secret)))
            start = text.find(secret, start + 1)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        if not self.secrets:
            return text
        out, at = [], 0
        for start, end in _spans(text, self.secrets):
            out += [text[at:start], MASK]
            at = end
        return "".join(out) + text[at:]

    def _held(self, text: str) -> int:
        """Where the part of ``text`` that may still change begins: the start of its longest tail
        that begins some secret, or of a masked stretch that reaches into that tail."""
        cut = len(text)
        for secret in self.secrets:
            for size in range(min(len(secret) - 1, len(text)), 0, -1):
                if text.endswith(secret[:size]):
                    cut = min(cut, len(text) - size)
                    break
        for start, end in _spans(text, self.secrets):
            if start < cut < end or (end == len(text) and start < cut):
                cut = start
        return cut

    def stream(self) -> StreamMask:
        return StreamMask(self)


class StreamMask:
    """One stream's masking: ``feed`` each piece and send what it returns; ``end`` returns the rest."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._pending = ""

    def feed(self, piece: str) -> str:
        if not self._redactor.secrets:
            return piece
        self._pending += piece
        cut = self._redactor._held(self._pending)
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return self._redactor(ready)

    def end(self) -> str:
        rest, self._pending = self._pending, ""
        return self._redactor(rest)
