"""The stand-in `docker-model` CLI plugin (run through the launcher that `plugin.install` writes).

Follows docker/model-runner `cmd/cli/commands/` (status.go, pull.go, list.go, rm.go, tag.go,
configure.go, configure_show.go, unload.go, inspect.go, ps.go, df.go, version.go, utils.go
handleClientError, install-runner.go withStandaloneRunner) and
`cmd/cli/desktop/` (desktop.go Pull/withRetries/isRetryableError/Remove/Tag/ConfigureBackend,
progress.go displayProgressSimple), in the version given by `cli_version` where releases differ
(see `releases`). Errors end the command as main.go does: the error on stderr, exit 1.
`MODEL_RUNNER_HOST` selects the manual-install kind and the runner URL (`desktop/context.go`).
The docker CLI's global flags before the plugin name (`--context team model …`, `-H URL model …`)
are kept and put in front of every real `docker` command the stand-in runs (`dockercli`);
`install-runner` / `uninstall-runner` are in `install`.
What cobra prints with cmd.Print* (status, version, ps, df) goes to stderr when the plugin runs
alone, as docker/cli's plugin framework sets stdout only when the docker CLI runs it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from . import formats, goduration, goformat, releases
from .client import ApiError, Client, ServiceUnavailable, StreamCut, Unreachable, model_path
from .dockercli import Docker, split_global_flags
from .names import display, is_valid, repository
from .state import State, load, log_invocation, versions

# cmd/cli/desktop/desktop.go isRetryableError: substrings of retryable network errors
RETRYABLE_PATTERNS = (
    "connection refused",
    "connection reset",
    "broken pipe",
    "timeout",
    "temporary failure",
    "no such host",
    "no route to host",
    "network is unreachable",
    "i/o timeout",
    "stream error",
    "internal_error",
    "protocol_error",
)


class UsageError(Exception):
    pass


class Failure(Exception):
    """Ends the command: message on stderr, exit 1."""


class Attempt(Exception):
    """One pull attempt failed; `retry` says whether withRetries tries again."""

    def __init__(self, error: Exception | str, retry: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry = retry


def is_retryable(error: Exception | str) -> bool:
    if isinstance(error, (StreamCut, ServiceUnavailable)):
        return True
    text = str(error).lower()
    return any(pattern in text for pattern in RETRYABLE_PATTERNS)


class Cli:
    def __init__(
        self, state: State, out: TextIO, err: TextIO, alone: bool = False, docker: Docker | None = None
    ) -> None:
        self.state = state
        self.client = Client(state)
        self.out = out
        self.err = err
        self.docker = docker or Docker()  # the engine the docker CLI that ran the plugin talks to
        # cobra's cmd.Print/Println write to OutOrStderr: stdout only when the docker CLI's plugin
        # framework set it (`plugin.RunPlugin` newPluginCommand SetOut); run alone they go to stderr
        self.printed = err if alone else out
        self.cli_version = versions(state)[0]

    def say(self, text: str) -> None:
        self.out.write(text if text.endswith("\n") else text + "\n")
        self.out.flush()

    def client_error(self, error: Exception | str, action: str) -> Failure:
        """`cmd/cli/commands/utils.go` handleClientError: ErrServiceUnavailable (even wrapped)
        becomes the not-running text, anything else `<action>: <error>`."""
        if isinstance(error, ServiceUnavailable):
            return Failure(formats.not_running_error(self.state))
        return Failure(f"{action}: {error}")

    # --- status (status.go) ---------------------------------------------------------------

    def status(self, args: list[str]) -> int:
        as_json = _flag(args, "--json")
        _no_more(args)
        running, backends = self.probe()
        if as_json:
            no_auto_install = bool(os.environ.get("MODEL_RUNNER_NO_AUTO_INSTALL"))
            if releases.status_json_panics(self.cli_version, self.state["kind"], no_auto_install):
                self.err.write(formats.status_panic(self.state))
                self.err.flush()
                return 2  # Go's exit status for an unrecovered panic
            self.printed.write(formats.status_json(self.state, running, backends) + "\n")
            return 0
        text = formats.status_text(self.state, running, backends)
        if running:
            self.printed.write(text)
        else:  # textStatus: cmd.Println, then printNextSteps on cmd.OutOrStdout()
            first, _, steps = text.partition("\n")
            self.printed.write(first + "\n")
            self.out.write(steps)
        return 0 if running else 1

    def probe(self) -> tuple[bool, dict[str, str]]:
        """desktop.Status: `GET /models` (503 → not running, transport error → failure), then
        `GET /engines/status`."""
        try:
            status, body = self.client.request("GET", "/models")
        except ServiceUnavailable:
            return False, {}
        except Unreachable as exc:
            raise Failure(f"Failed to get Docker Model Runner status: {exc}") from exc
        if status != 200:
            raise Failure(f"Failed to get Docker Model Runner status: unexpected status code: {status}")
        try:
            backends = self.client.json("GET", "/engines/status")
        except (ApiError, ServiceUnavailable, Unreachable, ValueError) as exc:
            self.err.write(f"failed to parse status response: {exc}\n")
            backends = {}
        return True, backends or {}

    def version(self, args: list[str]) -> int:
        _no_more(args)
        try:
            server = self.client.json("GET", "/version")["version"]
        except (ApiError, ServiceUnavailable, Unreachable, KeyError, TypeError, ValueError):
            server = None
        self.printed.write(formats.version_text(self.state, server))
        return 0

    # --- list (list.go) -------------------------------------------------------------------

    def list(self, args: list[str]) -> int:
        as_json, openai = _flag(args, "--json"), _flag(args, "--openai")
        quiet = _flag(args, "--quiet") or _flag(args, "-q")
        wanted = args.pop(0) if args else None
        _no_more(args)
        route = "/engines/v1/models" if openai else "/models"
        try:
            listing: Any = self.client.json("GET", route)
        except (ServiceUnavailable, Unreachable) as exc:
            raise self.client_error(exc, "Failed to list models") from exc
        except ApiError as exc:
            raise Failure(f"Failed to list models: failed to list models: {goformat.status_text(exc.status)}") from exc
        if openai:
            if wanted is not None:
                listing["data"] = [m for m in listing["data"] if _matches(m["id"], _filter(wanted))]
            self.out.write(formats.dump_indented(listing))
            return 0
        models: list[dict[str, Any]] | None = listing
        if wanted is not None:
            kept = []
            for model in listing:
                tags = [t for t in model.get("tags", []) if _matches(t, _filter(wanted))]
                if tags:
                    kept.append({**model, "tags": tags})
            models = kept or None  # Go marshals the empty filtered (nil) slice as null
        if as_json:
            self.out.write(formats.dump_indented(models))
        elif quiet:
            self.out.write("".join(m["id"][7:19] + "\n" for m in models or []))
        else:
            self.out.write(formats.list_table(self.state, models or []))
        return 0

    # --- pull (pull.go, desktop.go Pull) --------------------------------------------------

    def pull(self, args: list[str]) -> int:
        if len(args) != 1:
            raise UsageError(_requires("pull", 1, "MODEL"))
        model = args[0]
        token = os.environ.get("HF_TOKEN") if releases.sends_hf_token(self.cli_version, model) else None
        policy = releases.pull_retry_policy(self.cli_version)
        last: Attempt | None = None
        for attempt in range(policy.retries + 1):
            if attempt:
                delay = 1 << (attempt - 1)
                if policy.blank_line:
                    self.say("")
                self.err.write(
                    f"Retrying download (attempt {attempt}/{policy.retries}) in {goformat.duration(delay)}...\n"
                )
                self.err.flush()
                time.sleep(delay)
            try:
                message = self._pull_once(model, token, policy)
            except Attempt as failed:
                last = failed
                if failed.retry:
                    continue
                raise self.client_error(failed.error, "Failed to pull model") from None
            self.say(formats.pull_success(self.state, model, message))
            return 0
        assert last is not None
        if policy.retries == 0:
            raise self.client_error(last.error, "Failed to pull model")
        if isinstance(last.error, ServiceUnavailable):  # wrapped with %w: errors.Is still matches
            raise self.client_error(last.error, "Failed to pull model")
        raise self.client_error(policy.exhausted_message(str(last.error)), "Failed to pull model")

    def _pull_once(self, model: str, token: str | None, policy: releases.RetryPolicy) -> str:
        """One create stream, shown as displayProgressSimple shows it; returns the success message."""
        final, shown, layers, unparsed = "", False, {}, []
        try:
            for line in self.client.create(model, token):
                if not line:
                    continue
                try:
                    event = json.loads(goformat.html_unescape(line))
                except ValueError:
                    unparsed.append(line)
                    continue
                kind, message = event.get("type"), event.get("message", "")
                if kind == "progress":
                    shown = True
                    layer = event.get("layer") or {}
                    layers[layer.get("id", "")] = int(layer.get("current", 0))
                    self.say(formats.progress_line(sum(layers.values()), int(event.get("total") or 0)))
                elif kind == "success":
                    final = message
                elif kind == "warning":
                    self.err.write(f"Warning: {message}\n")
                elif kind == "error":
                    raise Attempt(message, is_retryable(message))
        except ServiceUnavailable as exc:
            raise Attempt(exc, True) from exc
        except Unreachable as exc:
            raise Attempt(exc, is_retryable(exc)) from exc
        except StreamCut as exc:
            raise Attempt(exc, True) from exc
        except ApiError as exc:
            body = exc.body.strip() if policy.trims_body else exc.body
            status = goformat.status_text(exc.status)
            if exc.status == 422 and policy.trims_body:
                text = f"pulling {model} failed with status {status}: unsupported model config media type: {body}"
                text += (
                    "\n"
                    + formats.BOLD
                    + "\nWhat's next:"
                    + formats.RESET
                    + "\n    Upgrade Docker Model Runner to the latest version to support this model"
                )
            else:
                text = f"pulling {model} failed with status {status}: {body}"
            raise Attempt(text, policy.should_retry_status(exc.status)) from exc
        if not final and not shown and unparsed:
            raise Attempt(
                "unexpected response from server (not valid progress data): " + "\n".join(unparsed)[:4096], False
            )
        return final

    # --- rm, tag, inspect -----------------------------------------------------------------

    def rm(self, args: list[str]) -> int:
        force = _flag(args, "-f") or _flag(args, "--force")
        if not args:
            raise UsageError(_requires("rm", 1, "[MODEL...]", at_least=True))
        for model in args:
            path = f"{model_path(model)}?force={'true' if force else 'false'}"
            try:
                status, body = self.client.request("DELETE", path)
            except (ServiceUnavailable, Unreachable) as exc:
                raise self.client_error(exc, "Failed to remove model") from exc
            if status == 404:
                raise Failure(f"Failed to remove model: no such model: {model}")
            if status != 200:
                raise Failure(
                    f"Failed to remove model: removing {model} failed with status "
                    f"{goformat.status_text(status)}: {body.decode(errors='replace')}"
                )
            for item in json.loads(body):
                for key, value in item.items():
                    self.say(f"{key}: {value}")
        return 0

    def tag(self, args: list[str]) -> int:
        """tag.go: `POST /models/SOURCE/tag?repo=R&tag=T` (201). Assumed: `repo` as typed, without the
        `docker.io/` that reference.Tag.String() puts in front of hub names at HEAD."""
        if len(args) != 2:
            raise UsageError(_requires("tag", 2, "SOURCE TARGET"))
        source, target = args
        if not is_valid(target):
            raise Failure(f"invalid tag: invalid reference {goformat.quote(target)}: invalid reference format")
        repo = repository(target)
        tag = target[len(repo) + 1 :] if len(target) > len(repo) else "latest"
        path = f"{model_path(source)}/tag?repo={quote(repo, safe='/:')}&tag={quote(tag)}"
        try:
            status, body = self.client.request("POST", path)
        except (ServiceUnavailable, Unreachable) as exc:
            raise Failure(f"failed to tag model: {exc}") from exc
        if status != 201:
            raise Failure(
                f"failed to tag model: tagging failed with status {goformat.status_text(status)}: "
                f"{body.decode(errors='replace')}"
            )
        self.say(f"Model {goformat.quote(source)} tagged successfully with {goformat.quote(target)}")
        return 0

    def inspect(self, args: list[str]) -> int:
        openai = _flag(args, "--openai")
        if len(args) != 1:
            raise UsageError(_requires("inspect", 1, "MODEL"))
        model = args[0]
        path = ("/engines/v1/models/" + quote(model, safe="/:@")) if openai else model_path(model)
        try:
            status, body = self.client.request("GET", path)
        except (ServiceUnavailable, Unreachable) as exc:
            raise self.client_error(exc, f"Failed to get model {model}") from exc
        if status == 404:
            raise Failure(f"Failed to get model {model}: {model}: model not found")
        if status != 200:
            raise Failure(f"Failed to get model {model}: failed to list models: {goformat.status_text(status)}")
        self.out.write(formats.dump_indented(json.loads(body)))
        return 0

    # --- configure, unload (configure.go, configure_show.go, unload.go) -------------------

    def configure(self, args: list[str]) -> int:
        if args[:1] == ["show"]:
            return self.configure_show(args[1:])
        runtime_flags: list[str] = []
        if "--" in args:
            cut = args.index("--")
            args, runtime_flags = args[:cut], args[cut + 1 :]
        context_size = _option(args, "--context-size")
        keep_alive = _option(args, "--keep-alive")
        if len(args) != 1:
            raise UsageError(f"Exactly one model must be specified, got {len(args)}: {args}")
        body: dict[str, Any] = {"model": args[0]}
        if context_size is not None:
            try:
                body["context-size"] = int(context_size)
            except ValueError as exc:
                raise UsageError(f'invalid argument "{context_size}" for "--context-size" flag') from exc
        if runtime_flags:
            body["runtime-flags"] = runtime_flags
        if keep_alive is not None:  # configure_flags.go: ParseKeepAlive, sent as KeepAlive JSON
            try:
                body["keep_alive"] = goduration.keep_alive(keep_alive)
            except ValueError as exc:
                raise UsageError(
                    f'invalid argument "{keep_alive}" for "--keep-alive" flag: invalid keep_alive duration '
                    f'"{keep_alive}": time: invalid duration "{keep_alive}"'
                ) from exc
        try:
            status, answer = self.client.request("POST", "/engines/_configure", body)
        except ServiceUnavailable as exc:
            raise Failure(str(exc)) from exc
        except Unreachable as exc:
            raise Failure(str(exc)) from exc
        if status == 409:
            raise Failure(answer.decode(errors="replace"))
        if status != 202:
            raise Failure(f"{answer.decode(errors='replace')} ({goformat.status_text(status)})")
        return 0

    def configure_show(self, args: list[str]) -> int:
        path = "/engines/_configure" + (f"?model={quote(args[0], safe='')}" if args else "")
        try:
            status, body = self.client.request("GET", path)
        except (ServiceUnavailable, Unreachable) as exc:
            raise Failure(str(exc)) from exc
        if status != 200:
            raise Failure(
                f"listing configs failed with status {goformat.status_text(status)}: {body.decode(errors='replace')}"
            )
        self.say(goformat.marshal(json.loads(body), indent="  "))
        return 0

    def unload(self, args: list[str]) -> int:
        all_models = _flag(args, "--all")
        backend = _option(args, "--backend") or ""
        if all_models and args:
            raise UsageError("'docker model unload' does not take MODEL when --all is specified.")
        if not all_models and not args:
            raise UsageError("'docker model unload' requires MODEL unless --all is specified.")
        body = {"all": all_models, "backend": backend, "models": args}
        try:
            answer = self.client.json("POST", "/engines/unload", body)
        except (ServiceUnavailable, Unreachable) as exc:
            raise self.client_error(exc, "Failed to unload models") from exc
        except ApiError as exc:
            raise Failure(
                f"Failed to unload models: unloading failed with status {goformat.status_text(exc.status)}: {exc.body}"
            ) from exc
        count = int(answer["unloaded_runners"])
        if count:
            self.say(f"Unloaded {count} model(s).")
        else:
            self.say("No models are running." if all_models else "No such model(s) running.")
        return 0

    # --- ps, df (ps.go, df.go) ------------------------------------------------------------

    def _listing(self, path: str) -> Any:
        """GET ``path``; ps.go and df.go word their failures alike ("Failed to list running models")."""
        try:
            return self.client.json("GET", path)
        except (ServiceUnavailable, Unreachable) as exc:
            raise self.client_error(exc, "Failed to list running models") from exc
        except ApiError as exc:
            raise Failure(f"Failed to list running models: {exc.body.strip()}") from exc

    def ps(self, args: list[str]) -> int:
        """ps.go psTable: MODEL NAME (defaults stripped, lower-cased), BACKEND, MODE, UNTIL (formatUntil)."""
        _no_more(args)
        running = self._listing("/engines/ps")
        rows = [["MODEL NAME", "BACKEND", "MODE", "UNTIL"]]
        for status in running or []:
            name = status["model_name"]
            name = name[7:19] if name.startswith("sha256:") else display(name.lower())
            rows.append([name, status["backend_name"], status["mode"], until(status)])
        self.printed.write(formats.go_table(rows))
        return 0

    def df(self, args: list[str]) -> int:
        """df.go diskUsageTable: Models, and Inference engine when its size is not 0 (go-units CustomSize)."""
        _no_more(args)
        usage = self._listing("/engines/df")
        rows = [["TYPE", "SIZE"], ["Models", goformat.custom_size(float(usage["models_disk_usage"]))]]
        if usage.get("default_backend_disk_usage"):
            rows.append(["Inference engine", goformat.custom_size(float(usage["default_backend_disk_usage"]))])
        self.printed.write(formats.go_table(rows))
        return 0

    # --- install-runner, uninstall-runner (install.py) ------------------------------------

    def install_runner(self, args: list[str]) -> int:
        from .install import install_runner

        return install_runner(self, args)

    def uninstall_runner(self, args: list[str]) -> int:
        from .install import uninstall_runner

        return uninstall_runner(self, args)


def until(status: dict[str, Any]) -> str:
    """ps.go formatUntil: Loading..., Forever, the keep-alive from now while in use or never used,
    else what is left of it (Expiring when nothing)."""
    if status.get("loading"):
        return "Loading..."
    keep = goduration.keep_alive_ns(status.get("keep_alive"))
    if keep is None:
        return "Forever"
    last_used = goduration.parse_time(status.get("last_used") or "0001-01-01T00:00:00Z")
    if status.get("in_use") or not last_used:
        return goduration.human_duration(keep / 1e9) + " from now"
    remaining = keep / 1e9 - (time.time() - last_used)
    if remaining <= 0:
        return "Expiring"
    return goduration.human_duration(remaining) + " from now"


def _filter(wanted: str) -> str:
    """list.go normalizeModelFilter: `ai/` prefixed when there is no '/'."""
    return wanted if "/" in wanted else "ai/" + wanted


def _matches(tag: str, wanted: str) -> bool:
    """list.go matchesModelFilter: exact tag with ':', else the repository."""
    if ":" in wanted:
        return tag == wanted
    return tag.split(":", 1)[0] == wanted


def _requires(command: str, n: int, usage: str, at_least: bool = False) -> str:
    count = f"at least {n}" if at_least else str(n)
    return (
        f"'docker model {command}' requires {count} argument(s).\n\n"
        f"Usage:  docker model {command} {usage}\n\n"
        f"See 'docker model {command} --help' for more information"
    )


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
  configure   Configure runtime options for a model (configure show: what is applied)
  inspect     Display detailed information on one model
  list        List the models pulled to your local environment
  df          Show Docker Model Runner disk usage
  install-runner    Install Docker Model Runner (Docker Engine only)
  ps          List running models
  pull        Pull a model from Docker Hub or HuggingFace to your local environment
  rm          Remove local models downloaded from Docker Hub
  status      Check if the Docker Model Runner is running
  tag         Tag a model
  uninstall-runner  Uninstall Docker Model Runner (Docker Engine only)
  unload      Unload running models
  version     Show the Docker Model Runner version
"""

