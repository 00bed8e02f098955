"""Docker Model Runner model names: the grammar and DMR's normalised form.

DMR stores tags normalised (reference, section 5): no ``/`` gets the ``ai/`` namespace, no tag
gets ``:latest``, everything is lower-cased, and ``hf.co/`` becomes ``huggingface.co/``.
Names are compared in that form, so ``smollm2`` is ``ai/smollm2:latest``.
"""

from __future__ import annotations

import re

MAX_LENGTH = 255

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]+)?"
_TAG = r"[a-z0-9_][a-z0-9_.-]{0,127}"
_NAME = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>sha256:[a-f0-9]{{64}}))?\Z"
)


class InvalidModelName(ValueError):
    pass


def normalize(name: str) -> str:
    """Return DMR's stored form of ``name``, or raise InvalidModelName saying what is wrong."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidModelName("a model name cannot be empty (example: ai/smollm2)")
    if len(name) > MAX_LENGTH:
        raise InvalidModelName(f"a model name has at most {MAX_LENGTH} characters, this one {len(name)}")
    lowered = name.lower()
    if lowered.startswith("hf.co/"):
        lowered = "huggingface.co/" + lowered[len("hf.co/"):]
    match = _NAME.match(lowered)
    if match is None or ".." in lowered:
        raise InvalidModelName(
            f"{name!r} is not a model name: use [registry/]namespace/name[:tag], "
            "letters, digits and . _ - only (example: ai/smollm2:360M-Q4_K_M)"
        )
    if "/" not in lowered:
        lowered = "ai/" + lowered
    if match.group("tag") is None and match.group("digest") is None:
        lowered += ":latest"
    return lowered
