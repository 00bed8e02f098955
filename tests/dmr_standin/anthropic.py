"""The Anthropic Messages API as Docker Model Runner serves it, down to llama-server's answer.

Two layers, as upstream has them:

1. DMR (docker/model-runner 642c7211). `pkg/anthropic/handler.go` (routes 66-74, proxyToBackend
   95-144, writeAnthropicError 146-174), mounted under `/anthropic/` by `pkg/routing/router.go` 92-94,
   serves `POST /anthropic/v1/messages` and `/anthropic/v1/messages/count_tokens`: a body over 10 MB is
   413 `request_too_large` "Request body too large"; a body `json.Unmarshal` refuses (not an object,
   `model` not a string) 400 `invalid_request_error` "Invalid JSON in request body"; no `model` 400
   "Missing required field: model"; a model not in the store 404 `not_found_error` "Model not found:
   NAME"; each as `{"type":"error","error":{"type","message"}}` and a newline, application/json. Then
   the request, its headers and body unchanged, goes to the scheduler at `/engines/v1/messages[/…]`
   (the default backend). The scheduler itself serves `/engines/v1/messages[/count_tokens]`,
   `/engines/{backend}/v1/messages[/count_tokens]` and, through the `/v1/` alias (router.go 82-84, middleware/alias.go),
   `/v1/messages[/count_tokens]` (`scheduling/http_handler.go` 98-109, 165-169): its errors are the
   OpenAI routes' plain text (`inference.serve`). Nothing reads `x-api-key` or `anthropic-version`.
   Another path under `/anthropic/` is Go's `404 page not found`; another method on the two routes 405
   `Method Not Allowed` with `Allow: POST` (the handler's own ServeMux). From server v1.0.11 (0cdd2278).

2. llama-server (llama.cpp, which DMR pins at b9879 in `.versions`) implements the API; DMR proxies to
   it. Followed as stored from ggml-org/llama.cpp: `tools/server/server-chat.cpp`
   server_chat_convert_anthropic_to_oai (system string or text blocks joined; messages with string or
   block content, text blocks kept, thinking/image/tool_use/tool_result converted; `stop_sequences` →
   `stop`; `max_tokens` else 4096; temperature, top_p, top_k, stream passed on; no `messages` is a
   runtime_error, which `server.cpp` ex_wrapper answers 500 `{"error":{"code":500,"message":"'messages'
   is required","type":"server_error"}}`); `server-task.cpp` to_json_anthropic (id, type "message",
   role, content text blocks, model, stop_reason "end_turn" on EOS or a stop word else "max_tokens",
   stop_sequence, usage cache_read_input_tokens / input_tokens / output_tokens), the partial's
   to_json_anthropic (message_start, with input tokens, then content_block_start and text_delta
   content_block_delta events) and the final's to_json_anthropic_stream (content_block_stop,
   message_delta with stop_reason, stop_sequence and output_tokens, message_stop);
   `server-context.cpp` handle_completions_impl (`event: NAME` / `data: JSON` frames, no `[DONE]`,
   no ping) and post_anthropic_count_tokens (`{"input_tokens": N}`, the rendered prompt's tokens).

Assumed, to run that over llama-cpp-python's chat completions: input tokens are the prompt_tokens of a
one-token completion of the same messages (llama-cpp-python cannot tokenize a chat), and as it reports
no prompt cache `cache_read_input_tokens` is 0; output tokens are its completion_tokens, or in a stream
one per content chunk (max_tokens when the reply stopped at the limit); its finish_reason "stop" is
"end_turn", anything else "max_tokens"; `stop_sequence` is always null (it does not say which stop
string matched); the id is llama-server's form (`chatcmpl-` and 32 letters or digits), `model` the
runner's bundle path. Only messages, max_tokens, temperature, top_p, top_k, stop and stream reach
llama-cpp-python: tools, tool_choice, thinking, images and metadata are not played (no tool_use or
thinking blocks are produced).
"""

from __future__ import annotations

import http.client
import json
import random
import string
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import goformat, inference, releases
from .state import State, lookup

if TYPE_CHECKING:
    from .server import Handler

