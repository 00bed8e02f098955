"""The shipped backend's image: its build context, staged from this package, and its tag.

The context is ``.ultra-env/build/backend-<digest>/`` (the Dockerfile, ``requirements.txt`` from
the package's ``backend`` extra, ``wheels/`` from ``backend.wheelhouse``, the ``ultra_env``
package) and the image ``ultra-env-backend:<digest>``, the digest being that of everything that
goes into the image. So the same sources give the same tag (a second run builds nothing), and a
changed source a new one (Compose is never left running an image older than the code).
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import shutil
import stat
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ultra_env.config.settings import Settings
from ultra_env.errors import ConfigError, UltraError
from ultra_env.operations.render import BackendBuild
from ultra_env.project.state import STATE_DIR

PACKAGE = Path(__file__).resolve().parent.parent
CHECKOUT_PYPROJECT = PACKAGE.parent / "pyproject.toml"
BUILD_DIR = "build"
IMAGE = "ultra-env-backend"
ENTRY_POINTS = ("ultra_env.backend.__main__", "ultra_env.backend.worker")


@dataclass(frozen=True)
class BuildContext:
    """What goes into the image: file name in the context → its bytes (or the file to link)."""

    files: dict[str, bytes | Path]
    python_image: str

    @property
    def digest(self) -> str:
        sha = hashlib.sha256(self.python_image.encode())
        for name in sorted(self.files):
            value = self.files[name]
            sha.update(name.encode() + b"\0")
            sha.update(value if isinstance(value, bytes) else _file_digest(value).encode())
        return sha.hexdigest()[:16]

    @property
    def image(self) -> str:
        return f"{IMAGE}:{self.digest}"

    def folder(self, state_dir: Path) -> Path:
        return state_dir / BUILD_DIR / f"backend-{self.digest}"


def _file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def requirements() -> list[str]:
    """The ``backend`` extra of pyproject.toml (the checkout's, else the installed package's)."""
    if CHECKOUT_PYPROJECT.exists():
        project = tomllib.loads(CHECKOUT_PYPROJECT.read_text(encoding="utf-8"))["project"]
        return list(project["optional-dependencies"]["backend"])

    marker = re.compile(r"""\s*;\s*extra\s*==\s*["']backend["']\s*$""")
    return [marker.sub("", r) for r in metadata.requires("ultra-env") or [] if marker.search(r)]


def wheels(wheelhouse: Path | None) -> dict[str, Path]:
    if wheelhouse is None:
        return {}
    if not wheelhouse.is_dir():
        raise ConfigError(
            f"backend.wheelhouse: {wheelhouse} is not a folder", f"make one: pip wheel '.[backend]' -w {wheelhouse}"
        )
    found = {f"wheels/{p.name}": p for p in sorted(wheelhouse.glob("*.whl"))}
    for path in found.values():
        _regular(path)
    if not found:
        raise ConfigError(
            f"backend.wheelhouse: {wheelhouse} holds no wheels", f"pip wheel '.[backend]' -w {wheelhouse}"
        )
    return found


def _regular(path: Path) -> None:
    """A wheel is read whole (hashed, then linked or copied): a FIFO would block that read for ever
    and a device or folder is no wheel, so anything but a regular file is refused, never opened."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(
            f"backend.wheelhouse: cannot read {path.name}: {exc.strerror}", f"remove or fix {path}"
        ) from None
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise ConfigError(
            f"backend.wheelhouse: {path.name} is {kind}, not a wheel", f"remove {path} (or put the real wheel there)"
        )


def context(python_image: str, wheelhouse: Path | None) -> BuildContext:
    files: dict[str, bytes | Path] = {
        "Dockerfile": (PACKAGE / "backend" / "Dockerfile").read_bytes(),
        "requirements.txt": ("\n".join(requirements()) + "\n").encode(),
        "wheels/.keep": b"",
    }
    for path in sorted(modules_of(ENTRY_POINTS)) + sorted((PACKAGE / "backend").glob("*.html")):
        files[f"ultra_env/{path.relative_to(PACKAGE).as_posix()}"] = path.read_bytes()
    files.update(wheels(wheelhouse))
    return BuildContext(files, python_image)


def _module_file(name: str) -> Path | None:
    parts = name.split(".")[1:]
    for candidate in (PACKAGE.joinpath(*parts, "__init__.py"), PACKAGE.joinpath(*parts).with_suffix(".py")):
        if parts and candidate.is_file() or not parts and candidate.name == "__init__.py":
            return candidate
    return None


def modules_of(entry_points: tuple[str, ...]) -> set[Path]:
    """The package's files the entry points import, directly or not (read from their import
    statements, so the image holds what the backend runs and no change elsewhere rebuilds it)."""

    seen: set[Path] = set()
    todo = ["ultra_env", *entry_points]
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if path is None or path in seen:
            continue
        seen.add(path)
        parents = name.split(".")
        todo += [".".join(parents[:i]) for i in range(2, len(parents))]  # each package's __init__
        for node in _import_statements(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ultra_env"):
                todo.append(node.module)
                todo += [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names if alias.name.startswith("ultra_env")]
    return seen


def _import_statements(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, however deep in functions, classes and blocks. Only statements are
    visited, not the expressions inside them, where no import statement can be: half the time of
    ``ast.walk``, and this runs on every render."""
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
            continue
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            todo.extend(getattr(node, field, ()))


def stage(ctx: BuildContext, state_dir: Path) -> bool:
    """Write the context folder unless it is there; True when it was written. Written whole into
    a temp folder, then renamed into place: a folder by that name is always complete."""
    target = ctx.folder(state_dir)
    if target.is_dir():
        return False
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        work = Path(tempfile.mkdtemp(prefix=".backend-", dir=parent))
        for name, value in ctx.files.items():
            path = work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(value, bytes):
                path.write_bytes(value)
            else:
                try:
                    os.link(value, path)
                except OSError:
                    shutil.copyfile(value, path)
        os.rename(work, target)
    except OSError as exc:
        raise UltraError(
            f"cannot stage the backend's build context in {parent}: {exc.strerror}",
            f"free space or fix permissions in {parent}",
        ) from None
    for old in parent.glob("backend-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    for leftover in parent.glob(".backend-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return True


def plan(settings: Settings, root: Path) -> tuple[BackendBuild, BuildContext | None]:
    """How the rendered stack gets its backend: the shipped one built from a staged context, your
    Ultra built from ``backend.source``, or the image ``images.backend``."""
    if settings.images.backend:
        return BackendBuild(settings.images.backend), None
    if settings.backend.source:
        source = (root / settings.backend.source).resolve()
        if not (source / settings.backend.dockerfile).is_file():
            raise ConfigError(
                f"backend.source: no {settings.backend.dockerfile} in {source}",
                "point backend.source at your Ultra checkout, and backend.dockerfile at its Dockerfile",
            )
        return BackendBuild(f"{settings.project_name}-backend:local", str(source), settings.backend.dockerfile), None
    wheelhouse = (root / settings.backend.wheelhouse).resolve() if settings.backend.wheelhouse else None
    ctx = context(settings.images.python, wheelhouse)
    folder = ctx.folder(Path(STATE_DIR))
    return BackendBuild(ctx.image, f"./{folder.as_posix()}", None, {"PYTHON_IMAGE": settings.images.python}), ctx
