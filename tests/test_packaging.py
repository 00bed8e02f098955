"""`pip install .` (not editable) gives a package that works: every subpackage, the backend's
page and Dockerfile inside the wheel, and `invoke --list` from the checkout with it installed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO, clean_environ


def test_the_wheel_holds_every_part_and_works_installed(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("ultra_env-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for part in (
        "ultra_env/facts/gather.py",
        "ultra_env/llm/providers/base.py",
        "ultra_env/backend/app.py",
        "ultra_env/backend/page.html",
        "ultra_env/backend/Dockerfile",
        "ultra_env/operations/image.py",
        "ultra_env/pytest_plugin.py",
    ):
        assert part in names, part
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    listed = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pytest11]" in listed and "ultra_env = ultra_env.pytest_plugin" in listed, listed  # pytest finds it

    # A venv of its own that sees this machine's packages for the dependencies (no index needed).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    env = clean_environ()
    env.pop("PYTHONPATH", None)  # the wheel alone: a checkout on the path would be imported first
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import ultra_env.backend.app, ultra_env.facts.gather, ultra_env.operations.image, "
            "ultra_env; print(ultra_env.__file__)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(venv)), "the wheel, not the checkout, was imported"
    listed = subprocess.run(
        [str(python), "-m", "invoke", "-r", str(REPO), "--list"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert listed.returncode == 0 and "setup" in listed.stdout and "models.pull" in listed.stdout, listed.stderr


def test_the_backend_image_holds_every_module_its_entry_points_import() -> None:
    """Python's own modulefinder (it reads the bytecode, the imports inside functions too) is the
    oracle for the import statements ultra-env reads to stage the backend's build context."""
    import modulefinder

    from ultra_env.operations import image

    entries = {REPO / f"{entry.replace('.', '/')}.py" for entry in image.ENTRY_POINTS}
    found: set[Path] = set()
    for entry in entries:
        finder = modulefinder.ModuleFinder(path=[str(REPO)])  # ultra_env's own modules, nothing else
        finder.run_script(str(entry))
        found |= {
            Path(m.__file__) for name, m in finder.modules.items() if name.startswith("ultra_env.") and m.__file__
        }
    assert REPO / "ultra_env" / "backend" / "app.py" in found  # imported inside __main__'s main()
    assert image.modules_of(image.ENTRY_POINTS) == found | entries | {REPO / "ultra_env" / "__init__.py"}