COMMANDS: dict[str, Callable[[Cli, list[str]], int]] = {
    "status": Cli.status,
    "version": Cli.version,
    "list": Cli.list,
    "ls": Cli.list,
    "pull": Cli.pull,
    "rm": Cli.rm,
    "tag": Cli.tag,
    "configure": Cli.configure,
    "config": Cli.configure,
    "unload": Cli.unload,
    "stop": Cli.unload,
    "inspect": Cli.inspect,
    "ps": Cli.ps,
    "df": Cli.df,
    "install-runner": Cli.install_runner,
    "uninstall-runner": Cli.uninstall_runner,
}


# cmd/cli/commands/root.go: commands wrapped in withStandaloneRunner (the others manage the runner)
NEEDS_RUNNER = {
    "status",
    "pull",
    "list",
    "ls",
    "rm",
    "inspect",
    "tag",
    "configure",
    "config",
    "ps",
    "df",
    "unload",
    "stop",
}

# assumed example of what ensureStandaloneRunnerAvailable meets when it cannot set up the runner
# container (`cmd/cli/pkg/standalone/images.go` EnsureControllerImage, offline daemon)
STANDALONE_ERROR = (
    "unable to pull latest standalone model runner image: failed to pull image docker/model-runner:latest "
    'and no local image found: Error response from daemon: Get "https://registry-1.docker.io/v2/": '
    "dial tcp: lookup registry-1.docker.io: no such host"
)


