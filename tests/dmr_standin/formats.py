"""What the `docker model` CLI prints, old and new format (reference section 3).

Follows docker/model-runner `cmd/cli/commands/status.go` (jsonStatus, textStatus),
`cmd/cli/commands/utils.go` (printNextSteps, handleClientError), `cmd/cli/desktop/progress.go`
(displayProgressSimple) and, for the versions that panic, the Go runtime's panic report.
Simplification (assumed): the `BACKEND STATUS DETAILS` table is tied to format "new" and the
`Status:` lines to "old", although upstream switched at CLI v1.1.1 (860b40d9).
"""

from __future__ import annotations

import time
from typing import Any

from . import backends as llamacpp
from . import goformat, releases
from .metadata import metadata as plugin_metadata
from .names import display
from .state import Entry, State, versions

NOT_RUNNING = "Docker Model Runner is not running"
ENABLE_VIA_CLI = "Enable Docker Model Runner via the CLI → docker desktop enable model-runner"
BOLD, RESET = "\x1b[1m", "\x1b[0m"
# cmd/cli/commands/utils.go errNotRunning, used by every command but status on a 503
NOT_RUNNING_RETRY = "Docker Model Runner is not running. Please start it and try again.\n"


def metadata(state: State) -> dict[str, str]:
    cli, _ = versions(state)
    return plugin_metadata(cli)


# `GET /engines/status` of the real runner built from 642c7211 on Linux (captures smoke.txt,
# api-probe.txt; `Running: llama.cpp unknown` only because that llama.cpp was unpinned). Tests
# play it with `state.update(home, backends=CAPTURED_BACKENDS)`.
CAPTURED_BACKENDS = {
    "diffusers": "Not Installed",
    "llama.cpp": "Running: llama.cpp unknown",
    "mlx": "Not Installed: only supported on Apple Silicon",
    "sglang": "Not Installed: package not installed",
    "vllm": "Not Installed: binary not found",
}


def default_backends(state: State) -> dict[str, str]:
    """`GET /engines/status`: the `backends` setting when given, else llama.cpp alone (running, or
    its deferred-install status, `backends.status`)."""
    if state["backends"] is not None:
        return dict(state["backends"])
    if llamacpp.deferred(state):
        return {"llama.cpp": llamacpp.status(state)}
    if state["format"] == "new":
        return {"llama.cpp": "Running: llama.cpp version: c55bce4"}
    return {"llama.cpp": "running llama.cpp version: c55bce4"}


ENGINE_PORT = 12434  # cmd/cli/pkg/standalone/ports.go DefaultControllerPortMoby
CLOUD_PORT = 12435  # DefaultControllerPortCloud


def manual_host(state: State) -> str:
    """The runner URL of a manual install: `MODEL_RUNNER_HOST` as the CLI saw it (`desktop/context.go`
    DetectContext; `cli.main` records it), else (assumed) the stand-in's own loopback address."""
    host = state.get("model_runner_host") or f"http://127.0.0.1:{state['port']}"
    return host if host.startswith(("http://", "https://")) else "http://" + host


def endpoints(state: State) -> tuple[str, str]:
    """(`endpoint`, `endpointHost`) of `status --json` (`cmd/cli/commands/status.go` jsonStatus).

    New format (CLI >= v1.0.5, 76ea6d78): `/v1/` endpoints.
    - Docker Desktop: `http://model-runner.docker.internal/v1/` and the socket-only
      `http://localhost/exp/vDD4.40/v1/` (modelRunner.URL).
    - Docker Engine: host.docker.internal on v1.0.5-v1.0.8 and when rootless, the runner
      container's bridge-gateway binding from v1.0.9 (07eb5dab). The real CLI always writes port
      12434 (`makeEndpoint(gatewayIP, DefaultControllerPortMoby)`, status.go:156-162), whatever
      port the runner listens on: played with the `cli_default_port` setting. Without it (assumed,
      the default) the stand-in's own port, so tests that run it on a free port can reach it.
    - Docker Engine (Manual Install): MODEL_RUNNER_HOST + `/v1/` for both (capture
      cli-docker-model-plugin.txt: `http://127.0.0.1:12434/v1/` twice).
    - Docker Cloud: 127.0.0.1 and port 12435 (`cli_default_port`) or the stand-in's port.
    Old format: the `/engines/v1/` endpoint, the runner's gateway binding on Engine/Cloud (assumed:
    the stand-in's port).
    """
    port, kind, new = state["port"], state["kind"], state["format"] == "new"
    cli, _ = versions(state)
    fixed = bool(state["cli_default_port"])
    if new:
        if kind == "Docker Desktop":
            endpoint, host = "http://model-runner.docker.internal/v1/", "http://localhost/exp/vDD4.40/v1/"
        elif kind == "Docker Engine (Manual Install)":
            endpoint = host = manual_host(state).rstrip("/") + "/v1/"
        elif kind == "Docker Cloud":
            endpoint = host = f"http://127.0.0.1:{CLOUD_PORT if fixed else port}/v1/"
        else:
            gateway = (
                state["bridge_gateway"]
                if releases.engine_endpoint_uses_gateway(cli, bool(state["rootless"]))
                else "host.docker.internal"
            )
            shown = ENGINE_PORT if fixed else port
            endpoint, host = f"http://{gateway}:{shown}/v1/", f"http://127.0.0.1:{shown}/v1/"
    elif kind == "Docker Desktop":
        endpoint = host = "http://model-runner.docker.internal/engines/v1/"
    elif kind == "Docker Engine (Manual Install)":
        endpoint = host = manual_host(state).rstrip("/") + "/engines/v1/"
    else:
        endpoint = host = f"http://{state['bridge_gateway']}:{port}/engines/v1/"
    return state["endpoint"] or endpoint, state["endpoint_host"] or host


