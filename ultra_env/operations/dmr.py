"""The one client for Docker Model Runner, by either of the two ways in that the real CLI has:

- ``Api``: the DMR HTTP API from the host (``GET /models``, ``POST /models/create``,
  ``DELETE /models/{name}``, ``/engines/…``), when it listens there;
- ``Cli``: the ``docker model`` CLI through the subprocess wrapper, which reaches the runner
  through Docker's socket even when nothing listens on the host (Docker Desktop with host-side
  TCP off, the most common setup).

``connect`` picks the API when it answers and the CLI otherwise (reference sections 3 and 4).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import quote

from ultra_env import http, proc
from ultra_env.config import modelnames
from ultra_env.errors import UltraError
from ultra_env.facts import model_runner as mr
from ultra_env.facts.docker import DOCKER
from ultra_env.facts.model_runner import NO_AUTO_INSTALL, model_status

OPENAI_PATH = "/engines/v1"
PULL_ATTEMPTS = 4
PULL_TIMEOUT = 3600.0
RETRIED_STATUS = frozenset({502, 503, 504})  # and network errors: what the real CLI retries
HF_HOSTS = ("hf.co/", "huggingface.co/")
_DOWNLOADED = re.compile(r"Downloaded ([\d.]+)\s*([kMGT]?B) of ([\d.]+)\s*([kMGT]?B)")
_UNITS = {"B": 1, "kB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}


class DmrError(UltraError):
    """Model Runner said no, or could not be reached."""


class Transient(DmrError):
    """A failure worth retrying: the connection broke, or a gateway had a moment (502/503/504)."""


@dataclass(frozen=True)
class Progress:
    model: str
    done: int  # bytes
    total: int  # bytes; 0 while unknown
    message: str = ""


class Runner(Protocol):
    """What ultra-env asks of Model Runner, whichever way it reaches it."""

    via: Literal["api", "cli"]

    def models(self) -> list[mr.LocalModel]: ...
    def find(self, name: str) -> mr.LocalModel | None:
        """The model the runner serves under ``name``, resolved by the runner itself; None if absent."""

    def pull(self, name: str, on_progress: Callable[[Progress], None]) -> None: ...
    def remove(self, name: str, *, force: bool = False) -> None: ...
    def configure(
        self, name: str, context_size: int | None, flags: list[str], keep_alive: str | None = None
    ) -> None: ...
    def applied(self) -> list[mr.AppliedConfig] | None:
        """What the runner applies to each model; None when it is too old to say (< v1.0.10)."""


def cli(*args: str, timeout: float) -> proc.Completed:
    """``docker model ARGS`` without ever installing or starting a runner as a side effect."""
    try:
        return proc.run([DOCKER, "model", *args], timeout=timeout, env=NO_AUTO_INSTALL)
    except proc.CommandNotFound:
        raise DmrError("the docker CLI is not installed", "invoke doctor") from None
    except proc.ProcError as exc:
        raise Transient(f"docker model {args[0]}: {exc}", "invoke doctor") from None


def status(timeout: float, api: str | None = None) -> mr.RunnerStatus:
    """The runner's status (``facts.model_runner.model_status``: JSON, else text, else the API at ``api``)."""
    found = model_status(timeout, api)
    if found.missing:
        raise DmrError("the docker CLI is not installed", "invoke doctor")
    if mr.plugin_missing(found.output):
        raise DmrError("the `docker model` CLI plugin is not installed", "invoke doctor")
    if found.value is None:
        raise DmrError(f"docker model status: {found.error}", "invoke doctor")
    return found.value


def hf_token_for(name: str, environ: Mapping[str, str]) -> str | None:
    """``HF_TOKEN``, sent for Hugging Face pulls only (gated models need it), as the CLI does."""
    return environ.get("HF_TOKEN") or None if name.lower().startswith(HF_HOSTS) else None


def configure_argv(name: str, context_size: int | None, flags: list[str], keep_alive: str | None = None) -> list[str]:
    """``configure [--context-size N] [--keep-alive D] MODEL [-- FLAGS]`` (flags after ``--``, as Compose does)."""
    size = ["--context-size", str(context_size)] if context_size else []
    size += ["--keep-alive", keep_alive] if keep_alive else []
    return ["configure", *size, modelnames.normalize(name), *(["--", *flags] if flags else [])]


