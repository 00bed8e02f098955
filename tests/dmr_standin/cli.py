"""The stand-in `docker-model` CLI plugin (run through the launcher that `plugin.install` writes)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from . import formats
from .client import ApiError, Client, NotRunning, model_path
from .names import normalise
from .state import State, load, log_invocation

PULL_RETRIES = 4
RETRY_DELAY_SECONDS = 1


class UsageError(Exception):
    pass


class Failure(Exception):
    """Ends the command: message on stderr, exit 1."""


class Cli:
    def __init__(self, state: State, out: TextIO, err: TextIO) -> None:
        self.state = state
        self.client = Client(state)
        self.out = out
        self.err = err

    def say(self, text: str) -> None:
        self.out.write(text if text.endswith("\n") else text + "\n")
        self.out.flush()

    def not_running(self, action: str) -> Failure:
        return Failure(f"{action}: {formats.NOT_RUNNING}")

    def status(self, args: list[str]) -> int:
        as_json = _flag(args, "--json")
        _no_more(args)
        try:
            running = self.client.alive()
            backends = self.client.json("GET", "/engines/status") if running else {}
        except (ApiError, NotRunning) as exc:
            raise Failure(f"Failed to get Docker Model Runner status: {exc}") from exc
        if as_json:
            self.say(formats.status_json(self.state, running, backends))
            return 0
        self.say(formats.status_text(self.state, running, backends))
        return 0 if running else 1

    def version(self, args: list[str]) -> int:
        _no_more(args)
        try:
            server = self.client.json("GET", "/version")["version"]
        except (ApiError, NotRunning, KeyError, TypeError, ValueError):
            server = None
        self.say(formats.version_text(self.state, server))
        return 0

    def list(self, args: list[str]) -> int:
        as_json, openai = _flag(args, "--json"), _flag(args, "--openai")
        quiet = _flag(args, "--quiet") or _flag(args, "-q")
        wanted = args.pop(0) if args else None
        _no_more(args)
        try:
            models: list[dict[str, Any]] = self.client.json("GET", "/models")
        except NotRunning as exc:
            raise self.not_running("Failed to list models") from exc
        except ApiError as exc:
            raise Failure(f"Failed to list models: {exc}") from exc
        if wanted is not None:
            models = [m for m in models if normalise(wanted) in m["tags"]]
        if openai:
            data = [
                {"id": tag, "object": "model", "created": m["created"], "owned_by": "docker"}
                for m in models
                for tag in m["tags"]
            ]
            self.say(formats.dump_indented({"object": "list", "data": data}))
        elif as_json:
            self.say(formats.dump_indented(models))
        elif quiet:
            self.say("".join(m["id"].removeprefix("sha256:")[:12] + "\n" for m in models))
        else:
            self.say(formats.list_table(self.state, models))
        return 0

    def pull(self, args: list[str]) -> int:
        if len(args) != 1:
            raise UsageError('"pull" requires exactly 1 argument: MODEL')
        model = args[0]
        if not self.client.alive():
            raise self.not_running("Failed to pull model")
        last_error = ""
        for attempt in range(PULL_RETRIES + 1):
            if attempt:
                self.err.write(
                    f"Retrying download (attempt {attempt}/{PULL_RETRIES}) in {RETRY_DELAY_SECONDS}s...\n"
                )
                self.err.flush()
                time.sleep(RETRY_DELAY_SECONDS)
            try:
                cached_total = self._pull_once(model)
            except (NotRunning, ConnectionError, OSError, ValueError) as exc:
                last_error = str(exc) or type(exc).__name__
                continue
            except ApiError as exc:
                raise Failure(f"Failed to pull model: {exc}") from exc
            self.say(formats.pull_success(self.state, model, cached_total))
            return 0
        raise Failure(f"Failed to pull model: {last_error}")

    def _pull_once(self, model: str) -> int | None:
        """One create stream; returns the cached size or None; raises ConnectionError if cut."""
        for event in self.client.create(model):
            kind, message = event.get("type"), event.get("message", "")
            if kind == "progress":
                layer = event.get("layer") or {}
                current = int(layer.get("current", 0))
                self.say(formats.progress_line(current, int(event.get("total") or layer.get("size", 0))))
            elif kind == "warning":
                self.err.write(f"Warning: {message}\n")
            elif kind == "error":
                raise ApiError(200, message)
            elif kind == "success":
                return int(event.get("total", 0)) if message.startswith("Using cached model") else None
        raise ConnectionError("download interrupted: stream ended before success")

    def rm(self, args: list[str]) -> int:
        force = _flag(args, "-f") or _flag(args, "--force")
        if not args:
            raise UsageError('"rm" requires at least 1 argument: MODEL')
        for model in args:
            try:
                status, body = self.client.request(
                    "DELETE", model_path(model) + ("?force=true" if force else "")
                )
            except NotRunning as exc:
                raise self.not_running("Failed to remove model") from exc
            if status != 200:
                raise Failure(f"Failed to remove model: {body.decode(errors='replace').strip()}")
            for item in json.loads(body):
                for key, value in item.items():
                    self.say(f"{key}: {value}")
        return 0

    def configure(self, args: list[str]) -> int:
        runtime_flags: list[str] = []
        if "--" in args:
            cut = args.index("--")
            args, runtime_flags = args[:cut], args[cut + 1 :]
        context_size = _option(args, "--context-size")
        if len(args) != 1:
            raise UsageError('"configure" requires exactly 1 argument: MODEL')
        body: dict[str, Any] = {"model": args[0], "runtime-flags": runtime_flags}
        if context_size is not None:
            try:
                body["context-size"] = int(context_size)
            except ValueError as exc:
                raise UsageError(f'invalid argument "{context_size}" for "--context-size"') from exc
        try:
            self.client.json("POST", "/engines/_configure", body)
        except NotRunning as exc:
            raise self.not_running("Failed to configure backend") from exc
        except ApiError as exc:
            raise Failure(f"Failed to configure backend: {exc}") from exc
        return 0

    def inspect(self, args: list[str]) -> int:
        openai = _flag(args, "--openai")
        if len(args) != 1:
            raise UsageError('"inspect" requires exactly 1 argument: MODEL')
        model = args[0]
        path = ("/engines/v1/models/" + quote(model, safe="/:@")) if openai else model_path(model)
        try:
            status, body = self.client.request("GET", path)
        except NotRunning as exc:
            raise self.not_running("Failed to inspect model") from exc
        if status != 200:
            raise Failure(f"Failed to inspect model: {_error_text(body)}")
        self.say(formats.dump_indented(json.loads(body)))
        return 0


def _error_text(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return body.decode(errors="replace").strip()


def _flag(args: list[str], name: str) -> bool:
    if name in args:
        args.remove(name)
        return True
    return False


def _option(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
            del args[i : i + 2]
            return value
        if arg.startswith(name + "="):
            del args[i]
            return arg.split("=", 1)[1]
    return None


def _no_more(args: list[str]) -> None:
    if args:
        raise UsageError(f"unknown flag or argument: {args[0]}")


USAGE = """Usage:  docker model COMMAND