def status_json(state: State, running: bool, backends: dict[str, str]) -> str:
    endpoint, endpoint_host = endpoints(state)
    body: dict[str, Any] = {"running": running, "backends": backends}
    if state["format"] == "new":
        body |= {"kind": state["kind"], "endpoint": endpoint, "endpointHost": endpoint_host}
    else:
        body["endpoint"] = endpoint
    return goformat.marshal(body)


def next_steps(state: State) -> str:
    """`cmd/cli/commands/utils.go` printNextSteps with the two enable hints."""
    cli, _ = versions(state)
    steps = (ENABLE_VIA_CLI, releases.next_steps_gui(cli))
    return f"{BOLD}\nWhat's next:{RESET}\n" + "".join(f"    {step}\n" for step in steps)


def not_running_error(state: State) -> str:
    """handleClientError for ErrServiceUnavailable: the error text main() prints."""
    return NOT_RUNNING_RETRY + "\n" + next_steps(state).rstrip("\n")


def connection_error(method: str, port: int, path: str, reason: str = "connect: connection refused") -> str:
    """Go's *url.Error for a refused dial, behind handleQueryError's `error querying <path>: `
    (`cmd/cli/desktop/desktop.go`). Assumed: the CLI's `localhost` resolves to 127.0.0.1."""
    where = f'{method} "http://localhost:{port}{path}"'
    return f"error querying {path.split('?')[0]}: {where}: dial tcp 127.0.0.1:{port}: {reason}"


def status_panic(state: State) -> str:
    """The Go runtime's report of the nil dereference in jsonStatus (model-cli v0.1.31 ... cmd/cli v1.0.4):
    `standaloneRunner.gatewayIP` sits at offset 8, hence addr=0x8. The frame arguments and pc are
    assumed (they vary per build)."""
    package, line = releases.panic_frame(versions(state)[0])
    source = "commands/status.go" if package.endswith("model-cli/commands") else "cmd/cli/commands/status.go"
    return (
        "panic: runtime error: invalid memory address or nil pointer dereference\n"
        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x8 pc=0x1b4c3e5]\n"
        "\n"
        "goroutine 1 [running]:\n"
        f"{package}.jsonStatus(0x0, {{0x1, {{0xc0004a2000, 0x2f, 0x30}}, {{0x0, 0x0}}}}, 0xc000496fc0)\n"
        f"\t/src/{source}:{line} +0x85\n"
        f"{package}.newStatusCmd.func1(0xc0001d2908, {{0x2a8d1e0, 0x0, 0x0}})\n"
        f"\t/src/{source}:40 +0x1b1\n"
        "github.com/spf13/cobra.(*Command).execute(0xc0001d2908, {0xc0001a61a0, 0x1, 0x1})\n"
        "\t/go/pkg/mod/github.com/spf13/cobra@v1.9.1/command.go:1015 +0xa94\n"
        "main.main()\n"
        "\t/src/main.go:15 +0x1d\n"
    )


def status_text(state: State, running: bool, backends: dict[str, str]) -> str:
    """`cmd/cli/commands/status.go` textStatus / backendStatusTable: rows sorted Running, Error,
    Not Installed, Installing, then by name (capture cli-docker-model-plugin.txt)."""
    if not running:
        return f"{NOT_RUNNING}\n{next_steps(state)}"
    if state["format"] == "old":
        lines = [f"{name}: {status}" for name, status in backends.items() if status != "not running"]
        return "Docker Model Runner is running\n\nStatus:\n" + "".join(f"{line}\n" for line in lines)
    rows = [["BACKEND", "STATUS", "DETAILS"]]
    order = {"Running": 0, "Error": 1, "Not Installed": 2, "Installing": 3}
    parsed = sorted(
        ((name, *parse_status(status)) for name, status in backends.items()),
        key=lambda row: (order.get(row[1], 4), row[0]),
    )
    rows += [list(row) for row in parsed]
    return "Docker Model Runner is running\n\n" + go_table(rows)


