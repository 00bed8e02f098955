"""The real Compose as the oracle: what `docker compose config` makes of a `.env` file, or of a rendered project."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path


@functools.cache
def compose_binary() -> str | None:
    """The real Compose binary, the one tests/support/engine.sh links as the docker CLI's plugin:
    where pip put it, else on PATH, else the plugin itself."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "docker-compose",
        shutil.which("docker-compose"),
        (Path.home() / ".docker/cli-plugins/docker-compose").resolve(),
    ]
    return next((str(c) for c in candidates if c and Path(c).is_file()), None)


def compose() -> list[str]:
    """Compose run as itself: the same binary and parser as `docker compose`, without the docker
    CLI's plugin lookup (0.14 s a call against 0.02 s here)."""
    binary = compose_binary()
    return [binary] if binary else ["docker", "compose"]


def compose_values(folder: Path, env_text: bytes, keys: list[str], environ: dict[str, str]) -> dict | None:
    """What the real `docker compose config` makes of `env_text` for `keys` (None: it refuses the
    file), run in its own folder with a compose file mapping each key into a service, and with a
    process environment built here, so the host's variables do not leak in."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".env").write_bytes(env_text)
    entries = "".join(f"      - {json.dumps(key, ensure_ascii=False)}\n" for key in keys) or "      - UNUSED_HOSTILE\n"
    (folder / "compose.yaml").write_text(
        f"services:\n  s:\n    image: busybox\n    environment:\n{entries}", encoding="utf-8"
    )
    done = subprocess.run(
        [
            *compose(),
            "--project-directory",
            str(folder),
            "-f",
            str(folder / "compose.yaml"),
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **environ},
    )
    if done.returncode != 0:
        return None
    seen = json.loads(done.stdout)["services"]["s"].get("environment") or {}
    return {k: v.replace("$$", "$") for k, v in seen.items() if v is not None}


def project_config(root: Path, **environ: str) -> dict:
    """`docker compose config` of the project in ``root`` as JSON, in a process environment built
    here (``environ`` and no more: the host's variables do not leak in)."""
    done = subprocess.run(
        [*compose(), "--project-directory", str(root), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **environ},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
