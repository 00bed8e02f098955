"""The OpenAI Responses API, as Docker Model Runner's compatibility layer serves it.

Follows docker/model-runner 642c7211 `pkg/responses/`: routes `pkg/routing/router.go` 96-111 and
`handler.go` 26-53 (POST PREFIX, GET PREFIX/{id}, GET PREFIX/{id}/input_items, DELETE PREFIX/{id}
for PREFIX `/responses`, `/v1/responses` and, from the captured build, `/engines/responses`,
`/engines/v1/responses`, `/engines/{backend}/v1/responses`; another method is Go's 405 with `Allow`,
another path under `/responses/` or `/v1/responses/` Go's `404 page not found`); handleCreate
(handler.go 69-164: a body over 10 MB 413 `request_too_large`; `Invalid JSON: <Go's error>`, `model is
required`, validateUnsupportedRequestFields 370-405 and the transform's errors, all 400
`invalid_request`, as `{"error":{"code","message"}}`); TransformRequestToChatCompletion
(`responses_transform`: `instructions` as a system message, the stored outputs of
`previous_response_id`, `input` as a string or a list of items, `max_output_tokens` as `max_tokens`,
function tools, `text.format` as `response_format`) sent to the scheduler's
`/engines[/{backend}]/v1/chat/completions` (so the OpenAI route's checks and llama.cpp answer it,
`inference.serve`); handleNonStreaming (181-263: an
upstream error becomes a `failed` response with the upstream status, a JSON `error.message` kept, else
`upstream_error` and the body) with TransformChatCompletionToResponse (`responses_transform`: a
`message` item of `output_text`, `output_text`, usage input/output/total tokens); handleStreaming
(`responses_stream`: the event sequence, `sequence_number`, usage only if a chunk carries it);
handleGet, handleListInputItems (always an empty list) and handleDelete (265-330) over the Store
(store.go: in memory, one hour). Responses are json.NewEncoder output (application/json, a newline).

Assumed: every server from v1.0.11 answers with HEAD's handler (`store`, `text`, the unsupported-field
checks); only the `/engines…` prefixes are gated (`releases.responses_under_engines`). Not played: CORS.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import goformat, inference, releases
from .anthropic import method_not_allowed
from .responses_stream import Capture, RealWriter, StreamWriter, SubHandler, generate_id
from .responses_transform import LAYER, Invalid, chat_function, completed, to_chat, well_formed
from .state import State

if TYPE_CHECKING:
    from .server import Handler, StandinServer

Response = dict[str, Any]
MAX_BODY = 10 * 1024 * 1024
TTL = 3600.0  # store.go DefaultTTL

FUNCTION = ("struct", "responses.FunctionDef", {"name": "string", "description": "string", "parameters": "any"})
TOOL_FIELDS = {"type": "string", "name": "string", "description": "string", "parameters": "any", "function": FUNCTION}
FORMAT_FIELDS = {"type": "string", "name": "string", "description": "string", "schema": "raw", "strict": "bool"}
FORMAT = ("struct", "responses.ResponseTextFormat", FORMAT_FIELDS)
TEXT = ("struct", "responses.ResponseTextConfig", {"format": FORMAT, "verbosity": "string"})
STRINGS = ("model", "instructions", "previous_response_id", "truncation", "service_tier", "safety_identifier")
FIELDS: dict[str, Any] = {name: "string" for name in (*STRINGS, "reasoning_effort", "user")}
FIELDS |= {name: "raw" for name in ("input", "stream_options", "conversation", "prompt")}
FIELDS |= {"tools": ("slice", ("struct", "responses.Tool", TOOL_FIELDS)), "tool_choice": "any", "text": TEXT}
FIELDS |= {name: "bool" for name in ("parallel_tool_calls", "store", "stream", "background")}
FIELDS |= {"temperature": "float64", "top_p": "float64", "max_output_tokens": "int", "top_logprobs": "int"}
FIELDS |= {"include": ("slice", "string"), "metadata": ("map", "string")}
CREATE = ("struct", "responses.CreateRequest", FIELDS)


def route(method: str, path: str, server_version: str) -> Callable[[Handler, State], None] | None:
    """The paths router.go sends to the Responses handler, or None."""
    if not releases.has_responses(server_version):
        return None
    head = releases.responses_under_engines(server_version)
    parts = path.split("/")[1:]
    backend, exact = "", True
    if parts[0] == "responses" or parts[:2] == ["v1", "responses"]:
        size, exact = (1 if parts[0] == "responses" else 2), False
    elif parts[:2] == ["engines", "responses"]:
        size, exact = 2, head
    elif head and parts[:3] == ["engines", "v1", "responses"]:
        size = 3
    elif head and len(parts) >= 4 and parts[0] == "engines" and parts[1] and parts[2:4] == ["v1", "responses"]:
        size, backend = 4, parts[1]
    else:
        return None
    rest = parts[size:]
    known = not rest or (rest[0] != "" and (len(rest) == 1 or rest[1:] == ["input_items"]))
    if exact and not known:
        return None  # not one of router.go's patterns: the scheduler's
    if not known or (parts[0] == "engines" and not head):
        return lambda handler, state: handler.http_error(404, "404 page not found")
    if not rest:
        actions: dict[str, Callable[..., None]] = {"POST": create}
    elif len(rest) == 1:
        actions = {"GET": get, "DELETE": delete}
    else:
        actions = {"GET": input_items}
    action = actions.get(method)
    if action is None:
        allow = ", ".join(sorted({*actions, *(["HEAD"] if "GET" in actions else [])}))
        return lambda handler, state: method_not_allowed(handler, allow)
    return lambda handler, state: action(handler, state, backend, rest[0] if rest else "")


def send_error(handler: Handler, status: int, code: str, message: str) -> None:
    handler.send_json(status, {"error": {"code": code, "message": message}})


# --- the store (store.go) ---------------------------------------------------------------------


def save(server: StandinServer, response: Response) -> None:
    server.responses[response["id"]] = (time.monotonic() + TTL, response)


def stored(server: StandinServer, response_id: str) -> Response | None:
    expiry, response = server.responses.get(response_id, (0.0, None))
    return response if time.monotonic() <= expiry else None


def get(handler: Handler, state: State, backend: str, response_id: str) -> None:
    response = stored(handler.server, response_id)
    if response is None:
        send_error(handler, 404, "not_found", "Response not found")
    else:
        handler.send_json(200, encode(response))


def input_items(handler: Handler, state: State, backend: str, response_id: str) -> None:
    if stored(handler.server, response_id) is None:
        send_error(handler, 404, "not_found", "Response not found")
    else:
        handler.send_json(200, {"data": [], "object": "list"})  # a Go map: keys sorted


def delete(handler: Handler, state: State, backend: str, response_id: str) -> None:
    if handler.server.responses.pop(response_id, None) is None:
        send_error(handler, 404, "not_found", "Response not found")
    else:
        handler.send_json(200, {"deleted": True, "id": response_id, "object": "response.deleted"})


# --- create -----------------------------------------------------------------------------------


def create(handler: Handler, state: State, backend: str, _: str) -> None:
    if int(handler.headers.get("Content-Length") or 0) > MAX_BODY:
        send_error(handler, 413, "request_too_large", f"Request body too large (max {MAX_BODY} bytes)")
        return
    value, error = goformat.json_decode(handler.read_body())
    errors: list[str] = []
    req = goformat.go_unmarshal(value, CREATE, errors) if error is None else None
    if error is not None or errors:
        send_error(handler, 400, "invalid_request", "Invalid JSON: " + (error or errors[0]))
        return
    req = req or {}
    store = req.get("store") is not False
    try:
        if not req.get("model"):
            raise Invalid("model is required")
        unsupported(req)
        response = new_response(req, store)
        chat = to_chat(req, lambda response_id: stored(handler.server, response_id))
    except Invalid as exc:
        send_error(handler, 400, "invalid_request", str(exc))
        return
    saver = (lambda r: save(handler.server, r)) if store else None
    sink: Any = StreamWriter(RealWriter(handler), response, saver) if req.get("stream") else Capture()
    sub = SubHandler(handler.server, chat, sink, handler.headers.get("Authorization"))
    inference.serve(sub, state, backend, "chat/completions")  # type: ignore[arg-type]
    if isinstance(sink, StreamWriter):
        sink.real.write_header(200)  # a handler that wrote nothing: Go answers 200
    else:
        answer(handler, response, sink, saver)


def unsupported(req: dict[str, Any]) -> None:
    """validateUnsupportedRequestFields (handler.go 370-405)."""
    not_null = [k for k in ("stream_options", "conversation", "prompt") if req.get(k) is not None]
    if req.get("include"):
        raise Invalid(f"include {LAYER}")
    if "stream_options" in not_null:
        raise Invalid(f"stream_options {LAYER}")
    if req.get("top_logprobs") is not None:
        raise Invalid(f"top_logprobs {LAYER}")
    if req.get("truncation") not in (None, "", "disabled"):
        raise Invalid(f"truncation value {goformat.quote(req['truncation'])} {LAYER}")
    if req.get("background"):
        raise Invalid("background responses are not supported by Docker Model Runner Responses compatibility layer")
    if "conversation" in not_null:
        raise Invalid(f"conversation {LAYER}; use previous_response_id instead")
    if "prompt" in not_null:
        raise Invalid(f"prompt {LAYER}")
    for name in ("service_tier", "safety_identifier"):
        if req.get(name):
            raise Invalid(f"{name} {LAYER}")


def new_response(req: dict[str, Any], store: bool) -> Response:
    """NewResponse plus what handleCreate copies from the request, echoed as Go re-encodes them."""
    tools = req.get("tools")
    return {
        "id": generate_id("resp_"),
        "object": "response",
        "created_at": int(time.time()),
        "model": req["model"],
        "status": "in_progress",
        "output": [],
        "output_text": "",
        "error": None,
        "incomplete_details": None,
        "finish_reason": "",
        "instructions": req.get("instructions") or None,
        "metadata": goformat.json_any(req.get("metadata")),
        "parallel_tool_calls": req.get("parallel_tool_calls"),
        "temperature": goformat.json_number(req.get("temperature")),
        "tool_choice": goformat.json_any(req.get("tool_choice")),
        "tools": None if tools is None else [echo_tool(t or {}) for t in tools],
        "top_p": goformat.json_number(req.get("top_p")),
        "max_output_tokens": req.get("max_output_tokens"),
        "store": store,
        "text": None if req.get("text") is None else echo_text(req["text"]),
        "previous_response_id": req.get("previous_response_id") or None,
        "reasoning": None,
        "usage": None,
        "user": req.get("user") or None,
        "reasoning_effort": req.get("reasoning_effort") or None,
    }


def echo_tool(tool: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": tool.get("type") or ""}
    out |= {k: tool[k] for k in ("name", "description") if tool.get(k)}
    if tool.get("parameters") is not None:
        out["parameters"] = goformat.json_any(tool["parameters"])
    if tool.get("function") is not None:
        out["function"] = chat_function(tool["function"])
    return out


def echo_text(text: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if text.get("format") is not None:
        fmt = text["format"]
        out["format"] = {"type": fmt.get("type") or ""} | {
            k: fmt[k] for k in ("name", "description", "schema", "strict") if fmt.get(k) not in (None, "")
        }
    if text.get("verbosity"):
        out["verbosity"] = text["verbosity"]
    return out


def encode(response: Response) -> Response:
    """json.Marshal of a Response: output_text and finish_reason omitted when empty, text when nil."""
    empty = {"output_text": "", "finish_reason": "", "text": None}
    return {k: v for k, v in response.items() if k not in empty or v != empty[k]}


# --- the scheduler's answer, non-streamed (handler.go 180-263) ----------------------------------


def answer(handler: Handler, response: Response, capture: Capture, saver: Callable[[Response], None] | None) -> None:
    status = capture.status
    if status != 200:
        value, error = goformat.json_decode(capture.body)
        errors: list[str] = []
        spec = ("struct", "struct", {"error": ("struct", "struct", {k: "string" for k in ("message", "type", "code")})})
        parsed = goformat.go_unmarshal(value, spec, errors) if error is None else None
        detail = ((parsed or {}).get("error") or {}) if not errors else {}
        if error is None and not errors and detail.get("message"):
            response["error"] = ({"code": detail["code"]} if detail.get("code") else {}) | {
                "message": detail["message"]
            }
        else:
            response["error"] = {"code": "upstream_error", "message": capture.body.decode("utf-8", errors="replace")}
    else:
        reply, error = goformat.json_decode(capture.body)
        if error is None and isinstance(reply, dict | None) and well_formed(reply or {}):
            response = completed(reply or {}, response)
        else:
            status = 500
            response["error"] = {"code": "parse_error", "message": "Failed to parse upstream response"}
    response["status"] = "completed" if response["error"] is None else "failed"
    if saver is not None:
        saver(response)
    handler.send_json(status, encode(response))