def parse_status(status: str) -> tuple[str, str]:
    """`pkg/inference/backend.go` ParseStatus: (type, details); unknown text is an Error."""
    if not status:
        return "Not Installed", ""
    for prefix in ("Running", "Error", "Not Installed", "Installing"):
        if status == prefix:
            return prefix, ""
        if status.startswith(prefix + ": "):
            return prefix, status[len(prefix) + 2 :]
    return "Error", status


def go_table(rows: list[list[str]]) -> str:
    """The CLI's newTable (tablewriter) as the captures show it: every cell padded to its column's
    width and followed by two spaces (cli-docker-model-plugin.txt: status, ls, df, ps)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join("".join(cell.ljust(w) + "  " for cell, w in zip(row, widths, strict=False)) + "\n" for row in rows)


def version_text(state: State, server_version: str | None) -> str:
    """`cmd/cli/commands/version.go`: labels padded to one column (` Version:    `), as the capture
    cli-docker-model-plugin.txt shows (3af8549d). Assumed: tied to format "new", as the status table."""
    cli, _ = versions(state)
    if state["format"] == "old":
        return f"Docker Model Runner version {cli}-standin\nDocker Engine Kind: {state['kind']}\n"
    server = server_version or "(not reachable)"
    return (
        f"Client:\n Version:    {cli}\n OS/Arch:    linux/amd64\n\n"
        f"Server:\n Version:    {server}\n Engine:     {state['kind']}\n"
    )


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in rows)
    return "".join(line + "\n" for line in lines)


def list_table(state: State, models: list[Entry], now: float | None = None) -> str:
    new = state["format"] == "new"
    header = ["MODEL NAME", "PARAMETERS", "QUANTIZATION", "ARCHITECTURE", "MODEL ID", "CREATED"]
    header += ["CONTEXT", "SIZE"] if new else ["SIZE"]
    rows = [header]
    for model in models:
        config = model["config"]
        for tag in model["tags"]:
            row = [
                display(tag),
                config["parameters"],
                config["quantization"],
                config["architecture"],
                model["id"].removeprefix("sha256:")[:12],
                human_age(model["created"], now),
            ]
            if new:
                row.append(str(config.get("context_size") or "-"))
            row.append(config["size"])
            rows.append(row)
    return go_table(rows) if new else table(rows)


def human_age(created: int, now: float | None = None) -> str:
    seconds = max(0, int((now if now is not None else time.time()) - created))
    minutes, hours, days = seconds / 60, seconds / 3600, seconds / 86400
    if seconds < 1:
        text = "Less than a second"
    elif seconds < 60:
        text = "1 second" if seconds == 1 else f"{seconds} seconds"
    elif minutes < 2:
        text = "About a minute"
    elif minutes < 60:
        text = f"{int(minutes)} minutes"
    elif hours < 2:
        text = "About an hour"
    elif hours < 48:
        text = f"{int(hours)} hours"
    elif days < 14:
        text = f"{int(days)} days"
    elif days < 60:
        text = f"{int(days / 7)} weeks"
    elif days < 730:
        text = f"{int(days / 30)} months"
    else:
        text = f"{int(days / 365)} years"
    return text + " ago"


def megabytes(n: int) -> str:
    """docker/go-units CustomSize with base 1000, as `Downloaded … of …` uses it."""
    return goformat.custom_size(float(n))


def progress_line(current: int, total: int) -> str:
    """`cmd/cli/desktop/progress.go` displayProgressSimple, one line per progress event."""
    return f"Downloaded {megabytes(current)} of {megabytes(total)}"


def server_progress_message(current: int) -> str:
    """`pkg/distribution/internal/progress/reporter.go` PullMsg (deprecated `message` field)."""
    return f"Downloaded: {current / 1024 / 1024:.2f} MB"


def pull_success(state: State, model: str, message: str) -> str:
    """The CLI prints the success event's message verbatim (`cmd/cli/commands/pull.go`); the old
    format's `Model X pulled successfully` is the reference's older form."""
    if state["format"] == "old":
        return f"Model {model} pulled successfully"
    return message


def dump_indented(value: Any) -> str:
    """`cmd/cli/commands/formatter/json.go` ToStandardJSON: 4-space indent, no HTML escaping,
    trailing newline."""
    return goformat.encode(value, escape_html=False, indent="    ")