def configure_failure(name: str, said: str) -> DmrError:
    if "already active" in said:
        return DmrError(
            f"{name} is loaded, and Model Runner does not reconfigure a running model ({said})",
            f"docker model unload {name} --backend llama.cpp, then run this again",
        )
    return DmrError(
        f"Model Runner refused the configuration of {name}: {said}", "check runtime_flags in ultra-env.toml"
    )


def pull_failure(reference: str, status: int, body: str) -> DmrError:
    """The error for an answer to ``POST /models/create`` before its stream (reference section 4)."""
    said = f" ({body})" if body else ""
    if status in RETRIED_STATUS:
        return Transient(f"pulling {reference}: the runner answered {status}{said}")
    if status == 400:
        return DmrError(
            f"{reference} is not a reference Model Runner accepts{said}",
            "check the name: [registry/]namespace/name[:tag], e.g. ai/smollm2:360M-Q4_K_M",
        )
    if status == 401:
        return DmrError(
            f"{reference} is gated: Hugging Face refused the pull without a valid token",
            "accept the model's terms on huggingface.co, then put a read token in .env: HF_TOKEN=hf_…",
        )
    if status == 404:
        return DmrError(
            f"no model {reference} in its registry{said}",
            "check the name and the tag: tags are case-sensitive (https://hub.docker.com/u/ai)",
        )
    if status == 422:
        return DmrError(
            f"{reference} is in a format newer than this Model Runner understands{said}",
            "update Model Runner: update Docker Desktop, or on Engine "
            "sudo apt-get install --only-upgrade docker-model-plugin && docker model reinstall-runner",
        )
    return DmrError(f"Model Runner failed to pull {reference} ({status}){said}", "docker model logs")


def parse_events(lines: Iterator[str], *, escaped: bool) -> Iterator[dict[str, Any]]:
    """The pull stream's NDJSON events. The real runner HTML-escapes every line unless the request
    said ``Accept: application/json`` (``progressResponseWriter``); an escaped line is unescaped,
    as the real CLI does, also when a server ignored the header."""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        candidates = (html.unescape(line), line) if escaped else (line, html.unescape(line))
        for candidate in candidates:
            try:
                event = json.loads(candidate)
                break
            except json.JSONDecodeError:
                continue
        else:
            raise Transient(f"unreadable pull event: {line[:80]!r}")
        if isinstance(event, dict):
            yield event


def parse_progress_line(model: str, line: str) -> Progress | None:
    """``Downloaded 12.34MB of 256.35MB`` (the CLI's progress when stdout is not a terminal)."""
    match = _DOWNLOADED.search(line)
    if match is None:
        return None
    done, done_unit, total, total_unit = match.groups()
    return Progress(model, int(float(done) * _UNITS[done_unit]), int(float(total) * _UNITS[total_unit]), line.strip())


