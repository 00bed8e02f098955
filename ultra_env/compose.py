"""Docker Compose operations on the rendered project."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ultra_env import proc
from ultra_env.facts.gather import DOCKER

VALIDATE_TIMEOUT = 30.0


def validate(compose_text: str, env_text: str) -> str | None:
    """Ask the real ``docker compose config -q`` about candidate files; None when accepted.

    Runs in a private temp dir (mode 0700: the candidate .env holds secrets) so the project's own
    files stay untouched until the candidates are known to be good.
    """
    with tempfile.TemporaryDirectory(prefix="ultra-env-validate-") as tmp:
        folder = Path(tmp)
        (folder / "docker-compose.yml").write_text(compose_text, encoding="utf-8")
        env = folder / ".env"
        env.touch(mode=0o600)
        env.write_text(env_text, encoding="utf-8")
        done = proc.run(
            [DOCKER, "compose", "--project-directory", tmp, "-f", str(folder / "docker-compose.yml"),
             "config", "-q"],
            timeout=VALIDATE_TIMEOUT,
        )
        if done.ok:
            return None
        return (done.output or f"exit {done.returncode}").replace(tmp + "/", "").splitlines()[0]
