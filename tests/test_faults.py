"""Faults: a run killed mid-write, a full disk, the daemon vanishing mid-`setup`, Compose failing
mid-`up`, two runs at once. Each leaves the previous files intact, the recap truthful, and a
re-run that finishes the job."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, Project, tmpfs

from ultra_env.project.envfile import parse


def spawn(project: Project, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", "-r", str(REPO), *args],
        env={**project.env, **env},
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def temps(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.tmp")]


def test_killed_mid_render_never_leaves_a_truncated_file(project: Project) -> None:
    assert project.invoke("render", "--profile", "local").returncode == 0
    local = (project.read("docker-compose.yml"), project.read(".env"))
    assert project.invoke("render", "--profile", "cloud").returncode == 0
    cloud = (project.read("docker-compose.yml"), project.read(".env"))
    random.seed(7)
    kills = 0
    for round_ in range(24):
        process = spawn(project, "profile", "cloud" if round_ % 2 else "local")
        time.sleep(random.uniform(0.05, 0.6))
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            kills += 1
        process.wait()
        compose, env = project.read("docker-compose.yml"), project.read(".env")
        assert compose in (local[0], cloud[0])  # old or new, never a mix or a stump
        assert env in (local[1], cloud[1])
        parse(env)
    assert kills >= 5
    final = project.invoke("profile", "cloud", "--json")
    assert final.returncode == 0 and temps(project.root) == []  # the next run cleans what a kill left
    assert project.invoke("profile", "cloud", "--json").json()["recap"]["changed"] == 0


@pytest.fixture
def small_disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    # Room for a project (the backend's build context alone is ~150 KiB) and a switch once freed.
    yield from tmpfs(tmp_path / "small", "size=2m", request)


def test_disk_full_during_a_write(project: Project, small_disk: Path) -> None:
    project.env["ULTRA_ENV_PROJECT_DIR"] = str(small_disk)
    root = Project(small_disk, project.env)
    assert root.invoke("render", "--profile", "local").returncode == 0
    before = {p: p.read_bytes() for p in small_disk.rglob("*") if p.is_file() and p.name != "lock"}
    filler = small_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 1024):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    full = root.invoke("profile", "cloud", "--json")
    assert full.returncode == 1
    failure = next(t for t in full.json()["tasks"] if t["status"] == "failed")
    assert "No space left on device" in failure["msg"] and failure["fix"]
    assert {p: p.read_bytes() for p in before} == before and temps(small_disk) == []
    filler.unlink()
    again = root.invoke("profile", "cloud", "--json")
    assert again.returncode == 0 and again.json()["recap"]["changed"] >= 2
    assert parse(root.read(".env")).values()["ULTRA_PROFILE"] == "cloud"


def test_two_runs_at_once_one_waits_its_turn(project: Project) -> None:
    project.invoke("render", "--profile", "mock")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(project.root / '.ultra-env' / 'lock')!r}, os.O_RDWR)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX); os.pwrite(fd, b'invoke setup, pid %d' % os.getpid(), 0)\n"
            "print('held', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    try:
        refused = project.invoke("profile", "cloud", "--json")
        assert refused.returncode == 1
        lock = refused.json()["tasks"][0]
        assert lock["name"] == "lock" and f"invoke setup, pid {holder.pid}" in lock["msg"]
        assert parse(project.read(".env")).values()["ULTRA_PROFILE"] == "mock"
    finally:
        holder.kill()
        holder.wait()
    assert project.invoke("profile", "cloud").returncode == 0  # the kernel freed the dead holder's lock


def test_concurrent_runs_never_interleave(project: Project) -> None:
    runs = [spawn(project, "profile", name, "--json") for name in ("cloud", "mock", "hybrid", "local")]
    outcomes = [(p.wait(timeout=120), p.stdout.read()) for p in runs]
    assert any(code == 0 for code, _ in outcomes)
    for code, out in outcomes:
        assert code == 0 or '"name": "lock"' in out, out
    values = parse(project.read(".env")).values()
    compose = project.read("docker-compose.yml")
    assert ("models:" in compose) == (values["USE_MODEL_RUNNER"] == "true")  # both files from the same run
    assert project.invoke("render", "--json").json()["recap"]["changed"] == 0


class SocketProxy:
    """A Unix-socket relay to the real Docker socket, so a test can make the daemon vanish."""

    def __init__(self, path: Path, target: str = "/var/run/docker.sock") -> None:
        self.path, self.target = path, target
        self.requests: list[bytes] = []  # the request lines the clients sent ("POST /v1.41/containers/...")
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen(64)
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.target)
            self.connections += [client, upstream]
            for a, b, seen in ((client, upstream, self.requests), (upstream, client, None)):
                threading.Thread(target=self._pipe, args=(a, b, seen), daemon=True).start()

    def saw(self, *parts: bytes) -> bool:
        return any(all(part in line for part in parts) for line in list(self.requests))

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, seen: list[bytes] | None) -> None:
        try:
            while data := source.recv(65536):
                if seen is not None:
                    seen.extend(re.findall(rb"(?:GET|POST|PUT|DELETE|HEAD) /\S*", data))
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def kill(self) -> None:
        self.server.close()
        for connection in self.connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.path.unlink(missing_ok=True)


@pytest.mark.docker
def test_daemon_vanishing_mid_setup(stack: Project, tmp_path: Path) -> None:
    proxy = SocketProxy(tmp_path / "docker.sock")
    env = {"DOCKER_HOST": f"unix://{tmp_path / 'docker.sock'}"}
    process = spawn(stack, "setup", "--profile", "mock", "--json", **env)
    deadline = time.monotonic() + 300
    while not proxy.saw(b"POST ", b"/containers/", b"/start") and process.poll() is None:
        assert time.monotonic() < deadline, "`docker compose up` never started a container"
        time.sleep(0.05)
    proxy.kill()  # inside `docker compose up --wait` now: a container was started
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 1
    tasks = {t["name"]: t for t in json.loads(out)["tasks"]}
    assert tasks["docker-compose.yml"]["status"] == "changed" and tasks[".env"]["status"] == "changed"
    assert tasks["stack up"]["status"] == "failed"
    parse(stack.read(".env"))
    again = stack.invoke("setup", "--profile", "mock", "--json", timeout=600)  # the real socket again
    assert again.returncode == 0, again.stdout
    assert {t["name"]: t["status"] for t in again.json()["tasks"]}["docker-compose.yml"] == "ok"


@pytest.mark.docker
def test_compose_failing_mid_up_then_a_rerun_finishes(stack: Project) -> None:
    broken = stack.invoke(
        "setup", "--profile", "mock", "--json", ULTRA_ENV_IMAGES__REDIS="ultra-test/missing:1", timeout=600
    )
    assert broken.returncode == 1
    tasks = {t["name"]: t for t in broken.json()["tasks"]}
    assert tasks["stack up"]["status"] == "failed"
    assert "image ultra-test/missing:1 (service redis) not on this machine" in tasks["stack up"]["msg"]
    assert tasks["stack up"]["fix"].startswith("docker pull ultra-test/missing:1 ")
    assert broken.json()["recap"]["failed"] >= 1
    fixed = stack.invoke("setup", "--profile", "mock", "--json", timeout=600)
    assert fixed.returncode == 0, fixed.stdout
    assert all(t["status"] != "failed" for t in fixed.json()["tasks"])
