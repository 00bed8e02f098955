"""The project's ``.env``: where it is, and reading it as Compose does."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ultra_env.project import envfile, files

ENV_FILE = ".env"


def read_env(root: Path, environ: Mapping[str, str]) -> envfile.EnvDoc | None:
    """``.env`` as Compose reads it, its expansions resolved against ``environ``; bytes that are not
    UTF-8 are kept as they are (Compose keeps them too). None when there is none."""
    text = files.read_text(root / ENV_FILE, errors="surrogateescape")
    return None if text is None else envfile.parse(text, ENV_FILE, environ)