TAILS = ("messages", "messages/count_tokens")
ROUTES = {"/anthropic/v1/messages": "messages", "/anthropic/v1/messages/count_tokens": "messages/count_tokens"}
MAX_BODY = 10 * 1024 * 1024  # handler.go maxRequestBodySize
JSON_UTF8 = "application/json; charset=utf-8"  # llama-server's JSON replies (capture api-probe.txt)
DEFAULT_MAX_TOKENS = 4096  # server_chat_convert_anthropic_to_oai without max_tokens


def route(method: str, path: str, server_version: str) -> Callable[[Handler, State], None] | None:
    """The `/anthropic/` subtree (router.go), or None for any other path."""
    if not path.startswith("/anthropic/") or not releases.has_anthropic(server_version):
        return None
    tail = ROUTES.get(path)
    if tail is None:
        return lambda handler, state: handler.http_error(404, "404 page not found")
    if method != "POST":
        return lambda handler, state: method_not_allowed(handler, "POST")
    return lambda handler, state: proxy_to_backend(handler, state, tail)


def method_not_allowed(handler: Handler, allow: str) -> None:
    """Go's ServeMux when the path's patterns want other methods: 405, `Allow`, then http.Error."""
    body = b"Method Not Allowed\n"
    handler.send_response(405)
    handler.send_header("Allow", allow)
    handler.send_header("Content-Type", "text/plain; charset=utf-8")
    handler.send_header("X-Content-Type-Options", "nosniff")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def write_error(handler: Handler, status: int, kind: str, message: str) -> None:
    """handler.go writeAnthropicError: json.NewEncoder (a newline, <>& escaped), application/json."""
    handler.send_json(status, {"type": "error", "error": {"type": kind, "message": message}})


def string_field(value: dict[str, Any], name: str) -> str | None:
    """The string `json.Unmarshal` leaves in the struct field `name` (keys matched without regard to
    case, the last one winning, null changing nothing), or None when a value is not a string."""
    result = ""
    for key, item in value.items():
        if key.lower() == name and item is not None:
            if not isinstance(item, str):
                return None
            result = item
    return result


def proxy_to_backend(handler: Handler, state: State, tail: str) -> None:
    """handler.go proxyToBackend: the checks, then the scheduler's `/engines/v1/<tail>`."""
    if int(handler.headers.get("Content-Length") or 0) > MAX_BODY:
        write_error(handler, 413, "request_too_large", "Request body too large")
        return
    value, error = goformat.json_decode(handler.read_body())
    model = string_field(value, "model") if isinstance(value, dict) else "" if value is None else None
    if error is not None or model is None:
        write_error(handler, 400, "invalid_request_error", "Invalid JSON in request body")
        return
    if not model:
        write_error(handler, 400, "invalid_request_error", "Missing required field: model")
        return
    if lookup(state, model) is None:
        write_error(handler, 404, "not_found_error", "Model not found: " + model)
        return
    inference.serve(handler, state, "", tail)


# --- llama-server's /v1/messages ------------------------------------------------------------


class LlamaError(Exception):
    """What llama-server's ex_wrapper answers for an exception: `{"error": format_error_response}`."""

    def __init__(self, status: int, message: str, kind: str) -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


def to_openai(body: dict[str, Any]) -> dict[str, Any]:
    """server_chat_convert_anthropic_to_oai, for what reaches llama-cpp-python. Raises LlamaError."""
    messages: list[Any] = []
    system = body.get("system")
    if system is not None:
        text = system if isinstance(system, str) else ""
        if isinstance(system, list):
            text = "".join(b["text"] for b in system if block_type(b) == "text" and isinstance(b.get("text"), str))
        messages.append({"role": "system", "content": text})
    if "messages" not in body:
        raise LlamaError(500, "'messages' is required", "server_error")
    if isinstance(body["messages"], list):
        for message in body["messages"]:
            messages.extend(convert_message(message))
    request: dict[str, Any] = {"messages": messages}
    if "stop_sequences" in body:
        request["stop"] = body["stop_sequences"]
    request["max_tokens"] = body.get("max_tokens", DEFAULT_MAX_TOKENS)
    for key in ("temperature", "top_p", "top_k", "stream"):
        if key in body:
            request[key] = body[key]
    return request


def block_type(block: Any) -> str:
    kind = block.get("type") if isinstance(block, dict) else None
    return kind if isinstance(kind, str) else ""


