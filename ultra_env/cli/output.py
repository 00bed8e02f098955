"""What the quiet commands print (configuration, profiles, services, models, answers, benchmarks,
the summary), for people or as one JSON document. Everything passes through the Redactor on its
way out; every write goes through ``reporters.write``."""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from typing import Any, TextIO

from pydantic import SecretStr

from ultra_env.cli.reporters import write
from ultra_env.config.settings import PROFILE_FEATURES, PROFILE_HELP, Profile
from ultra_env.config.sources import Loaded
from ultra_env.engine.redact import Redactor
from ultra_env.engine.run import TaskResult


def config_rows(loaded: Loaded) -> list[tuple[str, Any, str]]:
    """Every effective value as (dotted path, value, where it came from); secrets masked."""
    rows: list[tuple[str, Any, str]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict) and value:
            for key, child in value.items():
                walk(child, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for index, child in enumerate(value):
                walk(child, f"{path}.{index}")
        else:
            if isinstance(value, SecretStr):
                value = "*** (set)"
            elif value is None and path.endswith("api_key"):
                value = "(not set)"
            elif isinstance(value, StrEnum):
                value = value.value
            rows.append((path, value, loaded.origin(path)))

    walk(loaded.settings.model_dump(mode="python"), "")
    return rows


def print_config(loaded: Loaded, *, as_json: bool, redactor: Redactor, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    rows = config_rows(loaded)
    if as_json:
        body = {path: {"value": value, "origin": origin} for path, value, origin in rows}
        write(stream, redactor.json(body, indent=2, default=str) + "\n")
        return
    width = max(len(path) for path, _, _ in rows)
    lines = []
    for path, value, origin in rows:
        shown = json.dumps(value, default=str) if not isinstance(value, str) else value
        lines.append(f"{path:<{width}}  {shown:<32} {origin}".rstrip())
    write(stream, redactor("\n".join(lines)) + "\n")


def print_profiles(loaded: Loaded, *, as_json: bool, redactor: Redactor, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    active = loaded.settings.profile
    profiles = [
        {"name": p.value, "active": p is active, "description": PROFILE_HELP[p], "features": PROFILE_FEATURES[p]}
        for p in Profile
    ]
    if as_json:
        body = {"active": active.value, "origin": loaded.origin("profile"), "profiles": profiles}
        write(stream, redactor.json(body, indent=2) + "\n")
        return
    lines = [f"active profile: {active.value} (from {loaded.origin('profile')})"]
    lines += [f"  {'*' if p['active'] else ' '} {p['name']:<7} {p['description']}" for p in profiles]
    lines.append("switch with: invoke profile NAME")
    write(stream, redactor("\n".join(lines)) + "\n")


def print_services(
    services: list, project: str, *, as_json: bool, redactor: Redactor, stream: TextIO | None = None
) -> None:
    stream = stream or sys.stdout
    rows = [
        {"service": s.service, "state": s.state, "health": s.health or "-", "ports": s.ports, "container": s.container}
        for s in services
    ]
    if as_json:
        write(stream, redactor.json({"project": project, "services": rows}, indent=2) + "\n")
        return
    if not rows:
        write(stream, redactor(f"{project}: no containers (invoke up)") + "\n")
        return
    header = {"service": "SERVICE", "state": "STATE", "health": "HEALTH", "ports": "PORTS"}
    widths = {k: max(len(header[k]), *(len(r[k]) for r in rows)) for k in header}
    lines = ["  ".join(f"{r[k]:<{widths[k]}}" for k in header).rstrip() for r in [header, *rows]]
    write(stream, redactor("\n".join(lines)) + "\n")


class PullProgress:
    """Pull progress per model: a bar redrawn in place on a terminal, plain lines otherwise."""

    def __init__(self, redactor: Redactor, stream: TextIO | None = None, *, every_s: float = 2.0) -> None:
        self.redact = redactor
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.every_s = every_s
        self._start: dict[str, float] = {}
        self._last: dict[str, float] = {}

    def __call__(self, event: Any) -> None:

        now = time.monotonic()
        start = self._start.setdefault(event.model, now)
        rate = event.done / (now - start) / 1e6 if now > start else 0.0
        done_mb, total_mb = event.done / 1e6, event.total / 1e6
        share = f"{100 * event.done / event.total:5.1f}%" if event.total else "     "
        finished = bool(event.total) and event.done >= event.total
        if self.tty:
            width = 24
            filled = int(width * event.done / event.total) if event.total else 0
            bar = "#" * filled + "-" * (width - filled)
            write(
                self.stream,
                self.redact(
                    f"\r  {event.model}  [{bar}] {share} {done_mb:.1f}/{total_mb:.1f} MB  {rate:.1f} MB/s"
                    + ("\n" if finished else "")
                ),
            )
        elif finished or now - self._last.get(event.model, 0.0) >= self.every_s:
            self._last[event.model] = now
            write(
                self.stream,
                self.redact(
                    f"  pulling {event.model}: {done_mb:.1f} of {total_mb:.1f} MB {share.strip()} ({rate:.1f} MB/s)"
                )
                + "\n",
            )


def print_models(models: list, *, as_json: bool, redactor: Redactor, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    rows = [
        {
            "name": m.tags[0] if m.tags else m.id,
            "tags": list(m.tags),
            "size": m.size or "",
            "parameters": m.parameters or "",
            "quantization": m.quantization or "",
            "context": m.context_size,
            "id": m.id,
        }
        for m in models
    ]
    if as_json:
        write(stream, redactor.json(rows, indent=2) + "\n")
        return
    if not rows:
        write(stream, "no local models (invoke models.pull)\n")
        return
    header = {
        "name": "MODEL",
        "size": "SIZE",
        "parameters": "PARAMETERS",
        "quantization": "QUANTIZATION",
        "context": "CONTEXT",
    }
    cells = [header] + [{k: str(r[k] if r[k] is not None else "-") for k in header} for r in rows]
    widths = {k: max(len(c[k]) for c in cells) for k in header}
    table = "\n".join("  ".join(f"{c[k]:<{widths[k]}}" for k in header).rstrip() for c in cells)
    write(stream, redactor(table) + "\n")


def _stats(response: Any) -> str:
    parts = [f"{response.latency_s:.2f}s"]
    if response.ttft_s is not None:
        parts.append(f"first token {response.ttft_s:.3f}s")
    if response.tokens_per_s:
        parts.append(f"{response.tokens_per_s:.1f} tokens/s")
    if response.usage:
        parts.append(f"tokens {response.usage.prompt_tokens} in / {response.usage.completion_tokens} out")
    elif response.chunks:
        parts.append(f"{response.chunks} chunks")
    return " · ".join(parts)


class AnswerPrinter:
    """``llm.ask``: the answer (streamed as it comes when asked), then its numbers on stderr."""

    def __init__(self, redactor: Redactor, *, as_json: bool) -> None:
        self.redact = redactor
        self.as_json = as_json
        self.streamed = False

    def text(self, piece: str) -> None:
        if not self.as_json:
            self.streamed = True
            write(sys.stdout, self.redact(piece))

    def outcome(self, outcome: Any) -> None:
        if self.as_json:
            write(sys.stdout, self.redact.json(outcome.to_dict(), indent=2) + "\n")
            return
        if outcome.response is None:
            return
        if not self.streamed:
            write(sys.stdout, self.redact(outcome.response.text))
        write(sys.stdout, "\n")
        write(
            sys.stderr,
            f"— {outcome.target.label} · {_stats(outcome.response)} · finish: {outcome.response.finish_reason}\n",
        )


def first_line(text: str, width: int = 60) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


def print_comparison(outcomes: list, redactor: Redactor, *, as_json: bool, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    if as_json:
        write(stream, redactor.json({"results": [o.to_dict() for o in outcomes]}, indent=2) + "\n")
        return
    header = ("PROVIDER", "MODEL", "LATENCY", "FIRST TOKEN", "TOKENS/S", "ANSWER")
    rows = [header]
    for o in outcomes:
        if o.response is not None:
            r = o.response
            rows.append(
                (
                    o.target.provider.name,
                    o.target.model,
                    f"{r.latency_s:.2f}s",
                    f"{r.ttft_s:.3f}s" if r.ttft_s is not None else "-",
                    f"{r.tokens_per_s:.1f}" if r.tokens_per_s else "-",
                    first_line(r.text) or "(empty)",
                )
            )
        else:
            rows.append(
                (
                    o.target.provider.name,
                    o.target.model,
                    "-",
                    "-",
                    "-",
                    f"ERROR {o.error.kind}: {first_line(o.error.message, 50)}",
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = ["  ".join([*(f"{cell:<{w}}" for cell, w in zip(row[:-1], widths, strict=False)), row[-1]]) for row in rows]
    write(stream, redactor("\n".join(lines)) + "\n")


def print_bench(rows: list, *, as_json: bool, redactor: Redactor, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    if as_json:
        write(stream, redactor.json({"results": [r.to_dict() for r in rows]}, indent=2) + "\n")
        return

    def cell(value: Any, unit: str = "") -> str:
        return "-" if value is None else f"{value}{unit}"

    header = (
        "PROVIDER",
        "MODEL",
        "CONC",
        "N",
        "ERR",
        "TTFT p50",
        "TTFT p95",
        "LATENCY p50",
        "LATENCY p95",
        "DECODE tok/s",
        "SERVER tok/s",
        "TOTAL tok/s",
    )
    table = [header] + [
        (
            r.provider,
            r.model,
            str(r.concurrency),
            str(r.requests),
            str(r.errors),
            cell(r.ttft_p50_s, "s"),
            cell(r.ttft_p95_s, "s"),
            cell(r.latency_p50_s, "s"),
            cell(r.latency_p95_s, "s"),
            cell(r.decode_tokens_per_s),
            cell(r.server_tokens_per_s),
            cell(r.throughput_tokens_per_s),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(f"{c:<{w}}" for c, w in zip(row, widths, strict=False)).rstrip() for row in table]
    errors = [f"{r.provider}:{r.model} at {r.concurrency}: {r.first_error}" for r in rows if r.first_error]
    write(stream, redactor("\n".join(lines + errors)) + "\n")


def note(result: TaskResult, redactor: Redactor) -> None:
    """A warning beside a listing (on stderr, so the listing itself stays machine-readable)."""
    fix = f"\n      fix: {result.fix}" if result.fix else ""
    write(sys.stderr, redactor(f"note: {result.msg}{fix}") + "\n")


def say(text: str, redactor: Redactor) -> None:
    """A plain line for people (onboarding's steps)."""
    write(sys.stdout, redactor(text) + "\n")


def print_summary(settings: Any, root: Any, *, ok: bool, redactor: Redactor, stream: TextIO | None = None) -> None:
    """The one screen after onboarding: what runs where, and what to type next."""
    stream = stream or sys.stdout
    features = settings.features
    where = {"backend": f"http://127.0.0.1:{settings.ports.backend}"}
    if features.frontend:
        where["frontend"] = f"http://127.0.0.1:{settings.ports.frontend}"
    models = [m.name for m in settings.models] if features.local_llm else []
    cloud = {name: p.api_key is not None for name, p in settings.providers.items()} if features.cloud_llm else {}
    lines = [
        "",
        ("Ultra is ready" if ok else "Not ready yet: see the failed tasks above")
        + f" · profile {settings.profile.value}",
    ]
    lines += [f"  {name:<10} {url}" for name, url in where.items()]
    if models:
        lines.append(
            f"  {'models':<10} {', '.join(models)} via Docker Model Runner "
            f"({settings.model_runner.host_url}/engines/v1)"
        )
    if cloud:
        lines.append(f"  {'cloud':<10} " + ", ".join(f"{n} ({'key set' if k else 'no key'})" for n, k in cloud.items()))
    if features.mock_llm:
        lines.append(f"  {'llm':<10} the backend's mock LLM")
    lines += [
        f"  {'files':<10} {root}/docker-compose.yml, .env (your keys: never commit it)",
        "",
        "Next:",
        "  invoke status               what runs, and its health",
        "  invoke health               check it end to end",
        '  invoke llm.compare "Hello"  every enabled model side by side',
        "  invoke profile cloud        switch to cloud models (keys in .env)",
        "  invoke down                 stop the stack (data kept)",
    ]
    write(stream, redactor("\n".join(lines)) + "\n")
