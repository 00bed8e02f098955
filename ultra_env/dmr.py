"""The one client for Docker Model Runner: the ``docker model`` CLI through the subprocess wrapper,
and the DMR HTTP API (``/models``, ``/models/create``, ``/models/{name}``, ``/engines/v1/…``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ultra_env import http, modelnames, proc
from ultra_env.errors import UltraError
from ultra_env.facts import model_runner as mr
from ultra_env.facts.gather import DOCKER, NO_AUTO_INSTALL

OPENAI_PATH = "/engines/v1"
PULL_ATTEMPTS = 4


class DmrError(UltraError):
    """Model Runner said no, or could not be reached."""


class Transient(DmrError):
    """A failure worth retrying: the connection broke or the server had a moment (5xx)."""


@dataclass(frozen=True)
class Progress:
    model: str
    done: int  # bytes
    total: int  # bytes; 0 while unknown
    message: str = ""


def cli(*args: str, timeout: float) -> proc.Completed:
    """``docker model ARGS`` without ever installing or starting a runner as a side effect."""
    try:
        return proc.run([DOCKER, "model", *args], timeout=timeout, env=NO_AUTO_INSTALL)
    except proc.CommandNotFound:
        raise DmrError("the docker CLI is not installed", "invoke doctor") from None
    except proc.ProcError as exc:
        raise Transient(f"docker model {args[0]}: {exc}", "invoke doctor") from None


def status(timeout: float) -> mr.RunnerStatus:
    done = cli("status", "--json", timeout=timeout)
    if mr.plugin_missing(done.output):
        raise DmrError("the `docker model` CLI plugin is not installed", "invoke doctor")
    try:
        return mr.parse_status_json(done.stdout)
    except ValueError:
        raise DmrError(f"docker model status: {done.output.splitlines()[0] if done.output else 'no output'}",
                       "invoke doctor") from None


@dataclass
class Api:
    """The DMR HTTP API at ``root`` (``http://localhost:12434``; no trailing slash)."""

    root: str
    timeout: float = 30.0

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
        return next((m for m in self.models() if m.has(name)), None)

    def openai_models(self) -> list[str]:
        response = self._get(f"{OPENAI_PATH}/models")
        if response.status_code != 200:
            raise DmrError(f"GET {OPENAI_PATH}/models answered {response.status_code}", "invoke doctor")
        return [item.get("id", "") for item in response.json().get("data", [])]

    def remove(self, name: str, *, force: bool = False) -> None:
        import httpx

        url = f"{self.root}/models/{quote(modelnames.normalize(name), safe='/:')}"
        try:
            with http.client(self.timeout) as client:
                response = client.delete(url, params={"force": "true"} if force else None)
        except httpx.HTTPError as exc:
            raise Transient(f"{self.root} did not answer: {exc}") from None
        if response.status_code == 404:
            raise DmrError(f"no such model: {name}", "invoke models.list")
        if response.status_code >= 400:
            raise DmrError(f"removing {name} failed ({response.status_code}): {response.text.strip()[:200]}",
                           f"invoke models.rm {name} --yes --force" if response.status_code == 409 else None)

    def pull(self, name: str, on_progress: Callable[[Progress], None]) -> None:
        """Pull ``name`` through ``POST /models/create``, retrying transient failures."""
        for attempt in range(1, PULL_ATTEMPTS + 1):
            try:
                self._pull_once(name, on_progress)
                return
            except Transient:
                if attempt == PULL_ATTEMPTS:
                    raise
                time.sleep(min(2 ** attempt, 8) * 0.25)

    def _pull_once(self, name: str, on_progress: Callable[[Progress], None]) -> None:
        import httpx

        reference = modelnames.normalize(name)
        try:
            with http.client(self.timeout) as client, client.stream(
                "POST", f"{self.root}/models/create", json={"from": reference},
                timeout=httpx.Timeout(self.timeout, read=max(self.timeout, 300.0)),
            ) as response:
                if response.status_code != 200:
                    body = response.read().decode("utf-8", "replace").strip()[:200]
                    error = DmrError if response.status_code < 500 else Transient
                    raise error(f"pulling {reference} failed ({response.status_code}): {body}",
                                "check the name: invoke models.list / https://hub.docker.com/u/ai")
                finished = False
                layers: dict[str, int] = {}
                for event in _events(response.iter_lines()):
                    kind = event.get("type")
                    if kind == "error":
                        raise DmrError(f"pulling {reference} failed: {event.get('message', 'error event')}",
                                       f"invoke models.pull --model {reference}")
                    if kind == "progress":
                        layer = event.get("layer") or {}
                        layers[str(layer.get("id", ""))] = int(layer.get("current") or 0)
                        on_progress(Progress(reference, sum(layers.values()),
                                             int(event.get("total") or layer.get("size") or 0),
                                             str(event.get("message", ""))))
                    if kind == "success":
                        finished = True
                if not finished:
                    raise Transient(f"the pull stream of {reference} ended without success")
        except httpx.HTTPError as exc:
            raise Transient(f"pulling {reference}: {type(exc).__name__}: {exc}") from None


def _events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            raise Transient(f"unreadable pull event: {line[:80]!r}") from None
        if isinstance(event, dict):
            yield event
