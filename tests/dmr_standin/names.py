"""Model references as DMR normalises them (reference section 5)."""

from __future__ import annotations

import re

_COMPONENT = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"^(?:{_COMPONENT}(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[a-z0-9_][a-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)


def normalise(name: str) -> str:
    """Lower-case; `hf.co/` → `huggingface.co/`; no `/` → `ai/` prefix; no tag → `:latest`."""
    ref = name.strip().lower()
    if ref.startswith("hf.co/"):
        ref = "huggingface.co/" + ref[len("hf.co/"):]
    if "/" not in ref:
        ref = "ai/" + ref
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        ref += ":latest"
    return ref


def is_valid(name: str) -> bool:
    return bool(name.strip()) and _REFERENCE.match(normalise(name)) is not None


def display(tag: str) -> str:
    """The `list` table's MODEL NAME: `ai/` and `:latest` stripped."""
    shown = tag[len("ai/"):] if tag.startswith("ai/") else tag
    return shown[: -len(":latest")] if shown.endswith(":latest") else shown