def detected(state: State) -> State:
    """`cmd/cli/desktop/context.go` DetectContext: MODEL_RUNNER_HOST makes the kind
    `Docker Engine (Manual Install)` and points the client at that URL."""
    host = os.environ.get("MODEL_RUNNER_HOST")
    if host:
        return {**state, "kind": "Docker Engine (Manual Install)", "model_runner_host": host}
    return state


def standalone_failure(state: State, command: str) -> str | None:
    """`cmd/cli/commands/install-runner.go` withStandaloneRunner: on Docker Engine / Cloud, unless
    MODEL_RUNNER_NO_AUTO_INSTALL is set, the CLI first finds or installs the runner container; when
    that fails the command ends with `unable to initialize standalone model runner: <err>` on stderr,
    exit 1 (cmd/cli/main.go), even though the runner's HTTP API may answer. Played when the
    `standalone_error` setting is set (True: STANDALONE_ERROR; a string: that inner error)."""
    setting = state["standalone_error"]
    if not setting or command not in NEEDS_RUNNER:
        return None
    if state["kind"] not in ("Docker Engine", "Docker Cloud") or os.environ.get("MODEL_RUNNER_NO_AUTO_INSTALL"):
        return None
    inner = STANDALONE_ERROR if setting is True else str(setting)
    return f"unable to initialize standalone model runner: {inner}"


