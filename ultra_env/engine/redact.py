"""Keeping secrets out of everything ultra-env prints."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ultra_env.project.envfile import is_secret_key

MASK = "***"
# The userinfo of a URL (scheme://user:password@host): never shown, whoever's URL it is.
_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s\"<>]*@")  # up to the authority's last @


def has_userinfo(text: str) -> bool:
    return _USERINFO.search(text) is not None


UNOWNED_MIN_LENGTH = 8  # a value of the user's own shorter than this is too likely a common word
MIN_LENGTH = 4
#: Values too common to be anyone's secret: masking them would garble output, not protect anything.
TRIVIAL = frozenset({"true", "false", "yes", "no", "on", "off", "none", "null", "changeme", "change-me"})


class Redactor:
    """Replaces every known secret with ``***``, longest first so no fragment survives, in the forms
    it can take in output: as is, and escaped the way JSON and Go (Compose's errors) quote strings."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, *values: str | None) -> None:
        for value in values:
            if not value or len(value) < MIN_LENGTH or value.lower() in TRIVIAL:
                continue
            self._secrets.add(value)
            for escaped in (json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]):
                if escaped != value:
                    self._secrets.add(escaped)

    def add_env(self, mapping: Mapping[str, str]) -> None:
        """Add the values of secret-named variables (``*_KEY``, ``*PASSWORD*`` …)."""
        self.add(*(value for key, value in mapping.items() if is_secret_key(key)))

    def add_unowned(self, mapping: Mapping[str, str], owned: set[str]) -> None:
        """Add the values of variables ultra-env does not own (the user's, whatever their names)."""
        self.add(*(v for k, v in mapping.items() if k not in owned and v and len(v) >= UNOWNED_MIN_LENGTH))

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)

    def tree(self, value: Any) -> Any:
        """Every string inside ``value`` (dicts, lists) masked: for JSON, before it is serialised."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self.tree(k) if isinstance(k, str) else k: self.tree(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.tree(v) for v in value]
        return value

    def json(self, value: Any, **dumps: Any) -> str:
        """A JSON document with every secret masked; ASCII, so that any stream carries it exactly."""
        return json.dumps(self.tree(value), **dumps)
