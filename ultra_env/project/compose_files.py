"""Which Compose files a plain ``docker compose`` reads in the project folder, found the way
Compose finds them (compose-go ``cli/options.go``: ``WithConfigFileEnv``, then
``WithDefaultConfigPath``), so that ultra-env validates and runs exactly those files."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

RENDERED = "docker-compose.yml"
# compose-go's DefaultFileNames and DefaultOverrideFileNames, in its order of preference.
MAIN_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_NAMES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)


@dataclass(frozen=True)
class ComposeFiles:
    """The files Compose reads, in order, and what chose them."""

    root: Path
    files: tuple[Path, ...]
    chosen_by: str = ""  # "COMPOSE_FILE in .env", "COMPOSE_FILE in the environment" or "" (the default names)

    @property
    def rendered(self) -> Path:
        return self.root / RENDERED

    @property
    def usable(self) -> bool:
        """Whether Compose reads the rendered file first, as ultra-env's stack needs."""
        return bool(self.files) and self.files[0] == self.rendered

    @property
    def extra(self) -> tuple[Path, ...]:
        """The files Compose merges over the rendered one (an override, COMPOSE_FILE's others)."""
        return self.files[1:] if self.usable else ()

    @property
    def run(self) -> tuple[Path, ...]:
        """What ultra-env hands Compose with ``-f``: these files when usable, else the rendered one
        alone (``up`` is refused then; ``down`` and ``ps`` still reach the stack)."""
        return self.files if self.usable else (self.rendered,)

    def names(self, paths: tuple[Path, ...] | None = None) -> str:
        return " + ".join(self.shown(p) for p in (self.files if paths is None else paths))

    def shown(self, path: Path) -> str:
        return str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)

    def extra_fix(self) -> str:
        """The fix when Compose refuses what is merged over the rendered file."""
        aside = self.shown(self.extra[-1])
        over = self.names(self.extra)
        return f"edit {over} until `docker compose config` takes it (or set it aside: mv {aside} {aside}.off)"

    def problem(self) -> tuple[str, str] | None:
        """Why Compose would not run the rendered stack here (cause, fix); None when it would."""
        if self.usable:
            return None
        first = self.shown(self.files[0]) if self.files else "nothing"
        if self.chosen_by:
            return (
                f"{self.chosen_by} makes Compose read {first} first, not the rendered {RENDERED}",
                f"put {RENDERED} first in COMPOSE_FILE (or unset it); your own files can follow it",
            )
        return (
            f"{first} is what `docker compose` reads here (Compose prefers it to the rendered {RENDERED})",
            f"move what {first} adds into docker-compose.override.yml, then remove {first}",
        )


def find(root: Path, environ: Mapping[str, str], dotenv: Mapping[str, str]) -> ComposeFiles:
    """The files, as Compose run in ``root`` would pick them: ``COMPOSE_FILE`` (the environment
    over ``.env``), split on ``COMPOSE_PATH_SEPARATOR``; else the first main name found and the
    first override name found beside it. With no main file yet, the rendered one to be written."""
    merged = {**dotenv, **environ}
    if "COMPOSE_FILE" in merged:
        separator = merged.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        listed = tuple(_absolute(root, part) for part in merged["COMPOSE_FILE"].split(separator))
        where = "the environment" if "COMPOSE_FILE" in environ else ".env"
        return ComposeFiles(root, listed, f"COMPOSE_FILE in {where}")
    main = _first(root, MAIN_NAMES) or root / RENDERED
    override = _first(root, OVERRIDE_NAMES)
    return ComposeFiles(root, (main,) if override is None else (main, override))


def _first(root: Path, names: tuple[str, ...]) -> Path | None:
    return next((root / name for name in names if (root / name).exists()), None)


def _absolute(root: Path, part: str) -> Path:
    return Path(os.path.normpath(root / part))
