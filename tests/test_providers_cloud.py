"""The cloud providers (OpenAI, Anthropic, Google) against the payloads in ``fixtures/providers``.

``httpx.MockTransport`` serves those files here. It is the ONLY mock in the suite: it stands in for
cloud APIs that cannot be reached from these machines (see ``fixtures/providers/README.md`` for
where each payload's shape comes from). Everything else in the provider code runs for real: the
request it builds, the parsing, the retries, the errors. (``time.sleep`` is swapped for a recorder
only so that retry back-offs are counted instead of waited for.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ultra_env.llm.providers.anthropic import Anthropic
from ultra_env.llm.providers.base import ChatRequest, ChatResponse, Provider, ProviderError
from ultra_env.llm.providers.google import Google
from ultra_env.llm.providers.http_api import retry_after_s
from ultra_env.llm.providers.openai import OpenAI
from ultra_env.llm.providers.openai_compat import OpenAICompatible

FIXTURES = Path(__file__).parent / "fixtures" / "providers"
SERVED: dict[str, dict[str, Any]] = json.loads((FIXTURES / "served.json").read_text(encoding="utf-8"))
KEY = "sk-PLANTED-4f9c2e7a1b3d5f6e8a0c"
PACE = 0.01  # seconds between two streamed events
MESSAGES = [
    {"role": "system", "content": "Answer in one sentence."},
    {"role": "user", "content": "Name a European capital."},
    {"role": "assistant", "content": "Which country?"},
    {"role": "user", "content": "What is the capital of France?"},
]
_sleep = time.sleep


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sse_events(name: str) -> list[bytes]:
    """The events of an .sse fixture, each with its blank-line terminator."""
    body = fixture(name)
    sep = b"\r\n\r\n" if b"\r\n\r\n" in body else b"\n\n"
    return [event + sep for event in body.split(sep) if event.strip()]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def served(name: str) -> Reply:
    return Reply(SERVED[name]["status"], SERVED[name]["headers"], fixture(name))


def sse(*events: bytes) -> Reply:
    return Reply(200, {"content-type": "text/event-stream"}, b"".join(events))


class Server:
    """Answers each request with the next reply (the last one repeats) and keeps every request."""

    def __init__(self, *replies: str | Reply) -> None:
        self.replies = [served(r) if isinstance(r, str) else r for r in replies]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if reply.headers.get("content-type", "").startswith("text/event-stream"):
            return httpx.Response(reply.status, headers=reply.headers, content=self._paced(reply.body))
        return httpx.Response(reply.status, headers=reply.headers, content=reply.body)

    @staticmethod
    def _paced(body: bytes) -> Iterator[bytes]:
        for line in body.splitlines(keepends=True):
            if line.startswith(b"data:"):
                _sleep(PACE)
            yield line

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def body(self) -> dict[str, Any]:
        return json.loads(self.last.content)


@dataclass(frozen=True)
class Cloud:
    name: str
    make: Callable[..., Provider]
    model: str
    plain: str
    stream: str
    models: str
    unauthorized: str
    unavailable: str  # a transient 5xx

    def provider(self, server: Server) -> Provider:
        return self.make(KEY, transport=server.transport)


OPENAI = Cloud(
    "openai",
    OpenAI,
    "gpt-4o-mini",
    "openai/chat.json",
    "openai/chat-stream.sse",
    "openai/models.json",
    "openai/error-401-invalid-api-key.json",
    "openai/error-503-overloaded.json",
)
ANTHROPIC = Cloud(
    "anthropic",
    Anthropic,
    "claude-sonnet-4-5",
    "anthropic/messages.json",
    "anthropic/messages-stream.sse",
    "anthropic/models.json",
    "anthropic/error-401-authentication.json",
    "anthropic/error-529-overloaded.json",
)
GOOGLE = Cloud(
    "google",
    Google,
    "gemini-2.5-flash",
    "google/generate.json",
    "google/generate-stream.sse",
    "google/models.json",
    "google/error-400-api-key-invalid.json",
    "google/error-503-unavailable.json",
)
CLOUDS = [pytest.param(c, id=c.name) for c in (OPENAI, ANTHROPIC, GOOGLE)]
STREAM = [pytest.param(False, id="plain"), pytest.param(True, id="stream")]


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry back-offs, recorded instead of slept."""
    seen: list[float] = []
    monkeypatch.setattr(time, "sleep", seen.append)
    return seen


