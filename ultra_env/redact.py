"""Keeping secrets out of everything ultra-env prints."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ultra_env.envfile import is_secret_key

MASK = "***"
MIN_LENGTH = 4


class Redactor:
    """Replaces every known secret value with ``***``; longest first, so no fragment survives."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, *values: str | None) -> None:
        for value in values:
            if value and len(value) >= MIN_LENGTH:
                self._secrets.add(value)

    def add_env(self, mapping: Mapping[str, str]) -> None:
        """Add the values of secret-named variables (``*_KEY``, ``*PASSWORD*`` …)."""
        self.add(*(value for key, value in mapping.items() if is_secret_key(key)))

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def all(self, texts: Iterable[str]) -> list[str]:
        return [self(t) for t in texts]
