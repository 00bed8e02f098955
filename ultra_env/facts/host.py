"""Facts about the host itself: its OS, its ports, its disk."""

from __future__ import annotations

import platform
import re
import shutil
import socket
from pathlib import Path

from ultra_env import proc


def host_os(system: str | None = None, release: str | None = None) -> str:
    """macOS, Windows, WSL2 or Linux: where the docker CLI (and so this tool) runs."""
    system = system or platform.system()
    if system == "Darwin":
        return "macOS"
    if system == "Windows":
        return "Windows"
    release = release if release is not None else platform.release()
    return "WSL2" if "microsoft" in release.lower() else "Linux"


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a listener could bind ``host:port`` now (what Compose's port publishing needs).

    SO_REUSEADDR as every server sets it: a port whose last connections linger in TIME_WAIT is
    free for a new listener, only a live listener makes it taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


_SS_USER = re.compile(r'\(\("([^"]+)",pid=(\d+)')


def port_holder(port: int, timeout: float = 3.0) -> str | None:
    """Who listens on ``port``, when the OS tells (Linux ``ss``); None when it cannot be known."""
    if shutil.which("ss") is None:
        return None
    try:
        done = proc.run(["ss", "-H", "-ltnp", f"sport = :{port}"], timeout=timeout)
    except proc.ProcError:
        return None
    match = _SS_USER.search(done.stdout)
    return f"{match.group(1)} (pid {match.group(2)})" if match else None


def free_bytes(path: Path) -> tuple[Path, int] | None:
    """Free space on the file system holding ``path`` (or its nearest existing parent)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                return candidate, shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


PROC_NET = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
_LISTEN = "0A"


def _address(hex_address: str) -> str:
    """``0100007F`` → ``127.0.0.1``; a tcp6 address (four little-endian words) → its compressed form."""
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def parse_listeners(text: str, port: int) -> set[str]:
    """The local addresses listening on TCP ``port`` in a ``/proc/net/tcp`` or ``tcp6`` table."""
    found = set()
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != _LISTEN or ":" not in fields[1]:
            continue
        address, hex_port = fields[1].rsplit(":", 1)
        try:
            if int(hex_port, 16) == port:
                found.add(_address(address))
        except ValueError:
            continue
    return found


def listeners(port: int) -> set[str] | None:
    """The addresses something listens on for TCP ``port`` on this host (Linux); None when the
    OS does not tell."""
    tables = [path for path in PROC_NET if path.exists()]
    if not tables:
        return None
    found: set[str] = set()
    for path in tables:
        try:
            found |= parse_listeners(path.read_text(encoding="ascii", errors="replace"), port)
        except OSError:
            return None
    return found


def loopback_only(addresses: set[str]) -> bool:
    """Every address is a loopback one: nothing outside this host's loopback can connect."""
    return bool(addresses) and all(a.startswith("127.") or a == "::1" or a == "::ffff:127.0.0.1" for a in addresses)
