"""The plugin's HTTP client for the stand-in API, behaving as docker/model-runner
`cmd/cli/desktop/desktop.go` does: no `Accept` header (so pulls get the escaped text stream),
`User-Agent: docker-model-cli/<version>`, a 503 becomes ErrServiceUnavailable, transport
failures read like Go's `*url.Error` behind handleQueryError (`error querying <path>: …`).
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from .formats import connection_error
from .state import State, versions


class ServiceUnavailable(Exception):
    """desktop.ErrServiceUnavailable: the API answered 503."""

    def __str__(self) -> str:
        return "service unavailable"


class Unreachable(Exception):
    """A transport error, worded like Go's (`error querying /models: Get "…": dial tcp …`)."""


class StreamCut(Exception):
    """The body ended inside a chunk: Go's io.ErrUnexpectedEOF."""

    def __str__(self) -> str:
        return "unexpected EOF"


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


class Client:
    def __init__(self, state: State, timeout: float = 30.0) -> None:
        host = state["host"]
        self.host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        self.port = int(state["port"])
        if state.get("model_runner_host"):  # MODEL_RUNNER_HOST (`desktop/context.go` DetectContext)
            from urllib.parse import urlsplit

            target = str(state["model_runner_host"])
            url = urlsplit(target if "://" in target else "http://" + target)
            self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.timeout = timeout
        self.user_agent = "docker-model-cli/" + versions(state)[0]

    def _send(self, method: str, path: str, body: Any = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        payload = None if body is None else json.dumps(body).encode()
        headers = {"User-Agent": self.user_agent}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
        except OSError as exc:
            conn.close()
            reason = "connect: connection refused" if isinstance(exc, ConnectionRefusedError) else str(exc)
            raise Unreachable(connection_error(method.capitalize(), self.port, path, reason)) from exc
        if response.status == 503:
            response.read()
            conn.close()
            raise ServiceUnavailable()
        return response

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        response = self._send(method, path, body)
        try:
            return response.status, response.read()
        finally:
            response.close()

    def json(self, method: str, path: str, body: Any = None) -> Any:
        status, data = self.request(method, path, body)
        if status >= 400:
            raise ApiError(status, data.decode(errors="replace"))
        return json.loads(data) if data else None

    def create(self, model: str, bearer_token: str | None) -> Iterator[str]:
        """`POST /models/create`: yields the body's lines as sent (escaped); ApiError before the
        stream; StreamCut if the chunked body breaks off."""
        body: dict[str, str] = {"from": model}
        if bearer_token:
            body["bearer-token"] = bearer_token
        response = self._send("POST", "/models/create", body)
        try:
            if response.status != 200:
                raise ApiError(response.status, response.read().decode(errors="replace"))
            # read1, not line iteration: http.client's readline (via peek) turns a truncated
            # chunked body into a clean end, where Go's reader reports io.ErrUnexpectedEOF.
            pending = b""
            try:
                while chunk := response.read1(65536):
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        yield line.decode(errors="replace").rstrip("\r")
            except (http.client.IncompleteRead, ConnectionError, OSError) as exc:
                raise StreamCut() from exc
            if pending:
                yield pending.decode(errors="replace")
        finally:
            response.close()


def model_path(name: str) -> str:
    return "/models/" + quote(name, safe="/:@")