def convert_message(message: Any) -> list[Any]:
    """One Anthropic message as chat messages: string content as it is; blocks as text parts (and a
    reasoning_content), then one `tool` message per tool_result block."""
    if not isinstance(message, dict):
        return [message]
    role = message.get("role") if isinstance(message.get("role"), str) else ""
    if "content" not in message:
        return [] if role == "assistant" else [message]
    content = message["content"]
    if not isinstance(content, list):
        return [message]
    parts: list[Any] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    reasoning = ""
    for block in content:
        kind = block_type(block)
        if kind == "text":
            parts.append(block)
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            reasoning += block["thinking"]
        elif kind == "tool_use":
            arguments = json.dumps(block.get("input", {}), ensure_ascii=False, separators=(",", ":"))
            function = {"name": block.get("name", ""), "arguments": arguments}
            calls.append({"id": block.get("id", ""), "type": "function", "function": function})
        elif kind == "tool_result":
            result = block.get("content")
            if isinstance(result, list):
                result = "".join(c.get("text", "") for c in result if block_type(c) == "text")
            results.append({"role": "tool", "tool_call_id": block.get("tool_use_id", ""), "content": result or ""})
    converted: list[Any] = []
    if parts or calls or reasoning:
        new: dict[str, Any] = {"role": role, "content": parts or ""}
        if calls:
            new["tool_calls"] = calls
        if reasoning:
            new["reasoning_content"] = reasoning
        converted.append(new)
    return converted + results


def llama_request(request: dict[str, Any], model: Any, stream: bool) -> dict[str, Any]:
    """The chat completion llama-cpp-python runs: the messages (text parts joined) and the sampling
    fields llama-server reads, where their type is one it reads (json_value falls back otherwise)."""
    messages = []
    for message in inference.llama_messages(request["messages"]):
        if isinstance(message, dict):
            keep = ("role", "content", "tool_call_id") if message.get("role") == "tool" else ("role", "content")
            message = {k: message[k] for k in keep if k in message}
        messages.append(message)
    chat: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    numbers = {"max_tokens": int, "top_k": int, "temperature": (int, float), "top_p": (int, float)}
    for key, kind in numbers.items():
        if isinstance(request.get(key), kind) and not isinstance(request[key], bool):
            chat[key] = request[key]
    stop = request.get("stop")
    if isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        chat["stop"] = stop
    return chat


def answer(handler: Handler, upstream_url: str, tail: str, body: dict[str, Any], model_path: str) -> None:
    """llama-server's post_anthropic_messages / post_anthropic_count_tokens, over llama-cpp-python."""
    try:
        request = to_openai(body)
    except LlamaError as exc:
        error = {"code": exc.status, "message": str(exc), "type": exc.kind}
        handler.send_bytes(exc.status, dumps({"error": error}).encode(), JSON_UTF8)
        return
    stream = request.get("stream") is True  # json_value(data, "stream", false)
    chat = llama_request(request, body.get("model"), stream and tail == "messages")
    try:
        if tail == "messages/count_tokens":
            count = prompt_tokens(handler, upstream_url, chat)
            if count is not None:
                handler.send_bytes(200, dumps({"input_tokens": count}).encode(), JSON_UTF8)
        elif stream:
            relay_stream(handler, upstream_url, chat, model_path)
        else:
            final(handler, upstream_url, chat, model_path)
    except OSError as exc:
        if isinstance(exc, BrokenPipeError | ConnectionResetError):
            return
        handler.http_error(500, f"unable to load runner: {exc}")


def dumps(value: Any) -> str:
    """llama-server's safe_json_to_str: compact, UTF-8 as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def cmpl_id() -> str:
    """llama-server's gen_chatcmplid: `chatcmpl-` and 32 random letters and digits."""
    alphabet = string.digits + string.ascii_letters
    return "chatcmpl-" + "".join(random.choice(alphabet) for _ in range(32))


def post(upstream_url: str, chat: dict[str, Any]) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    target = urlsplit(upstream_url)
    conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port or 80, timeout=600)
    try:
        path = f"{target.path.rstrip('/')}/v1/chat/completions"
        conn.request("POST", path, json.dumps(chat).encode(), {"Content-Type": "application/json"})
        return conn, conn.getresponse()
    except OSError:
        conn.close()
        raise