def running_alone(argv: list[str]) -> bool:
    """docker/cli `cli-plugins/plugin` RunningStandalone: not run by the docker CLI (which sets
    DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND). Assumed: an argv starting with the plugin name `model`
    (after the global flags), as the docker CLI passes it, also counts as run by the CLI (the tests'
    direct invocations)."""
    return not os.environ.get("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND") and argv[:1] != ["model"]


def main(argv: list[str], home: Path, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """The plugin's entry point, with the plugin's `os.Args[1:]`: what the docker CLI passes on is
    `[GLOBAL FLAGS…] model COMMAND …` (docker/cli `cli-plugins/manager` PluginRunCommand runs the
    plugin with the CLI's own arguments); run alone, `COMMAND …`. The global flags are kept for the
    docker commands the stand-in runs (`dockercli`); DOCKER_HOST / DOCKER_CONTEXT reach them from
    the environment."""
    log_invocation(home, argv)
    state = detected(load(home))
    if argv[:1] == ["docker-cli-plugin-metadata"]:
        out.write(json.dumps(formats.metadata(state), indent=4) + "\n")
        return 0
    global_flags, argv = split_global_flags(list(argv))
    alone = running_alone(argv)
    args = argv[1:] if argv[:1] == ["model"] else list(argv)
    if not args or args[0] in ("--help", "-h", "help"):
        out.write(USAGE)
        return 0
    command = COMMANDS.get(args[0])
    if command is None:
        err.write(f'unknown command "{args[0]}" for "docker model"\n')
        return 1
    failure = standalone_failure(state, args[0])
    if failure is not None:
        err.write(failure + "\n")
        return 1
    try:
        return command(Cli(state, out, err, alone=alone, docker=Docker(global_flags)), args[1:])
    except UsageError as exc:
        err.write(f"{exc}\n")
        return 1
    except Failure as exc:
        err.write(f"{exc}\n")
        return 1
