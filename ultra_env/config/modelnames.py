"""Docker Model Runner model names: the grammar and DMR's normalised form.

DMR stores tags normalised (reference section 5; ``normalizeModelName`` in docker/model-runner's
``pkg/distribution/distribution/client.go`` and its ``normalize_test.go``): a leading ``hf.co/``
(exactly that, case-sensitive) becomes ``huggingface.co/``, no ``/`` gets the ``ai/`` namespace,
no tag gets ``:latest``, and only the name part is lower-cased: **the tag keeps its case**
(registry tags are case-sensitive, so ``ai/smollm2:360M-Q4_K_M`` and ``ai/smollm2:360m-q4_k_m``
are different models). Names are compared in that form, so ``smollm2`` is ``ai/smollm2:latest``.
Docker Hub's own domain is dropped as well (``docker.io/ai/x`` is ``ai/x``): runners since
v1.0.11 may store tags with it (``pkg/distribution/internal/store/index.go``).
"""

from __future__ import annotations

import re

from ultra_env.errors import ConfigError

MAX_LENGTH = 255

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]+)?"
_NAME = re.compile(rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*\Z")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}\Z")
HF_SHORT, HF_LONG = "hf.co/", "huggingface.co/"
HUB_DOMAINS = ("docker.io/", "index.docker.io/")


class InvalidModelName(ConfigError, ValueError):
    """Not a name Model Runner accepts (a ValueError too: pydantic validators raise it)."""


def _split(name: str) -> tuple[str, str | None, str | None]:
    """``repo[:tag][@digest]`` → (repo, tag, digest); a ``:`` before the last ``/`` is a port."""
    repo, _, digest = name.partition("@")
    slash = repo.rfind("/")
    colon = repo.rfind(":")
    if colon > slash:
        return repo[:colon], repo[colon + 1 :], digest or None
    return repo, None, digest or None


def normalize(name: str) -> str:
    """Return DMR's stored form of ``name``, or raise InvalidModelName saying what is wrong."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidModelName("a model name cannot be empty (example: ai/smollm2)")
    if len(name) > MAX_LENGTH:
        raise InvalidModelName(f"a model name has at most {MAX_LENGTH} characters, this one {len(name)}")
    text = name.strip()
    if text.startswith(HF_SHORT):
        text = HF_LONG + text[len(HF_SHORT) :]
    repo, tag, digest = _split(text)
    repo = repo.lower()
    for domain in HUB_DOMAINS:
        if repo.startswith(domain) and repo.count("/") > 1:
            repo = repo[len(domain) :]
    if (
        _NAME.match(repo) is None
        or ".." in repo
        or (tag is not None and _TAG.match(tag) is None)
        or (digest is not None and _DIGEST.match(digest.lower()) is None)
        or name != name.strip()
    ):
        raise InvalidModelName(
            f"{name!r} is not a model name: use [registry/]namespace/name[:tag], "
            "letters, digits and . _ - only (example: ai/smollm2:360M-Q4_K_M)"
        )
    if "/" not in repo:
        repo = "ai/" + repo
    if tag is None and digest is None:
        tag = "latest"
    return repo + (f":{tag}" if tag is not None else "") + (f"@{digest.lower()}" if digest else "")


def same(a: str, b: str) -> bool:
    """Whether two names are the same model (both normalised; an invalid name matches nothing)."""
    try:
        return normalize(a) == normalize(b)
    except InvalidModelName:
        return False
