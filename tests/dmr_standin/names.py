"""Model references as the real runner normalises, validates and displays them.

- `normalise` follows docker/model-runner `pkg/distribution/distribution/client.go`
  normalizeModelName (and its `normalize_test.go` table): the tag keeps its case.
- `is_valid` follows the reference grammar that `pkg/distribution/oci/reference` gets from
  github.com/distribution/reference (lower-case repository components, tag `[\\w][\\w.-]{0,127}`).
- `display` follows `cmd/cli/commands/utils.go` stripDefaultsFromModelName.
"""

from __future__ import annotations

import re

_HEX = re.compile(r"^[0-9a-f]+$")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?"
_REFERENCE = re.compile(
    rf"^{_DOMAIN}{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@sha256:[a-f0-9]{{64}})?$"
)


def looks_like_id(ref: str) -> bool:
    """12 or 64 lower-case hex characters (`looksLikeID`)."""
    return len(ref) in (12, 64) and bool(_HEX.match(ref))


def looks_like_digest(ref: str) -> bool:
    """`sha256:` + 64 lower-case hex characters (`looksLikeDigest`)."""
    return ref.startswith("sha256:") and len(ref) == 71 and bool(_HEX.match(ref[7:]))


def normalise(name: str) -> str:
    """Trim; `hf.co/` → `huggingface.co/`; IDs/digests unchanged (the store resolves them);
    no tag → `:latest`; no registry and no `/` → `ai/`; lower-case the name, never the tag."""
    ref = name.strip()
    if not ref:
        return ref
    if ref.startswith("hf.co/"):
        ref = "huggingface.co/" + ref[len("hf.co/") :]
    if looks_like_id(ref) or looks_like_digest(ref):
        return ref
    last_slash, last_colon = ref.rfind("/"), ref.rfind(":")
    repo, tag = ref, "latest"
    if last_colon > last_slash:
        repo, tag = ref[:last_colon], ref[last_colon + 1 :] or "latest"
    first_slash = repo.find("/")
    has_registry = first_slash > 0 and "." in repo[:first_slash]
    if not has_registry and "/" not in repo:
        repo = "ai/" + repo
    return repo.lower() + ":" + tag


def is_valid(name: str) -> bool:
    """Whether the normalised reference parses (else the runner answers 400 Invalid model reference)."""
    ref = normalise(name)
    return bool(ref) and (looks_like_id(ref) or looks_like_digest(ref) or _REFERENCE.match(ref) is not None)


def is_hugging_face(ref: str) -> bool:
    """`IsHuggingFaceReference`: `huggingface.co/` or `hf.co/` prefix."""
    return ref.startswith(("huggingface.co/", "hf.co/"))


def repository(tag: str) -> str:
    """`ai/gemma3:270M-Q4_K_M` → `ai/gemma3` (the ':' after the last '/')."""
    slash, colon = tag.rfind("/"), tag.rfind(":")
    return tag[:colon] if colon > slash else tag


def display(tag: str) -> str:
    """The `list` table's MODEL NAME: default registry, `ai/` and `:latest` stripped."""
    shown = tag
    for registry in ("index.docker.io/", "docker.io/"):
        if shown.startswith(registry):
            shown = shown[len(registry) :]
            break
    shown = shown.removeprefix("ai/")
    return shown.removesuffix(":latest")


def has_explicit_registry(ref: str) -> bool:
    """`pkg/distribution/oci/reference/reference.go` ParseReference: the part before the first '/'
    names a registry when it contains a '.' or a ':' (`localhost:5000/…`, `huggingface.co/…`)."""
    first_slash = ref.find("/")
    return first_slash > 0 and ("." in ref[:first_slash] or ":" in ref[:first_slash])


def canonical(ref: str, default_registry: str | None) -> str:
    """The tag the store keeps for the normalised `ref` when the runner runs with
    `DEFAULT_REGISTRY` (`pkg/distribution/registry/client.go` GetDefaultRegistryOptions): a
    reference without an explicit registry is put under it, as `reference.Tag.String()` writes it
    (capture default-registry-bare-names.txt: `ai/gemma3:270m-q4km` is stored, listed and untagged
    as `localhost:5001/ai/gemma3:270m-q4km`). Without the setting the tag is left as it is."""
    if not default_registry or not ref or looks_like_id(ref) or looks_like_digest(ref) or has_explicit_registry(ref):
        return ref
    return f"{default_registry.rstrip('/')}/{ref}"
