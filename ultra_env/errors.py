"""The project's exceptions: each carries a one-line cause and, where one exists, the fix."""

from __future__ import annotations


class UltraError(Exception):
    """A failure the user can act on."""

    exit_code = 1

    def __init__(self, cause: str, fix: str | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.fix = fix


class ConfigError(UltraError):
    """Bad usage or configuration: exit status 2."""

    exit_code = 2