Docker Model Runner (stand-in for tests)

Commands:
  configure   Configure runtime options for a model
  inspect     Display detailed information on one model
  list        List the models pulled to your local environment
  pull        Pull a model to your local environment
  rm          Remove local models downloaded from Docker Hub
  status      Check if the Docker Model Runner is running
  version     Show the Docker Model Runner version
"""

COMMANDS: dict[str, Callable[[Cli, list[str]], int]] = {
    "status": Cli.status,
    "version": Cli.version,
    "list": Cli.list,
    "ls": Cli.list,
    "pull": Cli.pull,
    "rm": Cli.rm,
    "configure": Cli.configure,
    "config": Cli.configure,
    "inspect": Cli.inspect,
}


def main(argv: list[str], home: Path, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    log_invocation(home, argv)
    state = load(home)
    if argv[:1] == ["docker-cli-plugin-metadata"]:
        out.write(json.dumps(formats.metadata(state), indent=4) + "\n")
        return 0
    args = argv[1:] if argv[:1] == ["model"] else list(argv)
    if not args or args[0] in ("--help", "-h", "help"):
        out.write(USAGE)
        return 0
    command = COMMANDS.get(args[0])
    if command is None:
        err.write(f'unknown command "{args[0]}" for "docker model"\n')
        return 1
    try:
        return command(Cli(state, out, err), args[1:])
    except UsageError as exc:
        err.write(f"{exc}\n\n{USAGE}")
        return 1
    except Failure as exc:
        err.write(f"{exc}\n")
        return 1
