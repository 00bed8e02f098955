"""A second Docker Engine on this machine, standing for the team's shared model server (issue 21).

Its own dockerd (own socket, data root, exec root and so its own containerd) runs in a network
namespace of its own, so its docker0 bridge and iptables rules are its own; a veth pair links that
namespace to this machine (``host_ip`` here, ``server_ip`` there). A real sshd listens there on
port 22, with a host key and a client key made by ``start``, and gives every session the second
engine's DOCKER_HOST, so ``docker -H ssh://root@SERVER_IP`` reaches it the way it reaches a remote
server: the docker CLI runs ``ssh … docker system dial-stdio``. ``ssh`` on ``env()``'s PATH is the
real ssh given this harness's keys and known_hosts (``-F``), since ssh reads its configuration from
the user's home, which the tests must not touch.

It shows what two engines and SSH show: a context, images and containers on the other engine,
ports published there and reached through the veth or from the laptop's containers. It cannot show
a network between two machines (latency, firewalls, NAT), another CPU architecture or a GPU.
``nsenter --net`` and not ``ip netns exec``: the latter remounts /sys, which hides the cgroups
dockerd needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


class TeamHostError(RuntimeError):
    pass


def _run(argv: list[str], timeout: float = 60, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise TeamHostError(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
    return done


def _wait(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TeamHostError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.1)


@dataclass
class TeamHost:
    root: Path
    name: str
    host_ip: str
    server_ip: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def ssh_url(self) -> str:
        return f"ssh://root@{self.server_ip}"

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment whose ``ssh`` reaches the server with the harness's key."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{self.root / 'bin'}:{env.get('PATH', '')}"
        return env

    def docker(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """The docker CLI on the server's engine, straight through its socket (the test's own view)."""
        return _run(["docker", "-H", f"unix://{self.socket}", *args], timeout=timeout)

    def load(self, *images: str) -> None:
        """Copy images from this machine's engine (no registry here), layers shared, in one stream."""
        saved = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE)
        assert saved.stdout is not None
        loaded = subprocess.run(
            ["docker", "-H", f"unix://{self.socket}", "load", "-q"],
            stdin=saved.stdout,
            capture_output=True,
            text=True,
            timeout=300,
        )
        saved.stdout.close()
        if saved.wait(timeout=300) != 0 or loaded.returncode != 0:
            raise TeamHostError(f"loading {images} into the server's engine: {loaded.stderr.strip()}")

    def tag(self, image: str, as_name: str) -> None:
        self.docker("tag", image, as_name)

    def stop_engine(self) -> None:
        """The server goes away: its dockerd stops (and with it every container there)."""
        _stop(self.processes.pop("dockerd", None))

    def stop(self) -> None:
        for name in ("sshd", "dockerd"):
            _stop(self.processes.pop(name, None))
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", f"{self.name}-h"], capture_output=True, timeout=30)
        for mount in sorted(_mounts_under(self.root), reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True, timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _mounts_under(root: Path) -> list[str]:
    lines = Path("/proc/self/mounts").read_text().splitlines()
    return [parts[1] for parts in (line.split() for line in lines) if parts[1].startswith(str(root))]


def problem() -> str | None:
    """Why a second engine cannot start here, or None."""
    for tool in ("dockerd", "sshd", "ssh", "ssh-keygen", "nsenter", "ip"):
        found = shutil.which(tool) or (Path("/usr/sbin") / tool).exists()
        if not found:
            return f"{tool} is missing (bash tests/support/prepare.sh installs it)"
    if os.geteuid() != 0:
        return "a second Docker Engine in a network namespace needs root"
    return None


def start(root: Path) -> TeamHost:
    """Start the server: namespace, veth, dockerd and sshd. ``stop()`` undoes all of it."""
    slot = os.getpid() % 200 + 20
    name = f"ultra-team{slot}"
    host = TeamHost(root, name, f"10.231.{slot}.1", f"10.231.{slot}.2")
    root.mkdir(parents=True, exist_ok=True)
    try:
        _network(host)
        _dockerd(host)
        _sshd(host)
    except BaseException:
        host.stop()
        raise
    return host


def _spawn(argv: list[str], stdout: object, stderr: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True)  # type: ignore[call-overload]


def _network(host: TeamHost) -> None:
    inside = ["nsenter", f"--net=/run/netns/{host.name}"]
    subprocess.run(["ip", "netns", "del", host.name], capture_output=True, timeout=30)  # a run killed before
    subprocess.run(["ip", "link", "del", f"{host.name}-h"], capture_output=True, timeout=30)
    _run(["ip", "netns", "add", host.name])
    _run(["ip", "link", "add", f"{host.name}-h", "type", "veth", "peer", "name", f"{host.name}-s"])
    _run(["ip", "link", "set", f"{host.name}-s", "netns", host.name])
    _run(["ip", "addr", "add", f"{host.host_ip}/30", "dev", f"{host.name}-h"])
    _run(["ip", "link", "set", f"{host.name}-h", "up"])
    _run([*inside, "ip", "addr", "add", f"{host.server_ip}/30", "dev", f"{host.name}-s"])
    _run([*inside, "ip", "link", "set", f"{host.name}-s", "up"])
    _run([*inside, "ip", "link", "set", "lo", "up"])
    _run([*inside, "ip", "route", "add", "default", "via", host.host_ip])


def _dockerd(host: TeamHost) -> None:
    root = host.root
    with (root / "dockerd.log").open("ab") as log:
        process = _spawn(
            [
                "nsenter",
                f"--net=/run/netns/{host.name}",
                "dockerd",
                "-H",
                f"unix://{host.socket}",
                "--data-root",
                str(root / "data"),
                "--exec-root",
                str(root / "exec"),
                "--pidfile",
                str(root / "dockerd.pid"),
                "--storage-driver",
                os.environ.get("ULTRA_ENV_TEAM_STORAGE_DRIVER", "overlay2"),
            ],
            log,
            log,
        )
    host.processes["dockerd"] = process  # nsenter execs dockerd: the same process

    def ready() -> bool:
        if process.poll() is not None:
            raise TeamHostError(f"the server's dockerd exited: {(root / 'dockerd.log').read_text()[-800:]}")
        done = subprocess.run(
            ["docker", "-H", f"unix://{host.socket}", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            timeout=30,
        )
        return done.returncode == 0

    _wait(ready, "the server's dockerd answering")


def _sshd(host: TeamHost) -> None:
    root = host.root
    for key in ("host_key", "client_key"):
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / key)])
    (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
    (root / "authorized_keys").chmod(0o600)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    (root / "sshd_config").write_text(
        f"ListenAddress {host.server_ip}:22\n"
        f"HostKey {root / 'host_key'}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\n"
        "PasswordAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        f"SetEnv DOCKER_HOST=unix://{host.socket}\n"
        f"PidFile {root / 'sshd.pid'}\n"
    )
    (root / "ssh_config").write_text(
        f"Host {host.server_ip}\n"
        f"  IdentityFile {root / 'client_key'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {root / 'known_hosts'}\n  StrictHostKeyChecking accept-new\n"
        "  BatchMode yes\n  ConnectTimeout 10\n"
    )
    (root / "bin").mkdir(exist_ok=True)
    shim = root / "bin" / "ssh"
    shim.write_text(f'#!/bin/sh\nexec {shutil.which("ssh")} -F {root / "ssh_config"} "$@"\n')
    shim.chmod(0o755)
    with (root / "sshd.log").open("ab") as log:
        argv = ["nsenter", f"--net=/run/netns/{host.name}", "/usr/sbin/sshd", "-D", "-f", str(root / "sshd_config")]
        process = _spawn(argv, subprocess.DEVNULL, log)
    host.processes["sshd"] = process

    def ready() -> bool:
        if process.poll() is not None:
            raise TeamHostError(f"the server's sshd exited: {(root / 'sshd.log').read_text()[-800:]}")
        done = subprocess.run(
            ["docker", "-H", host.ssh_url, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            timeout=30,
            env=host.env(),
        )
        return done.returncode == 0

    _wait(ready, "docker over ssh reaching the server's engine")
