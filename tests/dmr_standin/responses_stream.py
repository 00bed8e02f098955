"""How the Responses API reads the scheduler's answer: Go ResponseWriters, as `pkg/responses` has them.

The Responses handler calls the scheduler in-process (`h.schedulerHTTP.ServeHTTP(w, upstreamReq)`),
with a writer of its own: `NonStreamingResponseCapture` (streaming.go 501-529: status 200 unless
WriteHeader says otherwise, body kept) or `StreamingResponseWriter` (streaming.go 10-499), which turns
the chat completion SSE into Responses events. Here `SubHandler` is the scheduler's side of that call:
it offers what `inference.serve` uses of a request handler (request headers, body, http_error,
send_bytes, the relay's send_response/send_header/end_headers/wfile) and writes into such a writer.
`RealWriter` is Go's own ResponseWriter over the stand-in's handler: the first write sends the status
(200 when none was set) and the header map, later WriteHeader calls change nothing ("superfluous").
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import goformat

if TYPE_CHECKING:
    from .server import Handler, StandinServer

Response = dict[str, Any]


def generate_id(prefix: str) -> str:
    """api.go GenerateID: 24 characters of [a-z0-9] after the prefix (`resp_`, `msg_`, `item_`, `call_`)."""
    return prefix + "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(24))


def text_part(text: str) -> dict[str, Any]:
    """A ContentPart of type output_text (`text` and the empty `annotations` are omitempty)."""
    return {"type": "output_text", "text": text} if text else {"type": "output_text"}


def message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": "assistant", "content": [text_part(text)], "status": status}


class RealWriter:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.header: dict[str, str] = {}
        self.started = False

    def write_header(self, status: int) -> None:
        if self.started:
            return
        self.started = True
        self.handler.send_response(status)
        for key, value in self.header.items():
            self.handler.send_header(key, value)
        self.handler.end_headers()
        self.handler.streaming = True  # close-delimited from here

    def write(self, data: bytes) -> None:
        self.write_header(200)
        self.handler.wfile.write(data)
        self.handler.wfile.flush()


class Capture:
    """NonStreamingResponseCapture: WriteHeader only records the status (each call)."""

    def __init__(self) -> None:
        self.header: dict[str, str] = {}
        self.status = 200
        self.body = b""

    def write_header(self, status: int) -> None:
        self.status = status

    def write(self, data: bytes) -> None:
        self.body += data


class SubHandler:
    """The scheduler's view of `http.NewRequestWithContext(POST, /engines/…/v1/chat/completions)`: only
    Content-Type (and the caller's Authorization) as headers; its answer goes to `sink`."""

    def __init__(self, server: StandinServer, body: dict[str, Any], sink: Any, authorization: str | None) -> None:
        self.server = server
        self.body = body
        self.sink = sink
        self.headers = {
            "Content-Type": "application/json",
            **({"Authorization": authorization} if authorization else {}),
        }
        self.streaming = False
        self.status = 200
        self.wfile = self

    def read_json(self) -> Any:
        return json.loads(json.dumps(self.body))

    def http_error(self, status: int, message: str) -> None:
        self.send_bytes(status, (message + "\n").encode(), "text/plain; charset=utf-8", nosniff=True)

    def send_bytes(self, status: int, body: bytes, content_type: str, *, nosniff: bool = False) -> None:
        if not self.streaming:
            self.sink.header["Content-Type"] = content_type
            if nosniff:
                self.sink.header["X-Content-Type-Options"] = "nosniff"
            self.sink.write_header(status)
        self.sink.write(body)

    def send_empty(self, status: int) -> None:
        if not self.streaming:
            self.sink.write_header(status)

    def begin_stream(self, content_type: str) -> None:
        self.sink.header["Content-Type"] = content_type
        self.sink.write_header(200)
        self.streaming = True

    def write_raw(self, text: str | bytes) -> None:
        self.sink.write(text.encode() if isinstance(text, str) else text)

    def send_response(self, status: int, message: str | None = None) -> None:
        self.status = status

    def send_header(self, key: str, value: str) -> None:
        self.sink.header[key] = value

    def end_headers(self) -> None:
        self.sink.write_header(self.status)

    def write(self, data: bytes) -> None:
        self.sink.write(data)

    def flush(self) -> None:
        pass


USAGE = ("struct", "responses.Usage", {"input_tokens": "int", "output_tokens": "int", "total_tokens": "int"})
META_CHOICE = ("struct", "struct", {"finish_reason": "string", "delta": "raw"})
META = ("struct", "struct", {"usage": USAGE, "choices": ("slice", META_CHOICE)})
TOOL_CALL = (
    "struct",
    "responses.ChatToolCall",
    {
        "id": "string",
        "type": "string",
        "function": ("struct", "responses.ChatFunctionCall", {"name": "string", "arguments": "string"}),
    },
)
DELTA = (
    "struct",
    "responses.ChatDelta",
    {"role": "string", "content": "string", "tool_calls": ("slice", TOOL_CALL), "reasoning_content": "string"},
)
CHOICE = ("struct", "responses.ChatStreamChoice", {"index": "int", "delta": DELTA, "finish_reason": "string"})
CHUNK = (
    "struct",
    "responses.ChatStreamChunk",
    {"id": "string", "object": "string", "created": "int64", "model": "string", "choices": ("slice", CHOICE)},
)


def decode(data: str, spec: Any) -> tuple[Any, str | None]:
    value, error = goformat.json_decode(data)
    if error is None:
        errors: list[str] = []
        value = goformat.go_unmarshal(value, spec, errors)
        error = errors[0] if errors else None
    return value or {}, error


class StreamWriter:
    """StreamingResponseWriter over `real` (a RealWriter); `save` stores the response (None: store=false)."""

    def __init__(self, real: RealWriter, response: Response, save: Callable[[Response], None] | None) -> None:
        self.real = real
        self.header = real.header
        self.response = response
        self.save = save
        self.seq = 0
        self.headers_sent = False
        self.buffer = b""
        self.item_id = ""
        self.text = ""
        self.tool_calls: list[dict[str, Any]] = []

    def send(self, kind: str, **fields: Any) -> None:
        """sendEvent: `event: TYPE` and the StreamEvent as json.Marshal writes it (omitempty fields)."""
        from .responses import encode

        self.seq += 1
        event: dict[str, Any] = {"type": kind, "sequence_number": self.seq}
        for key in ("response", "item", "output_index", "content_index", "part", "delta", "item_id", "error"):
            value = fields.get(key)
            if value:
                event[key] = encode(value) if key == "response" else value
        self.real.write(f"event: {kind}\ndata: {goformat.marshal(event)}\n\n".encode())

    def fail(self, code: str, message: str) -> None:
        self.response["status"] = "failed"
        self.send("error", error={"code": code, "message": message})
        self.send("response.failed", response=self.response)
        if self.save is not None:
            self.save(self.response)

    def write_header(self, status: int) -> None:
        """WriteHeader (streaming.go 43-97): a status other than 200 becomes an `error` and a
        `response.failed` event, written (so sent with status 200) before the superfluous WriteHeader."""
        if self.headers_sent:
            return
        self.headers_sent = True
        if status != 200:
            self.fail("upstream_error", f"Upstream service returned status code: {status}")
            self.real.write_header(status)
            return
        self.header.update({"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        self.real.write_header(status)
        self.send("response.created", response=self.response)
        self.response["status"] = "in_progress"
        self.send("response.in_progress", response=self.response)

    def write(self, data: bytes) -> None:
        """Write (streaming.go 99-215): complete lines only; `data: ` lines as chat completion chunks."""
        if not self.headers_sent:
            self.write_header(200)
        self.buffer += data
        lines = self.buffer.split(b"\n")
        self.buffer = lines.pop() if not self.buffer.endswith(b"\n") else b""
        for raw in lines:
            line = raw.strip()
            if not line.startswith(b"data: "):
                continue
            data_str = line[len(b"data: ") :].decode("utf-8", errors="replace")
            if data_str and data_str != "[DONE]":
                meta, error = decode(data_str, META)
                if error is not None:
                    self.fail("parse_error", f"Failed to parse SSE metadata chunk: {error}")
                    return
                usage = meta.get("usage")
                if usage is not None and self.response["usage"] is None:
                    self.response["usage"] = {
                        k: usage.get(k) or 0 for k in ("input_tokens", "output_tokens", "total_tokens")
                    }
                for choice in meta.get("choices") or []:
                    self.finish((choice or {}).get("finish_reason") or "")
            if data_str == "[DONE]":
                self.finalize()
                continue
            self.process(data_str)

    def finish(self, reason: str) -> None:
        if not reason:
            return
        self.response["finish_reason"] = reason
        if reason in ("stop", "tool_calls", "length"):
            self.response["status"] = "completed"
            if reason == "length" and self.response["incomplete_details"] is None:
                self.response["incomplete_details"] = {"reason": "max_tokens"}
        elif reason == "content_filter":
            self.response["status"] = "failed"
            if self.response["error"] is None:
                self.response["error"] = {"code": "content_filter", "message": "Content filtered"}

    def process(self, data_str: str) -> None:
        """processChunk (streaming.go 217-262)."""
        chunk, error = decode(data_str, CHUNK)
        if error is not None:
            self.fail("parse_error", f"Failed to parse SSE chunk: {error}")
            return
        if not chunk.get("choices"):
            return
        delta = (chunk["choices"][0] or {}).get("delta") or {}
        if delta.get("tool_calls"):
            self.tool_call_delta(delta["tool_calls"])
        elif delta.get("content"):
            self.content_delta(delta["content"])

    def content_delta(self, content: str) -> None:
        """handleContentDelta (streaming.go 264-317)."""
        if not self.item_id:
            self.item_id = generate_id("msg_")
            self.send("response.output_item.added", item=message_item(self.item_id, "", "in_progress"))
            self.send("response.content_part.added", item_id=self.item_id, part=text_part(""))
        self.text += content
        self.send("response.output_text.delta", item_id=self.item_id, delta=content)

    def tool_call_delta(self, calls: list[Any]) -> None:
        """handleToolCallDelta (streaming.go 319-371)."""
        for call in calls:
            call = call or {}
            function = call.get("function") or {}
            item = next((c for c in self.tool_calls if c["call_id"] == (call.get("id") or "")), None)
            if item is None:
                item = {"id": generate_id("item_"), "type": "function_call", "status": "in_progress"}
                item |= {"call_id": call.get("id") or generate_id("call_"), "name": function.get("name") or ""}
                item["arguments"] = ""
                self.tool_calls.append(item)
                self.send("response.output_item.added", item=output_item(item), output_index=len(self.tool_calls) - 1)
            if function.get("arguments"):
                item["arguments"] += function["arguments"]
                index = len(self.tool_calls) - 1
                self.send(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=function["arguments"],
                )

    def finalize(self) -> None:
        """finalize (streaming.go 373-478)."""
        if self.item_id:
            part = text_part(self.text)
            self.send("response.output_text.done", item_id=self.item_id, part=part)
            self.send("response.content_part.done", item_id=self.item_id, part=part)
            self.send("response.output_item.done", item=message_item(self.item_id, self.text, "completed"))
            self.response["output"].append(message_item(self.item_id, self.text, "completed"))
            self.response["output_text"] = self.text
        for index, call in enumerate(self.tool_calls):
            self.send(
                "response.function_call_arguments.done", item_id=call["id"], output_index=index, delta=call["arguments"]
            )
            call["status"] = "completed"
            self.send("response.output_item.done", output_index=index, item=output_item(call))
            self.response["output"].append(output_item(call))
        self.response["status"] = "completed"
        self.send("response.completed", response=self.response)
        if self.save is not None:
            self.save(self.response)


def output_item(item: dict[str, Any]) -> dict[str, Any]:
    """An OutputItem as json.Marshal writes it: id and type, then the non-empty omitempty fields."""
    keys = ("role", "content", "status", "call_id", "name", "arguments", "output")
    return {"id": item["id"], "type": item["type"], **{k: item[k] for k in keys if item.get(k)}}
