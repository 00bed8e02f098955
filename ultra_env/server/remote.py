"""The server's Docker Engine as the operator's docker CLI reaches it (``-H ssh://…`` or a context),
and an SSH tunnel to what listens on the server's loopback only (Model Runner)."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

from ultra_env import proc
from ultra_env.errors import UltraError

DOCKER = "docker"


class RemoteError(UltraError):
    pass


@dataclass(frozen=True)
class Remote:
    host: str  # ssh://user@host[:port], or a Docker context's name

    @property
    def flags(self) -> list[str]:
        return ["-H", self.host] if self.host.startswith("ssh://") else ["--context", self.host]

    def docker(
        self, *args: str, timeout: float, env: dict[str, str] | None = None, input: str | None = None
    ) -> proc.Completed:
        try:
            return proc.run([DOCKER, *self.flags, *args], timeout=timeout, env=env, input=input)
        except proc.CommandNotFound:
            raise RemoteError("the docker CLI is not installed on this machine", "install Docker") from None
        except proc.ProcError as exc:
            raise RemoteError(f"{self.host}: {exc}", self.ssh_fix) from None

    @property
    def ssh_fix(self) -> str:
        return f"check that `docker {' '.join(self.flags)} version` works: your SSH key, the host, Docker there"

    def ssh_url(self, timeout: float) -> str:
        """``ssh://user@host[:port]``, from a context's endpoint when the host names a context."""
        if self.host.startswith("ssh://"):
            return self.host
        done = proc.run(
            [DOCKER, "context", "inspect", self.host, "--format", "{{.Endpoints.docker.Host}}"], timeout=timeout
        )
        endpoint = done.stdout.strip()
        if not done.ok:
            raise RemoteError(f"no Docker context {self.host}: {done.output}", "docker context ls")
        if not endpoint.startswith("ssh://"):
            raise RemoteError(
                f"context {self.host} reaches {endpoint or 'its engine'} without SSH: ultra-env reaches the "
                "runner on the server's loopback through SSH",
                "docker context create NAME --docker host=ssh://USER@HOST, and set [server] host to it",
            )
        return endpoint

    def hostname(self, timeout: float) -> str:
        return urlsplit(self.ssh_url(timeout)).hostname or ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Tunnel:
    """``ssh -N -L``: the server's ``127.0.0.1:PORT`` at ``self.url`` on this machine, while open."""

    def __init__(self, remote: Remote, port: int, timeout: float) -> None:
        parts = urlsplit(remote.ssh_url(timeout))
        target = f"{parts.username}@{parts.hostname}" if parts.username else str(parts.hostname)
        self.local = _free_port()
        self.url = f"http://127.0.0.1:{self.local}"
        argv = ["ssh", "-N", "-T", "-o", "ExitOnForwardFailure=yes", "-o", "BatchMode=yes"]
        argv += ["-o", f"ConnectTimeout={max(1, int(timeout))}"]
        argv += ["-p", str(parts.port)] if parts.port else []
        argv += ["-L", f"127.0.0.1:{self.local}:127.0.0.1:{port}", target]
        self._ssh = proc.Background(argv)
        self._wait(timeout, target)

    def _wait(self, timeout: float, target: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            ended = self._ssh.exited()
            if ended is not None:
                said = ended.stderr.strip().splitlines()[-1:] or [f"exit {ended.returncode}"]
                raise RemoteError(f"the SSH tunnel to {target} failed: {said[0]}", f"check that `ssh {target}` works")
            try:
                socket.create_connection(("127.0.0.1", self.local), timeout=1).close()
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self._ssh.stop()
                raise RemoteError(f"the SSH tunnel to {target} did not open within {timeout:g} s", f"ssh {target}")
            time.sleep(0.05)

    def close(self) -> None:
        self._ssh.stop()

    def __enter__(self) -> Tunnel:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
