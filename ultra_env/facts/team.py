"""The team's shared model server as this machine sees it: whether it answers, takes the key and
which models it serves (``GET {url}/models``, the OpenAI-compatible listing every such server has)."""

from __future__ import annotations

from dataclasses import dataclass

from ultra_env import http
from ultra_env.facts.probe import Probe


@dataclass(frozen=True)
class TeamAnswer:
    status: int  # the HTTP status of GET {url}/models
    models: tuple[str, ...] = ()  # the ids it lists, when it answered 200 with a listing


def team_server(url: str, key: str | None, timeout: float) -> Probe[TeamAnswer]:
    """A ``TeamAnswer``, or the error when no HTTP answer came (refused, TLS, timeout)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = http.request("GET", f"{url}/models", timeout=timeout, headers=headers)
    except http.HttpError as exc:
        return Probe(error=exc.cause)
    if response.status_code != 200:
        return Probe(value=TeamAnswer(response.status_code))
    try:
        listed = response.json()["data"]
        return Probe(value=TeamAnswer(200, tuple(str(item["id"]) for item in listed)))
    except (ValueError, KeyError, TypeError) as exc:
        return Probe(error=f"{url}/models answered 200 without an OpenAI model listing ({type(exc).__name__})")