def complete(handler: Handler, upstream_url: str, chat: dict[str, Any]) -> dict[str, Any] | None:
    """A non-streamed completion; an upstream error is relayed as it came (then None)."""
    conn, response = post(upstream_url, chat)
    try:
        payload = response.read()
        content_type = response.getheader("Content-Type") or JSON_UTF8
    finally:
        conn.close()
    try:
        reply = json.loads(payload) if response.status == 200 else None
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        handler.send_bytes(response.status, payload, content_type)
        return None
    return reply


def prompt_tokens(handler: Handler, upstream_url: str, chat: dict[str, Any]) -> int | None:
    reply = complete(handler, upstream_url, {**chat, "max_tokens": 1, "stream": False})
    return None if reply is None else int((reply.get("usage") or {}).get("prompt_tokens", 0))


def usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {"cache_read_input_tokens": 0, "input_tokens": input_tokens, "output_tokens": output_tokens}


def stop_reason(finish_reason: Any) -> str:
    return "end_turn" if finish_reason == "stop" else "max_tokens"


def final(handler: Handler, upstream_url: str, chat: dict[str, Any], model_path: str) -> None:
    """to_json_anthropic."""
    reply = complete(handler, upstream_url, chat)
    if reply is None:
        return
    choice = (reply.get("choices") or [{}])[0]
    text = (choice.get("message") or {}).get("content") or ""
    counts = reply.get("usage") or {}
    message = {
        "id": cmpl_id(),
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": text}] if text else [],
        "model": model_path,
        "stop_reason": stop_reason(choice.get("finish_reason")),
        "stop_sequence": None,
        "usage": usage(int(counts.get("prompt_tokens", 0)), int(counts.get("completion_tokens", 0))),
    }
    handler.send_bytes(200, dumps(message).encode(), JSON_UTF8)


def event(name: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    """An SSE event as llama-server builds it: `{"event": NAME, "data": {"type": NAME, …}}`."""
    return name, {"type": name, **fields}


def relay_stream(handler: Handler, upstream_url: str, chat: dict[str, Any], model_path: str) -> None:
    """The partials' to_json_anthropic then the final's to_json_anthropic_stream, as SSE frames."""
    input_tokens = prompt_tokens(handler, upstream_url, chat)
    if input_tokens is None:
        return
    conn, response = post(upstream_url, chat)
    try:
        content_type = response.getheader("Content-Type") or ""
        if response.status != 200 or not content_type.startswith("text/event-stream"):
            handler.send_bytes(response.status, response.read(), content_type or JSON_UTF8)
            return
        if not handler.streaming:
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream")
            handler.send_header("X-Accel-Buffering", "no")  # llama-server's (capture api-probe.txt)
            handler.end_headers()
            handler.streaming = True

        def emit(events: list[tuple[str, dict[str, Any]]]) -> None:
            handler.wfile.write("".join(f"event: {e}\ndata: {dumps(d)}\n\n" for e, d in events).encode())
            handler.wfile.flush()

        head = {"id": cmpl_id(), "type": "message", "role": "assistant", "content": [], "model": model_path}
        head |= {"stop_reason": None, "stop_sequence": None, "usage": usage(input_tokens, 0)}
        started = text_started = False
        tokens, finish = 0, None
        for line in response:
            content = line.strip()
            if not content.startswith(b"data: ") or content == b"data: [DONE]":
                continue
            try:
                chunk = json.loads(content[len(b"data: ") :])
            except ValueError:
                continue
            events = [] if started else [event("message_start", message=head)]
            started = True
            for choice in chunk.get("choices") or [] if isinstance(chunk, dict) else []:
                text = (choice.get("delta") or {}).get("content")
                if isinstance(text, str) and text:
                    if not text_started:
                        events.append(event("content_block_start", index=0, content_block={"type": "text", "text": ""}))
                    text_started = True
                    events.append(event("content_block_delta", index=0, delta={"type": "text_delta", "text": text}))
                    tokens += 1
                finish = choice.get("finish_reason") or finish
            if events:
                emit(events)
        limit = chat.get("max_tokens")
        output_tokens = limit if finish == "length" and isinstance(limit, int) and limit > 0 else tokens
        closing = [event("content_block_stop", index=0)] if text_started else []
        delta = {"stop_reason": stop_reason(finish), "stop_sequence": None}
        closing.append(event("message_delta", delta=delta, usage={"output_tokens": output_tokens}))
        emit(closing + [event("message_stop")])
    finally:
        conn.close()
