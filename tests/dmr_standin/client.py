"""The plugin's HTTP client for the stand-in API (where the real CLI talks to DMR)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from .state import State


class NotRunning(Exception):
    """The API is down (connection refused) or answers 503."""


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Client:
    def __init__(self, state: State, timeout: float = 30.0) -> None:
        host = state["host"]
        self.host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        self.port = int(state["port"])
        self.timeout = timeout

    def _send(self, method: str, path: str, body: Any = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
        except (ConnectionRefusedError, ConnectionResetError, TimeoutError, OSError) as exc:
            conn.close()
            raise NotRunning(str(exc)) from exc
        if response.status == 503:
            response.read()
            conn.close()
            raise NotRunning("503 Service Unavailable")
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
            raise ApiError(status, data.decode(errors="replace").strip())
        return json.loads(data) if data else None

    def alive(self) -> bool:
        """The CLI's own liveness check: `GET /models` == 200."""
        try:
            status, data = self.request("GET", "/models")
        except NotRunning:
            return False
        if status != 200:
            raise ApiError(status, data.decode(errors="replace").strip())
        return True

    def create(self, model: str) -> Iterator[dict[str, Any]]:
        """`POST /models/create`: yields the NDJSON events; ApiError before the stream."""
        response = self._send("POST", "/models/create", {"from": model})
        try:
            if response.status != 200:
                raise ApiError(response.status, response.read().decode(errors="replace").strip())
            for line in response:
                if line.strip():
                    yield json.loads(line)
        finally:
            response.close()


def model_path(name: str) -> str:
    return "/models/" + quote(name, safe="/:@")