@dataclass
class Api:
    """The DMR HTTP API at ``root`` (``http://localhost:12434``; no trailing slash)."""

    root: str
    timeout: float = 30.0
    environ: Mapping[str, str] | None = None  # where HF_TOKEN is read from
    via: Literal["api", "cli"] = "api"

    def _get(self, path: str) -> Any:
        try:
            response = http.get(f"{self.root}{path}", timeout=self.timeout)
        except http.HttpError as exc:
            raise Transient(f"{self.root} did not answer: {exc}", "invoke doctor") from None
        if response.status_code == 503:
            raise DmrError("Docker Model Runner is not running (503)", "invoke doctor")
        return response

    def models(self) -> list[mr.LocalModel]:
        response = self._get("/models")
        if response.status_code != 200:
            raise DmrError(f"GET /models answered {response.status_code}", "invoke doctor")
        return mr.parse_list_json(response.text)

    def find(self, name: str) -> mr.LocalModel | None:
        response = self._get(f"/models/{quote(modelnames.normalize(name), safe='/:@')}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise DmrError(f"GET /models/{name} answered {response.status_code}", "invoke doctor")
        try:
            return mr.parse_model(response.json())
        except (ValueError, AttributeError, TypeError):
            raise DmrError(f"GET /models/{name} gave no model", "invoke doctor") from None

    def remove(self, name: str, *, force: bool = False) -> None:
        url = f"{self.root}/models/{quote(modelnames.normalize(name), safe='/:@')}"
        try:
            response = http.request("DELETE", url, params={"force": "true"} if force else None, timeout=self.timeout)
        except http.HttpError as exc:
            raise Transient(f"{self.root} did not answer: {exc}") from None
        if response.status_code == 404:
            raise DmrError(f"no such model: {name}", "invoke models.list")
        if response.status_code >= 400:
            raise DmrError(
                f"removing {name} failed ({response.status_code}): {response.text.strip()[:200]}",
                f"invoke models.rm {name} --yes --force" if response.status_code == 409 else None,
            )

    def configure(self, name: str, context_size: int | None, flags: list[str], keep_alive: str | None = None) -> None:
        body: dict[str, Any] = {"model": modelnames.normalize(name)}
        body.update({"context-size": context_size} if context_size else {})
        body.update({"runtime-flags": flags} if flags else {})
        body.update({"keep_alive": keep_alive} if keep_alive else {})  # ParseKeepAlive's JSON field
        try:
            response = http.post(f"{self.root}/engines/_configure", json=body, timeout=self.timeout)
        except http.HttpError as exc:
            raise Transient(f"{self.root} did not answer: {exc}", "invoke doctor") from None
        if response.status_code != 202:
            raise configure_failure(name, f"{response.text.strip()[:200]} ({response.status_code})")

    def preload(self, name: str, timeout: float) -> None:
        """Load ``name`` without generating: any inference request with ``X-Preload-Only: true``
        (``pkg/inference/scheduling/http_handler.go``; reference section 3). One token at most from
        a runner that does not know the header."""
        body = {"model": modelnames.normalize(name), "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
        try:
            response = http.request(
                "POST",
                f"{self.root}{OPENAI_PATH}/chat/completions",
                json=body,
                headers={"X-Preload-Only": "true"},
                timeout=timeout,
            )
        except http.HttpError as exc:
            raise Transient(f"{self.root} did not answer: {exc.cause}", "invoke doctor") from None
        if response.status_code != 200:
            said = response.text.strip()[:200]
            raise DmrError(f"Model Runner could not load {name} ({response.status_code}): {said}", "docker model logs")

    def logs(self) -> str | None:
        """The runner's and its engines' log (``GET /logs``); None where the runner has none."""
        response = self._get("/logs")
        return response.text[-1_000_000:] if response.status_code == 200 else None

    def applied(self) -> list[mr.AppliedConfig] | None:
        response = self._get("/engines/_configure")
        if response.status_code in (404, 405):
            return None
        if response.status_code != 200:
            raise DmrError(f"GET /engines/_configure answered {response.status_code}", "invoke doctor")
        try:
            return mr.parse_configs(response.text)
        except (ValueError, AttributeError, TypeError):
            raise DmrError("GET /engines/_configure gave no configuration list", "invoke doctor") from None

    def pull(self, name: str, on_progress: Callable[[Progress], None]) -> None:
        """Pull ``name`` through ``POST /models/create``, retrying what the real CLI retries."""
        policy = http.Retry(attempts=PULL_ATTEMPTS, backoff=lambda n: min(2**n, 8) * 0.25)
        policy.run(lambda _: self._pull_once(name, on_progress), retry_if=http.raised(Transient))

    def _pull_once(self, name: str, on_progress: Callable[[Progress], None]) -> None:
        reference = modelnames.normalize(name)
        body = {"from": reference}
        token = hf_token_for(reference, self.environ or {})
        if token:  # the real CLI sends it in the body, never as a header (models/api.go ModelCreateRequest)
            body["bearer-token"] = token
        try:
            with http.stream(
                "POST",
                f"{self.root}/models/create",
                json=body,
                headers={"Accept": "application/json"},
                timeout=self.timeout,
                read_timeout=max(self.timeout, 300.0),
            ) as response:
                if response.status_code != 200:
                    said = response.read().decode("utf-8", "replace").strip()[:200]
                    raise pull_failure(reference, response.status_code, said)
                escaped = not response.headers.get("content-type", "").startswith("application/json")
                finished = False
                layers: dict[str, int] = {}
                for event in parse_events(response.iter_lines(), escaped=escaped):
                    kind = event.get("type")
                    if kind == "error":
                        raise DmrError(
                            f"pulling {reference} failed: {event.get('message', 'error event')}",
                            f"invoke models.pull --model {reference}",
                        )
                    if kind == "progress":
                        layer = event.get("layer") or {}
                        layers[str(layer.get("id", ""))] = int(layer.get("current") or 0)
                        on_progress(
                            Progress(
                                reference,
                                sum(layers.values()),
                                int(event.get("total") or layer.get("size") or 0),
                                str(event.get("message", "")),
                            )
                        )
                    if kind == "success":
                        finished = True
                if not finished:
                    raise Transient(f"the pull stream of {reference} ended without success")
        except http.HttpError as exc:
            raise Transient(f"pulling {reference}: {exc.cause}") from None


@dataclass
class Cli:
    """Model Runner through ``docker model``: what works when the API does not answer on the host."""

    timeout: float = 30.0
    environ: Mapping[str, str] | None = None  # where HF_TOKEN is read from
    via: Literal["api", "cli"] = "cli"

    def models(self) -> list[mr.LocalModel]:
        done = cli("list", "--json", timeout=self.timeout)
        if not done.ok:
            raise DmrError(f"docker model list: {_said(done)}", "invoke doctor")
        try:
            return mr.parse_list_json(done.stdout)
        except (ValueError, AttributeError, TypeError):
            raise DmrError(f"docker model list --json printed no model list: {_said(done)}", "invoke doctor") from None

    def find(self, name: str) -> mr.LocalModel | None:
        found = mr.inspect_model(modelnames.normalize(name), self.timeout)
        if found.missing:
            raise DmrError("the docker CLI is not installed", "invoke doctor")
        if not found.ok:
            raise DmrError(f"docker model inspect {name}: {found.error}", "invoke doctor")
        return found.value

    def remove(self, name: str, *, force: bool = False) -> None:
        reference = modelnames.normalize(name)
        done = cli("rm", *(["--force"] if force else []), reference, timeout=self.timeout)
        if done.ok:
            return
        if "no such model" in done.output:
            raise DmrError(f"no such model: {name}", "invoke models.list")
        raise DmrError(f"removing {name} failed: {_said(done)}", f"invoke models.rm {name} --yes --force")

    def pull(self, name: str, on_progress: Callable[[Progress], None]) -> None:
        """``docker model pull``: the CLI retries network errors itself; its progress lines are read."""
        reference = modelnames.normalize(name)

        def line(text: str) -> None:
            progress = parse_progress_line(reference, text)
            if progress is not None:
                on_progress(progress)

        token = hf_token_for(reference, self.environ or {})
        try:
            done = proc.stream(
                [DOCKER, "model", "pull", reference],
                timeout=PULL_TIMEOUT,
                on_line=line,
                env={**NO_AUTO_INSTALL, **({"HF_TOKEN": token} if token else {})},
            )
        except proc.ProcError as exc:
            raise DmrError(f"docker model pull {reference}: {exc}", "invoke doctor") from None
        if not done.ok:
            raise DmrError(f"pulling {reference} failed: {_said(done)}", f"docker model pull {reference}")

    def configure(self, name: str, context_size: int | None, flags: list[str], keep_alive: str | None = None) -> None:
        done = cli(*configure_argv(name, context_size, flags, keep_alive), timeout=self.timeout)
        if not done.ok:
            raise configure_failure(name, _said(done))

    def applied(self) -> list[mr.AppliedConfig] | None:
        done = cli("configure", "show", timeout=self.timeout)
        if not done.ok:
            return None  # a CLI without `configure show`, or a runner without the route behind it
        try:
            return mr.parse_configs(done.stdout)
        except (ValueError, AttributeError, TypeError):
            return None


def _said(done: proc.Completed) -> str:
    lines = [line.strip() for line in mr.strip_ansi(done.output).splitlines() if line.strip()]
    return (lines[-1] if lines else f"exit {done.returncode}")[:300]
