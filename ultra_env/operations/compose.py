"""Docker Compose operations on the rendered project, through the one subprocess wrapper.

The project is the folder holding ``docker-compose.yml``, the files Compose reads there (an
override merged over it; see ``project/compose_files.py``), named with ``-f`` so that what was
validated is what runs, and the configured project name.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ultra_env import proc
from ultra_env.facts.docker import DOCKER, compose_error

VALIDATE_TIMEOUT = 30.0
QUICK_TIMEOUT = 60.0


@dataclass(frozen=True)
class Project:
    root: Path
    name: str
    files: tuple[Path, ...] = ()

    def argv(self, *args: str) -> list[str]:
        named = [arg for path in self.files for arg in ("-f", str(path))]
        return [DOCKER, "compose", "--project-directory", str(self.root), *named, "--project-name", self.name, *args]

    def run(self, *args: str, timeout: float = QUICK_TIMEOUT) -> proc.Completed:
        return proc.run(self.argv(*args), timeout=timeout, cwd=self.root)


@dataclass(frozen=True)
class Service:
    service: str
    container: str  # container ID
    name: str
    state: str  # running | exited | created | restarting | …
    health: str  # healthy | unhealthy | starting | "" (no healthcheck)
    exit_code: int
    ports: str
    config_hash: str = ""  # the com.docker.compose.config-hash label: what the container was made from

    @property
    def ready(self) -> bool:
        return self.state == "running" and self.health in ("healthy", "")


def parse_ps(stdout: str) -> list[Service]:
    """``docker compose ps --format json``: one object per line (Compose ≥ 2.21) or one array."""
    text = stdout.strip()
    if not text:
        return []
    items = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines() if line]
    return sorted(
        (
            Service(
                i.get("Service", ""),
                i.get("ID", ""),
                i.get("Name", ""),
                i.get("State", ""),
                i.get("Health", ""),
                int(i.get("ExitCode") or 0),
                i.get("Ports", ""),
                _label(i.get("Labels", ""), HASH_LABEL),
            )
            for i in items
        ),
        key=lambda s: s.service,
    )


HASH_LABEL = "com.docker.compose.config-hash"


def _label(labels: str | dict, name: str) -> str:
    if isinstance(labels, dict):
        return str(labels.get(name, ""))
    found = re.search(rf"(?:^|,){re.escape(name)}=([0-9a-f]+)", labels or "")
    return found.group(1) if found else ""


def config_hashes(project: Project) -> dict[str, str]:
    """``docker compose config --hash '*'``: what each service's container would be made from now.
    Static: unlike ``up`` (even ``--dry-run up``), it never runs the model plugin."""
    done = project.run("config", "--hash", "*")
    if not done.ok:
        raise proc.ProcError(done.argv, done.output or f"exit {done.returncode}")
    return parse_hashes(done.stdout)


def parse_hashes(stdout: str) -> dict[str, str]:
    """``config --hash '*'``: a ``service hash`` line each."""
    return dict(line.split(None, 1) for line in stdout.splitlines() if line.strip())


def service_images(project: Project) -> dict[str, str]:
    """Each service's image, as ``docker compose config`` resolves the files."""
    done = project.run("config", "--format", "json")
    if not done.ok:
        raise proc.ProcError(done.argv, f"exit {done.returncode}")  # its output may quote .env's values
    return parse_service_images(done.stdout)


def parse_service_images(stdout: str) -> dict[str, str]:
    """``config --format json``: the ``image`` of each service that names one."""
    services = json.loads(stdout).get("services") or {}
    return {name: str(spec["image"]) for name, spec in sorted(services.items()) if spec.get("image")}


def ps(project: Project) -> list[Service]:
    done = project.run("ps", "--all", "--format", "json")
    if not done.ok:
        raise proc.ProcError(done.argv, done.output or f"exit {done.returncode}")
    return parse_ps(done.stdout)


_EVENT = re.compile(r"^\s*Container (\S+)\s+(\w+)\s*$")


def up_events(output: str, project: str) -> dict[str, set[str]]:
    """``up``'s progress lines (``Container ultra-backend-1  Recreated``) → service → words seen."""
    events: dict[str, set[str]] = {}
    prefix = f"{project}-"
    for line in output.splitlines():
        match = _EVENT.match(line)
        if match and match.group(1).startswith(prefix):
            service = match.group(1)[len(prefix) :].rsplit("-", 1)[0]
            events.setdefault(service, set()).add(match.group(2))
    return events


def describe(events: dict[str, set[str]]) -> str:
    """What ``up`` changed: ``created backend, redis; recreated worker``; empty when nothing."""
    groups = {
        "created": [s for s, w in events.items() if "Created" in w and "Recreated" not in w],
        "recreated": [s for s, w in events.items() if "Recreated" in w],
        "started": [s for s, w in events.items() if "Started" in w and not {"Created", "Recreated"} & w],
    }
    return "; ".join(f"{verb} {', '.join(sorted(names))}" for verb, names in groups.items() if names)


def image_id(image: str) -> str | None:
    """The local image's ID, or None when there is no such image."""
    done = proc.run([DOCKER, "image", "inspect", "--format", "{{.Id}}", image], timeout=QUICK_TIMEOUT)
    return done.stdout.strip() or None if done.ok else None


def up(project: Project, wait_timeout: float) -> proc.Completed:
    return project.run(
        "up",
        "--detach",
        "--wait",
        "--wait-timeout",
        str(int(wait_timeout)),
        "--remove-orphans",
        timeout=wait_timeout + 120,
    )


def down(project: Project, *, volumes: bool) -> proc.Completed:
    return project.run("down", "--remove-orphans", *(["--volumes"] if volumes else []), timeout=120)


def logs(project: Project, service: str, lines: int = 15) -> str:
    done = project.run("logs", "--no-color", "--no-log-prefix", "--tail", str(lines), service)
    return done.output


def validate(compose_text: str, env_text: str, over: tuple[Path, ...] = (), root: Path | None = None) -> str | None:
    """Ask the real ``docker compose config -q`` about candidate files; None when accepted.

    Runs on copies in a private temp dir (mode 0700: the candidate .env holds secrets) so the
    project's own files stay untouched until the candidates are known to be good. With files
    ``over`` them (an override), the project directory is ``root``, where Compose resolves the
    override's relative paths when it runs.
    """
    with tempfile.TemporaryDirectory(prefix="ultra-env-validate-") as tmp:
        folder = Path(tmp)
        (folder / "docker-compose.yml").write_text(compose_text, encoding="utf-8")
        env = folder / ".env"
        env.touch(mode=0o600)
        env.write_text(env_text, encoding="utf-8")
        files = [arg for path in (folder / "docker-compose.yml", *over) for arg in ("-f", str(path))]
        where = ["--project-directory", tmp]
        if over and root is not None:
            where = ["--project-directory", str(root), "--env-file", str(env)]
        done = proc.run([DOCKER, "compose", *where, *files, "config", "-q"], timeout=VALIDATE_TIMEOUT)
        if done.ok:
            return None
        return (compose_error(done.output) or f"exit {done.returncode}").replace(tmp + "/", "")
