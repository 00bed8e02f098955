"""The DMR stand-in's extra API surfaces: the Anthropic Messages API (docker/model-runner 642c7211
pkg/anthropic/handler.go, the scheduler's `/engines[/{backend}]/v1/messages` routes, llama-server's
`/v1/messages`; tests/dmr_standin/anthropic.py) and the OpenAI Responses API (pkg/responses;
tests/dmr_standin/responses*.py), answered by the real Gemma 3 270M through llama-cpp-python.

The base model answers gibberish: the tests check shapes, event orders and token counts, never words."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dmr_standin import goformat, llama, server, state

GEMMA = "ai/gemma3:270M-Q4_K_M"
PLAIN = "text/plain; charset=utf-8"
JSON_UTF8 = "application/json; charset=utf-8"  # llama-server's replies
MESSAGE_PREFIXES = ["/anthropic/v1", "/engines/v1", "/engines/llama.cpp/v1", "/v1"]
RESPONSES_PREFIXES = ["/responses", "/v1/responses", "/engines/responses", "/engines/v1/responses"]
RESPONSES_PREFIXES += ["/engines/llama.cpp/v1/responses"]
MESSAGE = {"model": GEMMA, "max_tokens": 6, "messages": [{"role": "user", "content": "Say hello."}]}


@pytest.fixture
def home(tmp_path: Path, gemma: state.Entry) -> Path:
    path = state.init_home(tmp_path / "home", port=llama.free_port())
    state.add_to_registry(path, gemma)
    return path


@pytest.fixture
def http(home: Path) -> Iterator[httpx.Client]:
    handle = server.start(home, 0)
    try:
        with httpx.Client(base_url=handle.url, timeout=120) as client:
            yield client
    finally:
        handle.stop()


def pull(http: httpx.Client) -> None:
    headers = {"Accept": "application/json"}
    with http.stream("POST", "/models/create", json={"from": GEMMA}, headers=headers) as response:
        assert response.status_code == 200
        response.read()


@pytest.fixture(scope="session")
def llama_server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[llama.LlamaHandle]:
    handle = llama.start_llama(gguf, log=tmp_path_factory.mktemp("llama") / "llama.log")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def llm_http(home: Path, http: httpx.Client, llama_server: llama.LlamaHandle) -> httpx.Client:
    state.update(home, upstream=llama_server.url)
    pull(http)
    return http


def bundle_model(home: Path, http: httpx.Client) -> str:
    """llama-server's `model`: the runner's bundle path (capture api-probe.txt)."""
    return str(state.bundle_path(home, http.get(f"/models/{GEMMA}").json()["id"]))


def plain_error(response: httpx.Response, status: int, text: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == PLAIN
    assert response.text == text + "\n"


def anthropic_error(response: httpx.Response, status: int, kind: str, message: str) -> None:
    """handler.go writeAnthropicError: json.NewEncoder output, application/json."""
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    expected = {"type": "error", "error": {"type": kind, "message": message}}
    assert response.text == goformat.encode(expected)


def responses_error(response: httpx.Response, status: int, code: str, message: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.text == goformat.encode({"error": {"code": code, "message": message}})


def sse(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """`event: NAME` / `data: JSON` frames, in order."""
    frames = [f for f in response.read().decode().split("\n\n") if f.strip()]
    events = []
    for frame in frames:
        lines = frame.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: ") and len(lines) == 2, frame
        events.append((lines[0][len("event: ") :], json.loads(lines[1][len("data: ") :])))
    return events


def count_tokens(http: httpx.Client, body: dict[str, Any], prefix: str = "/anthropic/v1") -> int:
    response = http.post(f"{prefix}/messages/count_tokens", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON_UTF8
    (key,) = response.json()
    assert key == "input_tokens"
    return int(response.json()["input_tokens"])


# --- Anthropic: DMR's own checks (no inference) -----------------------------------------------


def test_anthropic_handler_errors(http: httpx.Client) -> None:
    pull(http)
    url = "/anthropic/v1/messages"
    anthropic_error(
        http.post(url, json={"max_tokens": 8}), 400, "invalid_request_error", "Missing required field: model"
    )
    anthropic_error(http.post(url, content=b"null"), 400, "invalid_request_error", "Missing required field: model")
    for bad in (b"{", b"", b"[1]", b'{"model": 5}', b'"x"'):
        anthropic_error(http.post(url, content=bad), 400, "invalid_request_error", "Invalid JSON in request body")
    anthropic_error(http.post(url, json={"model": "ai/nope"}), 404, "not_found_error", "Model not found: ai/nope")
    count = "/anthropic/v1/messages/count_tokens"
    anthropic_error(http.post(count, json={"model": "a<b"}), 404, "not_found_error", "Model not found: a<b")
    # Go matches the struct field without regard to case
    anthropic_error(http.post(url, json={"MODEL": "ai/x"}), 404, "not_found_error", "Model not found: ai/x")


def test_anthropic_other_paths_and_methods(http: httpx.Client) -> None:
    response = http.get("/anthropic/v1/messages")
    plain_error(response, 405, "Method Not Allowed")
    assert response.headers["allow"] == "POST"
    plain_error(http.post("/anthropic/v1/models", json={}), 404, "404 page not found")
    plain_error(http.post("/anthropic/v1/messages/", json={}), 404, "404 page not found")


def test_scheduler_message_routes_answer_plain_text(http: httpx.Client) -> None:
    pull(http)
    for prefix in ("/engines/v1", "/v1", "/engines/llama.cpp/v1"):
        plain_error(http.post(f"{prefix}/messages", json={"messages": []}), 400, "model is required")
        plain_error(http.post(f"{prefix}/messages/count_tokens", content=b"{"), 400, "invalid request")
        plain_error(
            http.post(f"{prefix}/messages", json={"model": "ai/nope"}),
            404,
            "error while getting model: get model '\"ai/nope\"': model not found",
        )
    plain_error(http.post("/engines/nope/v1/messages", json={"model": GEMMA}), 404, "backend not found")


def test_extra_apis_follow_the_server_version(home: Path, http: httpx.Client) -> None:
    state.update(home, server_version="v1.0.10")  # before 0cdd2278 / 2fa8cc15
    for path in ("/anthropic/v1/messages", "/responses"):  # no pattern: Go's NotFound
        plain_error(http.post(path, json={}), 404, "404 page not found")
    for path in ("/engines/v1/messages", "/v1/messages", "/v1/responses"):  # the scheduler's: no route
        assert http.post(path, json={"model": GEMMA, "messages": []}).status_code == 404
    state.update(home, server_version="v1.2.5")  # /responses, but not yet under /engines
    anthropic_error(
        http.post("/anthropic/v1/messages", json={}), 400, "invalid_request_error", "Missing required field: model"
    )
    responses_error(http.post("/v1/responses", json={}), 400, "invalid_request", "model is required")
    plain_error(http.post("/engines/responses", json={}), 404, "404 page not found")  # the handler's own mux
    assert http.post("/engines/v1/responses", json={}).status_code == 404  # the scheduler's
    state.update(home, server_version=None)  # v1.2.6, the captured build
    responses_error(http.post("/engines/v1/responses", json={}), 400, "invalid_request", "model is required")


# --- Anthropic through the real model ---------------------------------------------------------


@pytest.mark.llm
@pytest.mark.parametrize("prefix", MESSAGE_PREFIXES)
def test_messages(home: Path, llm_http: httpx.Client, prefix: str) -> None:
    headers = {"x-api-key": "ignored", "anthropic-version": "2023-06-01"}  # nothing reads them
    response = llm_http.post(f"{prefix}/messages", json=MESSAGE, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON_UTF8
    body = response.json()
    assert list(body) == ["id", "type", "role", "content", "model", "stop_reason", "stop_sequence", "usage"]
    assert body["id"].startswith("chatcmpl-") and len(body["id"]) == len("chatcmpl-") + 32
    assert (body["type"], body["role"], body["model"]) == ("message", "assistant", bundle_model(home, llm_http))
    assert all(block["type"] == "text" and isinstance(block["text"], str) for block in body["content"])
    assert len(body["content"]) <= 1
    assert body["stop_reason"] in ("end_turn", "max_tokens") and body["stop_sequence"] is None
    usage = body["usage"]
    assert list(usage) == ["cache_read_input_tokens", "input_tokens", "output_tokens"]
    assert usage["input_tokens"] == count_tokens(llm_http, MESSAGE, prefix) > 0
    assert 0 < usage["output_tokens"] <= MESSAGE["max_tokens"]
    if body["stop_reason"] == "max_tokens":
        assert usage["output_tokens"] == MESSAGE["max_tokens"]


@pytest.mark.llm
@pytest.mark.parametrize("prefix", MESSAGE_PREFIXES)
def test_messages_stream(home: Path, llm_http: httpx.Client, prefix: str) -> None:
    with llm_http.stream("POST", f"{prefix}/messages", json={**MESSAGE, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        events = sse(response)
    names = [name for name, _ in events]
    assert all(name == data["type"] for name, data in events)
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    deltas = [data for name, data in events if name == "content_block_delta"]
    if deltas:
        assert names[1] == "content_block_start" and names[-3] == "content_block_stop"
        assert names[2:-3] == ["content_block_delta"] * len(deltas)
        assert all(d["index"] == 0 and d["delta"]["type"] == "text_delta" for d in deltas)
        assert events[1][1]["content_block"] == {"type": "text", "text": ""}
    else:
        assert names == ["message_start", "message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["model"] == bundle_model(home, llm_http)
    assert start["usage"]["output_tokens"] == 0
    assert start["usage"]["input_tokens"] == count_tokens(llm_http, MESSAGE) > 0
    final = events[-2][1]
    assert final["delta"]["stop_reason"] in ("end_turn", "max_tokens") and final["delta"]["stop_sequence"] is None
    output_tokens = final["usage"]["output_tokens"]
    assert len(deltas) <= output_tokens <= MESSAGE["max_tokens"]
    if final["delta"]["stop_reason"] == "max_tokens":
        assert output_tokens == MESSAGE["max_tokens"]
    assert "ping" not in names  # llama-server sends none


@pytest.mark.llm
def test_count_tokens_follows_the_prompt(llm_http: httpx.Client) -> None:
    short = count_tokens(llm_http, {"model": GEMMA, "messages": [{"role": "user", "content": "Hi"}]})
    blocks = {"model": GEMMA, "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}
    assert count_tokens(llm_http, blocks) == short  # a text block counts as the string
    longer = {"model": GEMMA, "messages": [{"role": "user", "content": "Hi " * 20}]}
    assert count_tokens(llm_http, longer, "/v1") > short
    turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello there"}]},
        {"role": "user", "content": "Again"},
    ]
    assert count_tokens(llm_http, {"model": GEMMA, "messages": turns}, "/engines/v1") > short


@pytest.mark.llm
def test_messages_without_messages_is_llama_servers_500(llm_http: httpx.Client) -> None:
    for path in ("/anthropic/v1/messages", "/engines/v1/messages/count_tokens"):
        response = llm_http.post(path, json={"model": GEMMA, "max_tokens": 4})
        assert response.status_code == 500
        assert response.headers["content-type"] == JSON_UTF8
        assert response.json() == {"error": {"code": 500, "message": "'messages' is required", "type": "server_error"}}


@pytest.mark.llm
def test_messages_preload_only(llm_http: httpx.Client) -> None:
    response = llm_http.post("/anthropic/v1/messages", json=MESSAGE, headers={"X-Preload-Only": "true"})
    assert (response.status_code, response.content) == (200, b"")
    (runner,) = llm_http.get("/engines/ps").json()
    assert (runner["backend_name"], runner["model_name"], runner["mode"]) == ("llama.cpp", GEMMA, "completion")


# --- Responses: the layer's own answers (no inference) ----------------------------------------


def test_responses_request_errors(http: httpx.Client) -> None:
    invalid = "invalid_request"
    responses_error(http.post("/responses", json={"input": "Hi"}), 400, invalid, "model is required")
    responses_error(http.post("/responses", content=b"{"), 400, invalid, "Invalid JSON: unexpected end of JSON input")
    responses_error(
        http.post("/responses", content=b"[1]"),
        400,
        invalid,
        "Invalid JSON: json: cannot unmarshal array into Go value of type responses.CreateRequest",
    )
    responses_error(
        http.post("/v1/responses", json={"model": GEMMA, "max_output_tokens": "8"}),
        400,
        invalid,
        "Invalid JSON: json: cannot unmarshal string into Go struct field CreateRequest.max_output_tokens of type int",
    )
    layer = "is not supported by Docker Model Runner Responses compatibility layer"
    unsupported = {
        "include": (["x"], f"include {layer}"),
        "stream_options": ({"include_usage": True}, f"stream_options {layer}"),
        "truncation": ("auto", f'truncation value "auto" {layer}'),
        "background": (
            True,
            "background responses are not supported by Docker Model Runner Responses compatibility layer",
        ),
        "conversation": ("c", f"conversation {layer}; use previous_response_id instead"),
        "service_tier": ("flex", f"service_tier {layer}"),
    }
    for field, (value, message) in unsupported.items():
        responses_error(http.post("/responses", json={"model": GEMMA, field: value}), 400, invalid, message)
    tools = {"model": GEMMA, "tools": [{"type": "web_search"}]}
    responses_error(http.post("/responses", json=tools), 400, invalid, f'tool type "web_search" {layer}')
    previous = {"model": GEMMA, "previous_response_id": "resp_gone"}
    responses_error(
        http.post("/responses", json=previous), 400, invalid, 'previous_response_id "resp_gone" was not found'
    )
    schema = {"model": GEMMA, "text": {"format": {"type": "json_schema", "schema": {}}}}
    message = "text.format.name is required when text.format.type is json_schema"
    responses_error(http.post("/responses", json=schema), 400, invalid, message)
    items = {"model": GEMMA, "input": [{"role": 1}]}
    message = (
        "failed to parse input: input must be a string or array of items: "
        "json: cannot unmarshal number into Go struct field InputItem.role of type string"
    )
    responses_error(http.post("/responses", json=items), 400, invalid, message)


def test_responses_paths_and_methods(http: httpx.Client) -> None:
    response = http.get("/responses")
    plain_error(response, 405, "Method Not Allowed")
    assert response.headers["allow"] == "POST"
    response = http.post("/v1/responses/resp_x")
    plain_error(response, 405, "Method Not Allowed")
    assert response.headers["allow"] == "DELETE, GET, HEAD"
    assert http.post("/responses/resp_x/input_items").headers["allow"] == "GET, HEAD"
    plain_error(http.get("/responses/a/b/c"), 404, "404 page not found")
    for prefix in RESPONSES_PREFIXES:
        responses_error(http.get(f"{prefix}/resp_x"), 404, "not_found", "Response not found")
        responses_error(http.get(f"{prefix}/resp_x/input_items"), 404, "not_found", "Response not found")
        responses_error(http.delete(f"{prefix}/resp_x"), 404, "not_found", "Response not found")


def test_responses_scheduler_errors_become_failed_responses(http: httpx.Client) -> None:
    response = http.post("/responses", json={"model": "ai/nope", "input": "Hi", "metadata": {"b": "2", "a": "1"}})
    assert response.status_code == 404
    body = response.json()
    assert (body["status"], body["model"], body["output"]) == ("failed", "ai/nope", [])
    message = "error while getting model: get model '\"ai/nope\"': model not found\n"
    assert body["error"] == {"code": "upstream_error", "message": message}
    assert list(body["metadata"]) == ["a", "b"]  # a Go map: keys sorted
    assert http.get(f"/responses/{body['id']}").json() == body  # stored, failed as it is
    response = http.post("/engines/nope/v1/responses", json={"model": GEMMA, "input": "Hi"})
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "upstream_error", "message": "backend not found\n"}


def test_responses_stream_of_a_scheduler_error(http: httpx.Client) -> None:
    """StreamingResponseWriter.WriteHeader(404): two events, written before the status, so a 200 with
    http.Error's content type."""
    with http.stream("POST", "/v1/responses", json={"model": "ai/nope", "input": "Hi", "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == PLAIN
        events = sse(response)
    assert [name for name, _ in events] == ["error", "response.failed"]
    assert events[0][1] == {
        "type": "error",
        "sequence_number": 1,
        "error": {"code": "upstream_error", "message": "Upstream service returned status code: 404"},
    }
    assert events[1][1]["sequence_number"] == 2 and events[1][1]["response"]["status"] == "failed"


# --- Responses through the real model ---------------------------------------------------------


@pytest.mark.llm
@pytest.mark.parametrize("prefix", RESPONSES_PREFIXES)
def test_responses(llm_http: httpx.Client, prefix: str) -> None:
    request = {"model": GEMMA, "input": "Say hello.", "instructions": "Be brief.", "max_output_tokens": 5}
    response = llm_http.post(prefix, json=request)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["id"].startswith("resp_") and len(body["id"]) == 5 + 24
    assert (body["object"], body["status"], body["model"]) == ("response", "completed", GEMMA)
    assert (body["error"], body["incomplete_details"], body["instructions"]) == (None, None, "Be brief.")
    assert (body["max_output_tokens"], body["store"], body["tools"], body["metadata"]) == (5, True, None, None)
    assert "finish_reason" not in body  # only the stream sets it
    for item in body["output"]:
        assert item["id"].startswith("msg_") and item["type"] == "message" and item["role"] == "assistant"
        assert item["status"] == "completed"
        assert [part["type"] for part in item["content"]] == ["output_text"]
    assert body.get("output_text", "") == "".join(i["content"][0]["text"] for i in body["output"])
    usage = body["usage"]
    assert list(usage) == ["input_tokens", "output_tokens", "total_tokens"]
    assert usage["input_tokens"] > 0 and 0 < usage["output_tokens"] <= 5
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert llm_http.get(f"{prefix}/{body['id']}").json() == body
    assert llm_http.get(f"/responses/{body['id']}?stream=true").json() == body
    assert llm_http.get(f"{prefix}/{body['id']}/input_items").json() == {"data": [], "object": "list"}
    deleted = llm_http.delete(f"{prefix}/{body['id']}")
    assert deleted.json() == {"deleted": True, "id": body["id"], "object": "response.deleted"}
    responses_error(llm_http.get(f"/v1/responses/{body['id']}"), 404, "not_found", "Response not found")


@pytest.mark.llm
def test_responses_input_items_and_history(llm_http: httpx.Client) -> None:
    items = [{"role": "user", "content": [{"type": "input_text", "text": "Say hello."}]}]
    first = llm_http.post("/responses", json={"model": GEMMA, "input": items, "max_output_tokens": 6}).json()
    plain = llm_http.post("/responses", json={"model": GEMMA, "input": "Say hello.", "max_output_tokens": 6}).json()
    assert first["usage"]["input_tokens"] == plain["usage"]["input_tokens"]  # parts reach llama.cpp as text
    if not first["output"]:
        pytest.skip("the model answered nothing to build a history from")
    follow = {"model": GEMMA, "input": "Again.", "previous_response_id": first["id"], "max_output_tokens": 3}
    second = llm_http.post("/v1/responses", json=follow).json()
    alone = llm_http.post("/v1/responses", json={**follow, "previous_response_id": None}).json()
    assert second["previous_response_id"] == first["id"]
    assert second["usage"]["input_tokens"] > alone["usage"]["input_tokens"]  # the first answer is in the prompt
    unstored = llm_http.post("/responses", json={"model": GEMMA, "input": "Hi", "max_output_tokens": 2, "store": False})
    assert unstored.json()["store"] is False
    assert llm_http.get(f"/responses/{unstored.json()['id']}").status_code == 404


@pytest.mark.llm
@pytest.mark.parametrize("prefix", ["/responses", "/engines/llama.cpp/v1/responses"])
def test_responses_stream(llm_http: httpx.Client, prefix: str) -> None:
    request = {"model": GEMMA, "input": "Say hello.", "max_output_tokens": 4, "stream": True}
    with llm_http.stream("POST", prefix, json=request) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["cache-control"] == "no-cache"
        events = sse(response)
    names = [name for name, _ in events]
    assert all(name == data["type"] for name, data in events)
    assert [data["sequence_number"] for _, data in events] == list(range(1, len(events) + 1))
    assert names[:2] == ["response.created", "response.in_progress"] and names[-1] == "response.completed"
    assert events[0][1]["response"]["status"] == "in_progress" and events[0][1]["response"]["output"] == []
    final = events[-1][1]["response"]
    assert final["status"] == "completed" and final["usage"] is None  # llama.cpp's chunks carry no usage
    deltas = [data["delta"] for name, data in events if name == "response.output_text.delta"]
    if deltas:
        item_id = events[2][1]["item"]["id"]
        assert names[2:4] == ["response.output_item.added", "response.content_part.added"]
        assert events[2][1]["item"] == {
            "id": item_id,
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text"}],
            "status": "in_progress",
        }
        text = "".join(deltas)
        done = ["response.output_text.done", "response.content_part.done", "response.output_item.done"]
        assert names[4:-1] == ["response.output_text.delta"] * len(deltas) + done
        assert events[-4][1]["part"] == {"type": "output_text", "text": text}
        assert final["output_text"] == text
        assert final["output"] == [events[-2][1]["item"]]
        assert final["output"][0]["content"] == [{"type": "output_text", "text": text}]
        assert all("output_index" not in data and "content_index" not in data for _, data in events)  # 0: omitted
    assert final["finish_reason"] in ("stop", "length")
    if final["finish_reason"] == "length":
        assert final["incomplete_details"] == {"reason": "max_tokens"}
    assert llm_http.get(f"/responses/{final['id']}").json() == final


def test_go_json_errors() -> None:
    """goformat.json_decode: encoding/json's messages for what is not JSON."""
    cases = {
        "": "unexpected end of JSON input",
        '{"a":1': "unexpected end of JSON input",
        "x": "invalid character 'x' looking for beginning of value",
        "[1 2]": "invalid character '2' after array element",
        '{"a" 1}': "invalid character '1' after object key",
        '{"a":1 "b":2}': "invalid character '\"' after object key:value pair",
        "{1:2}": "invalid character '1' looking for beginning of object key string",
        "{} x": "invalid character 'x' after top-level value",
        "trux": "invalid character 'x' in literal true (expecting 'e')",
        "NaN": "invalid character 'N' looking for beginning of value",
    }
    for text, message in cases.items():
        assert goformat.json_decode(text) == (None, message), text
    assert goformat.json_decode('{"a": [1, null]}') == ({"a": [1, None]}, None)
