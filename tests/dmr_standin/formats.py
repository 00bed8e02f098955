"""What the `docker model` CLI prints, old and new format (reference section 3)."""

from __future__ import annotations

import json
import time
from typing import Any

from .names import display
from .state import Entry, State, versions

NOT_RUNNING = "Docker Model Runner is not running"
ENABLE_VIA_CLI = "Enable Docker Model Runner via the CLI → docker desktop enable model-runner"
ENABLE_VIA_GUI = (
    "Enable Docker Model Runner via the GUI → Go to Settings->Features in development->"
    "Enable Docker Model Runner"
)
BOLD, RESET = "\x1b[1m", "\x1b[0m"


def metadata(state: State) -> dict[str, str]:
    cli, _ = versions(state)
    return {
        "SchemaVersion": "0.1.0",
        "Vendor": "Docker Inc.",
        "Version": cli,
        "ShortDescription": "Docker Model Runner",
        "URL": "https://github.com/docker/model-runner",
    }


def default_backends(state: State) -> dict[str, str]:
    if state["backends"] is not None:
        return dict(state["backends"])
    if state["format"] == "new":
        return {"llama.cpp": "Running: llama.cpp version: c55bce4"}
    return {"llama.cpp": "running llama.cpp version: c55bce4"}


def endpoints(state: State) -> tuple[str, str]:
    """(`endpoint`, `endpointHost`) of `status --json` for the configured kind."""
    port, kind, new = state["port"], state["kind"], state["format"] == "new"
    if kind == "Docker Desktop":
        endpoint = "http://model-runner.docker.internal/" + ("v1/" if new else "engines/v1/")
        host = "http://localhost/exp/vDD4.40/v1/"
    elif kind in ("Docker Engine (Manual Install)", "Docker Cloud"):
        endpoint = host = f"http://localhost:{port}/engines/v1/"
    else:
        endpoint = f"http://172.17.0.1:{port}/engines/v1/"
        host = f"http://localhost:{port}/engines/v1/"
    return state["endpoint"] or endpoint, state["endpoint_host"] or host


def status_json(state: State, running: bool, backends: dict[str, str]) -> str:
    endpoint, endpoint_host = endpoints(state)
    body: dict[str, Any] = {"running": running, "backends": backends}
    if state["format"] == "new":
        body |= {"kind": state["kind"], "endpoint": endpoint, "endpointHost": endpoint_host}
    else:
        body["endpoint"] = endpoint
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def status_text(state: State, running: bool, backends: dict[str, str]) -> str:
    if not running:
        steps = "".join(f"    {step}\n" for step in (ENABLE_VIA_CLI, ENABLE_VIA_GUI))
        return f"{NOT_RUNNING}\n{BOLD}\nWhat's next:{RESET}\n{steps}"
    if state["format"] == "old":
        lines = [f"{name}: {status}" for name, status in backends.items() if status != "not running"]
        return "Docker Model Runner is running\n\nStatus:\n" + "".join(f"{line}\n" for line in lines)
    rows = [["BACKEND", "STATUS", "DETAILS"]]
    for name, status in backends.items():
        label, _, details = status.partition(": ")
        rows.append([name, label, details])
    return "Docker Model Runner is running\n\n" + table(rows)


def version_text(state: State, server_version: str | None) -> str:
    cli, _ = versions(state)
    if state["format"] == "old":
        return f"Docker Model Runner version {cli}-standin\nDocker Engine Kind: {state['kind']}\n"
    server = server_version or "(not reachable)"
    return (
        f"Client:\n Version: {cli}\n OS/Arch: linux/amd64\n\n"
        f"Server:\n Version: {server}\n Engine: {state['kind']}\n"
    )


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("   ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
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
    return table(rows)


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
    return f"{n / 1000 / 1000:.2f}MB"


def progress_line(current: int, total: int) -> str:
    return f"Downloaded {megabytes(current)} of {megabytes(total)}"


def pull_success(state: State, model: str, cached_total: int | None) -> str:
    if state["format"] == "old":
        return f"Model {model} pulled successfully"
    if cached_total is not None:
        return f"Using cached model: {megabytes(cached_total)}"
    return "Model pulled successfully"


def dump_indented(value: Any) -> str:
    return json.dumps(value, indent=4, ensure_ascii=False)
