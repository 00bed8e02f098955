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
