"""The docker CLI's global flags, and the real docker CLI the stand-in runs against the same engine.

The docker CLI runs a plugin with its own `os.Args[1:]` (docker/cli `cli-plugins/manager`
PluginRunCommand), so the plugin sees the global flags typed before the plugin name:
`docker --context team model status` runs `docker-model --context team model status`, and the
plugin's cobra root parses them again (docker/cli `cli-plugins/plugin` newPluginCommand, flags from
`cli/flags/options.go` InstallFlags: `--config`, `-c/--context`, `-D/--debug`, `-H/--host`,
`-l/--log-level`, `--tls`, `--tlscacert`, `--tlscert`, `--tlskey`, `--tlsverify`). Upstream then
talks to that engine with `desktop.DockerClientForContext` (cmd/cli/desktop/context.go: the current
context's endpoint, `client.FromEnv`, so DOCKER_HOST / DOCKER_CONTEXT / DOCKER_TLS_VERIFY /
DOCKER_CERT_PATH count as for the docker CLI).

The stand-in reaches the engine through the real docker CLI instead of the Engine API: the flags
are kept verbatim and put in front of every `docker` command it runs, and the environment is
inherited, so that command talks to the same engine as the CLI that ran the plugin. The binary is
the one that ran the plugin (`DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND`, its `os.Args[0]`) when it
can be found, else `docker` on PATH (assumed).
"""

from __future__ import annotations

import os
import shutil
import subprocess

# cli/flags/options.go InstallFlags: flags that take a value, and booleans (pflag: `--tls=false` too)
VALUE_FLAGS = {"--config", "--context", "--host", "--log-level", "--tlscacert", "--tlscert", "--tlskey"}
VALUE_SHORT = {"c": "--context", "H": "--host", "l": "--log-level"}
BOOL_FLAGS = {"--debug", "--tls", "--tlsverify"}
BOOL_SHORT = {"D": "--debug"}


def split_global_flags(argv: list[str]) -> tuple[list[str], list[str]]:
    """The docker CLI global flags at the front of `argv` (tokens kept as typed) and the rest.
    Stops at the first token that is not one of them (the plugin name, `--help`, a command)."""
    flags: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, _ = arg.partition("=")
        if arg.startswith("--"):
            if name in BOOL_FLAGS:
                flags.append(arg)
                i += 1
                continue
            if name in VALUE_FLAGS:
                if eq:
                    flags.append(arg)
                    i += 1
                    continue
                if i + 1 < len(argv):
                    flags += argv[i : i + 2]
                    i += 2
                    continue
            break
        known, needs_value = _cluster(arg[1:]) if arg.startswith("-") and len(arg) > 1 else (False, False)
        if known:
            taken = 2 if needs_value and i + 1 < len(argv) else 1
            flags += argv[i : i + taken]
            i += taken
            continue
        break
    return flags, argv[i:]


def _cluster(cluster: str) -> tuple[bool, bool]:
    """A pflag shorthand cluster: (only global shorthands, the next token is the value). Booleans
    (`-D`) may be followed by more shorthands or `=value`; a value flag (`-c`, `-H`, `-l`) takes
    the rest of the token (`-cteam`, `-c=team`) or, at its end, the next token."""
    for index, letter in enumerate(cluster):
        if letter in VALUE_SHORT:
            return True, index == len(cluster) - 1
        if letter not in BOOL_SHORT:
            return False, False
        if cluster[index + 1 : index + 2] == "=":
            return True, False
    return True, False


class DockerError(Exception):
    """A docker command failed; the text is what the docker CLI printed (its daemon error)."""


class Docker:
    """The real docker CLI with the plugin's global flags in front of every command."""

    def __init__(self, flags: list[str] | None = None, timeout: float = 300.0) -> None:
        self.flags = list(flags or [])
        self.timeout = timeout

    @property
    def binary(self) -> str:
        original = os.environ.get("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND")
        found = shutil.which(original) if original else None
        return found or shutil.which("docker") or "docker"

    def argv(self, *args: str) -> list[str]:
        return [self.binary, *self.flags, *args]

    def run(self, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(self.argv(*args), input=data, capture_output=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise DockerError(f"docker {args[0]} timed out after {self.timeout:g}s") from exc
        except OSError as exc:
            raise DockerError(str(exc)) from exc

    def ok(self, *args: str, data: bytes | None = None) -> str:
        """Run, return stdout; a failure raises DockerError with the CLI's error text."""
        done = self.run(*args, data=data)
        if done.returncode != 0:
            raise DockerError(error_text(done.stderr.decode(errors="replace")) or f"exit status {done.returncode}")
        return done.stdout.decode(errors="replace")


def error_text(stderr: str) -> str:
    """The daemon's error as the Go client returns it: the docker CLI's message without its
    `docker: ` prefix and the `Run 'docker … --help'` / `Error: failed to start containers` trailers."""
    lines = []
    for line in stderr.strip().splitlines():
        if not line.strip():
            break
        if line.startswith(("Run 'docker", "See 'docker", "Error: failed to start containers")):
            break
        lines.append(line)
    return "\n".join(lines).removeprefix("docker: ").strip()