def chat(cloud: Cloud, server: Server, stream: bool = False, timeout: float = 60.0) -> ChatResponse:
    request = ChatRequest(
        messages=MESSAGES, model=cloud.model, max_tokens=32, temperature=0.2, stream=stream, timeout=timeout
    )
    return cloud.provider(server).chat(request)


def fail(cloud: Cloud, server: Server, stream: bool = False, timeout: float = 60.0) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        chat(cloud, server, stream, timeout)
    error = caught.value
    assert error.provider == cloud.name
    assert KEY not in str(error) and KEY not in repr(error)
    return error


# --- the request each provider builds -------------------------------------------------------------


@pytest.mark.parametrize("stream", STREAM)
def test_openai_request(stream: bool, sleeps: list[float]) -> None:
    server = Server(OPENAI.stream if stream else OPENAI.plain)
    chat(OPENAI, server, stream)
    request = server.last
    assert (request.method, str(request.url)) == ("POST", "https://api.openai.com/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    usage = {"stream_options": {"include_usage": True}} if stream else {}
    assert server.body() == {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "max_tokens": 32,
        "temperature": 0.2,
        "stream": stream,
        **usage,
    }


@pytest.mark.parametrize("stream_usage", [False, True])
def test_other_openai_compatible_servers_get_stream_options_only_when_asked(stream_usage: bool) -> None:
    server = Server(OPENAI.stream, OPENAI.plain)
    provider = OpenAICompatible(
        "team-gpu", "http://10.1.2.3:8080/v1", stream_usage=stream_usage, transport=server.transport
    )
    provider.chat(ChatRequest(messages=MESSAGES, model="gemma", stream=True))
    assert ("stream_options" in server.body()) is stream_usage
    provider.chat(ChatRequest(messages=MESSAGES, model="gemma"))
    assert "stream_options" not in server.body()  # a plain request never carries it


@pytest.mark.parametrize("stream", STREAM)
def test_anthropic_request(stream: bool, sleeps: list[float]) -> None:
    server = Server(ANTHROPIC.stream if stream else ANTHROPIC.plain)
    chat(ANTHROPIC, server, stream)
    request = server.last
    assert (request.method, str(request.url)) == ("POST", "https://api.anthropic.com/v1/messages")
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers
    assert server.body() == {
        "model": "claude-sonnet-4-5",
        "system": "Answer in one sentence.",
        "max_tokens": 32,
        "temperature": 0.2,
        "stream": stream,
        "messages": MESSAGES[1:],
    }


@pytest.mark.parametrize("stream", STREAM)
def test_google_request(stream: bool, sleeps: list[float]) -> None:
    server = Server(GOOGLE.stream if stream else GOOGLE.plain)
    chat(GOOGLE, server, stream)
    request = server.last
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    assert (request.method, str(request.url)) == (
        "POST",
        f"https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:{method}",
    )
    assert request.headers["x-goog-api-key"] == KEY
    assert "key" not in request.url.params and "authorization" not in request.headers
    assert server.body() == {
        "systemInstruction": {"parts": [{"text": "Answer in one sentence."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Name a European capital."}]},
            {"role": "model", "parts": [{"text": "Which country?"}]},
            {"role": "user", "parts": [{"text": "What is the capital of France?"}]},
        ],
        "generationConfig": {"maxOutputTokens": 32, "temperature": 0.2},
    }


def test_google_accepts_a_model_named_like_its_model_list(sleeps: list[float]) -> None:
    server = Server(GOOGLE.plain)
    Google(KEY, transport=server.transport).chat(ChatRequest(messages=MESSAGES[1:2], model="models/gemini-2.5-flash"))
    assert server.last.url.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert "systemInstruction" not in server.body()


@pytest.mark.parametrize("cloud", CLOUDS)
@pytest.mark.parametrize("stream", STREAM)
def test_the_key_never_reaches_a_url(cloud: Cloud, stream: bool, sleeps: list[float]) -> None:
    server = Server(cloud.stream if stream else cloud.plain, cloud.models)
    chat(cloud, server, stream)
    cloud.provider(server).list_models(5.0)
    assert all(KEY not in str(request.url) for request in server.requests)


# --- the answer -------------------------------------------------------------------------------------

ANSWERS = [
    pytest.param(OPENAI, "openai/chat.json", "gpt-4o-mini-2024-07-18", (24, 8), 0, id="openai-plain"),
    pytest.param(OPENAI, "openai/chat-stream.sse", "gpt-4o-mini-2024-07-18", None, 7, id="openai-stream"),
    pytest.param(
        OPENAI, "openai/chat-stream-usage.sse", "gpt-4o-mini-2024-07-18", (24, 7), 7, id="openai-stream-usage"
    ),
    pytest.param(ANTHROPIC, "anthropic/messages.json", "claude-sonnet-4-5-20250929", (21, 10), 0, id="anthropic-plain"),
    pytest.param(
        ANTHROPIC, "anthropic/messages-stream.sse", "claude-sonnet-4-5-20250929", (21, 10), 3, id="anthropic-stream"
    ),
    pytest.param(GOOGLE, "google/generate.json", "gemini-2.5-flash", (9, 8), 0, id="google-plain"),
    pytest.param(GOOGLE, "google/generate-stream.sse", "gemini-2.5-flash", (9, 8), 3, id="google-stream"),
]


@pytest.mark.parametrize(("cloud", "name", "model", "usage", "chunks"), ANSWERS)
def test_answer(
    cloud: Cloud, name: str, model: str, usage: tuple[int, int] | None, chunks: int, sleeps: list[float]
) -> None:
    stream = name.endswith(".sse")
    server = Server(name)
    answer = chat(cloud, server, stream)
    assert len(server.requests) == 1 and not sleeps
    assert (answer.provider, answer.model) == (cloud.name, model)
    assert answer.text == "Paris is the capital of France."
    assert answer.finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == usage if usage else answer.usage is None
    assert answer.chunks == chunks
    assert answer.latency_s > 0
    if stream:
        assert answer.ttft_s is not None and PACE <= answer.ttft_s < answer.latency_s
        assert answer.tokens_per_s == pytest.approx((answer.completion_tokens - 1) / (answer.latency_s - answer.ttft_s))
    else:
        assert answer.ttft_s is None
        assert answer.tokens_per_s == pytest.approx(answer.completion_tokens / answer.latency_s)
    assert answer.to_dict()["tokens_per_s"] == answer.tokens_per_s


@pytest.mark.parametrize("cloud", CLOUDS)
@pytest.mark.parametrize("stream", STREAM)
def test_on_text_gets_each_streamed_piece(cloud: Cloud, stream: bool, sleeps: list[float]) -> None:
    pieces: list[str] = []
    request = ChatRequest(messages=MESSAGES, model=cloud.model, stream=stream)
    answer = cloud.provider(Server(cloud.stream if stream else cloud.plain)).chat(request, pieces.append)
    if stream:
        assert len(pieces) == answer.chunks > 1 and "".join(pieces) == answer.text
    else:
        assert pieces == []


@pytest.mark.parametrize("cloud", CLOUDS)
def test_list_models(cloud: Cloud) -> None:
    server = Server(cloud.models)
    names = cloud.provider(server).list_models(5.0)
    expected = {
        "openai": ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"],
        "anthropic": ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-opus-4-1-20250805"],
        "google": ["gemini-2.5-flash", "gemini-2.5-pro", "text-embedding-004"],
    }
    assert names == expected[cloud.name]
    request = server.last
    assert request.method == "GET"
    assert request.url.path == ("/v1beta/models" if cloud is GOOGLE else "/v1/models")
    auth = {
        "openai": ("authorization", f"Bearer {KEY}"),
        "anthropic": ("x-api-key", KEY),
        "google": ("x-goog-api-key", KEY),
    }[cloud.name]
    assert request.headers[auth[0]] == auth[1]


@pytest.mark.parametrize("cloud", CLOUDS)
def test_list_models_error(cloud: Cloud) -> None:
    with pytest.raises(ProviderError) as caught:
        cloud.provider(Server(cloud.unauthorized)).list_models(5.0)
    assert caught.value.kind == "auth" and KEY not in str(caught.value)


def test_google_safety_stopped_candidate_is_an_empty_filtered_answer(sleeps: list[float]) -> None:
    answer = chat(GOOGLE, Server("google/generate-candidate-safety.json"))
    assert (answer.text, answer.finish_reason) == ("", "content_filter")


# --- errors -----------------------------------------------------------------------------------------

ERRORS = [
    ("openai/error-401-invalid-api-key.json", "auth"),
    ("openai/error-404-model-not-found.json", "not_found"),
    ("openai/error-429-rate-limit.json", "rate_limit"),
    ("openai/error-429-insufficient-quota.json", "quota"),
    ("openai/error-429-project-spend-limit.json", "quota"),
    ("openai/error-500-server.json", "server"),
    ("openai/error-503-overloaded.json", "server"),
    ("anthropic/error-400-invalid-request.json", "bad_request"),
    ("anthropic/error-401-authentication.json", "auth"),
    ("anthropic/error-402-billing.json", "quota"),
    ("anthropic/error-403-permission.json", "auth"),
    ("anthropic/error-404-not-found.json", "not_found"),
    ("anthropic/error-429-rate-limit.json", "rate_limit"),
    ("anthropic/error-429-spend-cap.json", "quota"),
    ("anthropic/error-500-api.json", "server"),
    ("anthropic/error-529-overloaded.json", "server"),
    ("google/error-400-api-key-invalid.json", "auth"),
    ("google/error-400-invalid-argument.json", "bad_request"),
    ("google/error-401-unauthenticated.json", "auth"),
    ("google/error-403-permission-denied.json", "auth"),
    ("google/error-404-model-not-found.json", "not_found"),
    ("google/error-429-resource-exhausted.json", "rate_limit"),
    ("google/error-429-quota-per-day.json", "quota"),
    ("google/error-500-internal.json", "server"),
    ("google/error-503-unavailable.json", "server"),
]
BY_NAME = {"openai": OPENAI, "anthropic": ANTHROPIC, "google": GOOGLE}


@pytest.mark.parametrize("stream", STREAM)
@pytest.mark.parametrize(("name", "kind"), [pytest.param(n, k, id=n.removesuffix(".json")) for n, k in ERRORS])
def test_error(name: str, kind: str, stream: bool, sleeps: list[float]) -> None:
    cloud = BY_NAME[name.split("/")[0]]
    server = Server(name)
    error = fail(cloud, server, stream)
    assert (error.kind, error.status) == (kind, SERVED[name]["status"])
    assert error.message == json.loads(fixture(name))["error"]["message"]
    attempts = 3 if error.transient else 1
    assert len(server.requests) == attempts and len(sleeps) == attempts - 1


QUOTA = [pytest.param(n, id=n.removesuffix(".json")) for n, k in ERRORS if k == "quota"]


@pytest.mark.parametrize("name", QUOTA)
def test_a_spent_quota_is_not_a_rate_limit_and_not_retried(name: str, sleeps: list[float]) -> None:
    cloud = BY_NAME[name.split("/")[0]]
    server = Server(name, cloud.plain)
    error = fail(cloud, server)
    assert error.kind == "quota" and not error.transient
    assert len(server.requests) == 1 and not sleeps


@pytest.mark.parametrize(
    ("name", "wait_s"),
    [
        ("openai/error-429-rate-limit.json", 20.0),  # Retry-After header
        ("anthropic/error-429-rate-limit.json", 20.0),  # Retry-After header
        ("google/error-429-resource-exhausted.json", 20.0),  # RetryInfo.retryDelay in the body
    ],
)
def test_rate_limit_says_when_to_retry_and_the_wait_is_capped(name: str, wait_s: float, sleeps: list[float]) -> None:
    error = fail(BY_NAME[name.split("/")[0]], Server(name))
    assert error.details["retry_after_s"] == wait_s
    assert sleeps == [5.0, 5.0]


@pytest.mark.parametrize("cloud", CLOUDS)
def test_a_short_retry_after_is_waited_instead_of_the_backoff(cloud: Cloud, sleeps: list[float]) -> None:
    served_as = SERVED[cloud.unavailable]
    unavailable = Reply(served_as["status"], {**served_as["headers"], "retry-after": "1.5"}, fixture(cloud.unavailable))
    server = Server(unavailable, cloud.plain)
    assert chat(cloud, server).text == "Paris is the capital of France."
    assert sleeps == [1.5]


@pytest.mark.parametrize("cloud", CLOUDS)
def test_the_timeout_bounds_the_retries_too(cloud: Cloud, sleeps: list[float]) -> None:
    """A wait that would end after the request's timeout is not waited: the answer fails now."""
    served_as = SERVED[cloud.unavailable]
    unavailable = Reply(served_as["status"], {**served_as["headers"], "retry-after": "4"}, fixture(cloud.unavailable))
    server = Server(unavailable, cloud.plain)
    assert fail(cloud, server, timeout=3.0).kind == "server"
    assert len(server.requests) == 1 and not sleeps
    assert chat(cloud, Server(unavailable, cloud.plain), timeout=5.0).text == "Paris is the capital of France."
    assert sleeps == [4.0]


@pytest.mark.parametrize("cloud", CLOUDS)
def test_retry_after_as_an_http_date(cloud: Cloud, sleeps: list[float]) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    served_as = SERVED[cloud.unavailable]
    unavailable = Reply(served_as["status"], {**served_as["headers"], "retry-after": when}, fixture(cloud.unavailable))
    error = fail(cloud, Server(unavailable))
    assert 25.0 < error.details["retry_after_s"] <= 30.0
    assert sleeps == [5.0, 5.0]


def test_retry_after_values() -> None:
    assert retry_after_s("7") == 7.0
    assert retry_after_s("0.25") == 0.25
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: retry now
    assert retry_after_s("-3") == 0.0
    assert retry_after_s(None) is None and retry_after_s("") is None and retry_after_s("soon") is None


def test_google_names_the_block_reason_instead_of_answering(sleeps: list[float]) -> None:
    server = Server("google/generate-blocked.json")
    error = fail(GOOGLE, server)
    assert (error.kind, error.details["block_reason"]) == ("bad_request", "SAFETY")
    assert "SAFETY" in error.message and len(server.requests) == 1


def test_google_block_reason_in_a_stream(sleeps: list[float]) -> None:
    blocked = json.dumps(json.loads(fixture("google/generate-blocked.json"))).encode()
    error = fail(GOOGLE, Server(sse(b"data: " + blocked + b"\r\n\r\n")), stream=True)
    assert (error.kind, error.details["block_reason"]) == ("bad_request", "SAFETY")


@pytest.mark.parametrize("cloud", CLOUDS)
def test_a_key_echoed_by_the_server_is_masked(cloud: Cloud, sleeps: list[float]) -> None:
    payload = json.loads(fixture(cloud.unauthorized))
    payload["error"]["message"] += f" (key: {KEY})"
    error = fail(cloud, Server(Reply(SERVED[cloud.unauthorized]["status"], {}, json.dumps(payload).encode())))
    assert error.message.endswith("(key: ***)")


@pytest.mark.parametrize("cloud", CLOUDS)
def test_a_key_echoed_in_a_body_that_is_not_json_is_masked(cloud: Cloud, sleeps: list[float]) -> None:
    error = fail(cloud, Server(Reply(401, {"content-type": "text/plain"}, f"bad key {KEY}".encode())))
    assert (error.kind, error.message) == ("auth", "bad key ***")


def test_an_openai_compatible_endpoint_masks_its_key(sleeps: list[float]) -> None:
    payload = {"error": {"message": f"key {KEY} is not allowed here", "type": "invalid_request_error"}}
    server = Server(Reply(403, {}, json.dumps(payload).encode()))
    provider = OpenAICompatible("team-gpu", "http://10.1.2.3:8080/v1", KEY, transport=server.transport)
    with pytest.raises(ProviderError) as caught:
        provider.chat(ChatRequest(messages=MESSAGES, model="gemma"))
    assert caught.value.message == "key *** is not allowed here"
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_an_error_body_under_200_is_never_an_answer(cloud: Cloud, sleeps: list[float]) -> None:
    body = fixture(cloud.unavailable)
    error = fail(cloud, Server(Reply(200, {"content-type": "application/json"}, body)))
    assert error.kind in ("bad_response", "server")


# --- retries ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", CLOUDS)
@pytest.mark.parametrize("stream", STREAM)
def test_a_transient_error_is_retried(cloud: Cloud, stream: bool, sleeps: list[float]) -> None:
    server = Server(cloud.unavailable, cloud.stream if stream else cloud.plain)
    answer = chat(cloud, server, stream)
    assert answer.text == "Paris is the capital of France."
    assert len(server.requests) == 2 and sleeps == [0.5]


@pytest.mark.parametrize("cloud", CLOUDS)
@pytest.mark.parametrize("stream", STREAM)
def test_a_bad_key_is_not_retried(cloud: Cloud, stream: bool, sleeps: list[float]) -> None:
    server = Server(cloud.unauthorized, cloud.stream if stream else cloud.plain)
    error = fail(cloud, server, stream)
    assert error.kind == "auth" and not error.transient
    assert len(server.requests) == 1 and not sleeps


@pytest.mark.parametrize("cloud", CLOUDS)
def test_unreachable_is_retried_then_raised(cloud: Cloud, sleeps: list[float]) -> None:
    seen: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    provider = cloud.make(KEY, transport=httpx.MockTransport(refuse))
    with pytest.raises(ProviderError) as caught:
        provider.chat(ChatRequest(messages=MESSAGES, model=cloud.model))
    assert caught.value.kind == "connection" and KEY not in str(caught.value)
    assert len(seen) == 3 and sleeps == [0.5, 1.0]


def test_anthropic_error_event_before_any_text_is_retried(sleeps: list[float]) -> None:
    server = Server("anthropic/messages-stream-overloaded.sse", ANTHROPIC.stream)
    assert chat(ANTHROPIC, server, stream=True).text == "Paris is the capital of France."
    assert len(server.requests) == 2


def test_anthropic_error_event_after_text_is_raised_not_retried(sleeps: list[float]) -> None:
    server = Server("anthropic/messages-stream-overloaded-partial.sse", ANTHROPIC.stream)
    error = fail(ANTHROPIC, server, stream=True)
    assert (error.kind, error.message, error.details["partial"]) == ("server", "Overloaded", True)
    assert len(server.requests) == 1 and not sleeps


def test_google_error_event_after_text_is_raised_not_retried(sleeps: list[float]) -> None:
    first = sse_events(GOOGLE.stream)[0]
    error_event = b"data: " + json.dumps(json.loads(fixture(GOOGLE.unavailable))).encode() + b"\r\n\r\n"
    server = Server(sse(first, error_event), GOOGLE.stream)
    error = fail(GOOGLE, server, stream=True)
    assert (error.kind, error.status, error.details["partial"]) == ("server", 503, True)
    assert len(server.requests) == 1


@pytest.mark.parametrize("cloud", CLOUDS)
def test_a_stream_cut_short_is_an_error_not_an_answer(cloud: Cloud, sleeps: list[float]) -> None:
    events = sse_events(cloud.stream)
    server = Server(sse(*events[:-2]), cloud.stream)
    error = fail(cloud, server, stream=True)
    assert (error.kind, error.details["partial"]) == ("connection", True)
    assert len(server.requests) == 1
