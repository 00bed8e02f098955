"""`pkg/responses/transform.go` (docker/model-runner 642c7211): a Responses request as the chat
completion the scheduler runs (TransformRequestToChatCompletion 138-221, responseFormatFromText 223-265,
parseInput / convertInputItems / parseContent 267-374, getConversationHistory 376-422) and the chat
completion as a Response (TransformChatCompletionToResponse 424-520). JSON is as Go marshals these
structs: omitempty fields left out, `content` null when unset; type errors are `json.Unmarshal`'s.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import goformat
from .responses_stream import generate_id, output_item, text_part

Response = dict[str, Any]
Lookup = Callable[[str], Response | None]  # the Store's Get

LAYER = "is not supported by Docker Model Runner Responses compatibility layer"
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
ITEM_FIELDS = {k: "string" for k in ("type", "role", "call_id", "output", "id", "name", "arguments")}
INPUT_ITEM = ("struct", "responses.InputItem", ITEM_FIELDS | {"content": "raw"})
PART_FIELDS = ("type", "text", "image_url", "file_id", "file_data", "filename")
INPUT_PART = ("struct", "responses.InputContentPart", {k: "string" for k in PART_FIELDS})


class Invalid(Exception):
    """A 400 `invalid_request` with this message."""


def chat_function(function: dict[str, Any]) -> dict[str, Any]:
    """ChatFunction / FunctionDef: name always, description and parameters omitempty."""
    out: dict[str, Any] = {"name": function.get("name") or ""}
    if function.get("description"):
        out["description"] = function["description"]
    if function.get("parameters") is not None:
        out["parameters"] = goformat.json_any(function["parameters"])
    return out


# --- transform.go -----------------------------------------------------------------------------


def to_chat(req: dict[str, Any], stored: Lookup) -> dict[str, Any]:
    """TransformRequestToChatCompletion, marshalled (omitempty fields left out). Raises Invalid."""
    response_format = format_from_text(req.get("text"))
    tools = []
    for tool in req.get("tools") or []:
        tool = tool or {}
        if tool.get("type") != "function":
            raise Invalid(f"tool type {goformat.quote(tool.get('type') or '')} {LAYER}")
        tools.append({"type": "function", "function": chat_function(tool.get("function") or tool)})
    messages: list[dict[str, Any]] = []
    if req.get("instructions"):
        messages.append({"role": "system", "content": req["instructions"]})
    if req.get("previous_response_id"):
        previous = stored(req["previous_response_id"])
        if previous is None:
            raise Invalid(f"previous_response_id {goformat.quote(req['previous_response_id'])} was not found")
        messages += history(previous, stored)
    messages += parse_input(req)
    chat: dict[str, Any] = {"model": req["model"], "messages": messages or None}
    optional = {
        "tools": tools or None,
        "tool_choice": goformat.json_any(req.get("tool_choice")),
        "temperature": goformat.json_number(req.get("temperature")),
        "top_p": goformat.json_number(req.get("top_p")),
        "max_tokens": req.get("max_output_tokens"),
        "stream": req.get("stream") or None,
        "user": req.get("user") or None,
        "parallel_tool_calls": req.get("parallel_tool_calls"),
        "response_format": response_format,
    }
    return chat | {k: v for k, v in optional.items() if v is not None}


def format_from_text(text: dict[str, Any] | None) -> dict[str, Any] | None:
    """responseFormatFromText (transform.go 223-265)."""
    fmt = (text or {}).get("format")
    kind = None if fmt is None else fmt.get("type") or ""
    if kind in (None, "", "text"):
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        raise Invalid(f"unsupported text.format.type {goformat.quote(kind)}")
    name = fmt.get("name") or ""
    if not name:
        raise Invalid("text.format.name is required when text.format.type is json_schema")
    if not NAME_PATTERN.fullmatch(name):
        raise Invalid(
            "text.format.name must contain only letters, numbers, underscores, and dashes, with a maximum length of 64"
        )
    if "schema" not in fmt:
        raise Invalid("text.format.schema is required when text.format.type is json_schema")
    if not isinstance(fmt["schema"], dict):
        raise Invalid("text.format.schema must be a JSON object")
    schema = {"name": name} | ({"description": fmt["description"]} if fmt.get("description") else {})
    schema["schema"] = fmt["schema"]
    if fmt.get("strict") is not None:
        schema["strict"] = fmt["strict"]
    return {"type": "json_schema", "json_schema": schema}


def chat_message(role: str, content: Any, **extra: Any) -> dict[str, Any]:
    """ChatMessage: role, content (null when unset), then the non-empty omitempty fields."""
    return {"role": role, "content": content, **{k: v for k, v in extra.items() if v}}


def history(response: Response, stored: Lookup) -> list[dict[str, Any]]:
    """getConversationHistory: the chain's outputs (not its inputs) as assistant messages."""
    messages = []
    previous = stored(response["previous_response_id"] or "")
    if previous is not None:
        messages += history(previous, stored)
    for item in response["output"]:
        if item["type"] == "message":
            text = "".join(p.get("text", "") for p in item.get("content", []) if p["type"] == "output_text")
            messages.append(chat_message(item.get("role", ""), text))
        elif item["type"] == "function_call":
            function = {"name": item.get("name", ""), "arguments": item.get("arguments", "")}
            call = {"id": item.get("call_id", ""), "type": "function", "function": function}
            messages.append(chat_message("assistant", None, tool_calls=[call]))
    return messages


def parse_input(req: dict[str, Any]) -> list[dict[str, Any]]:
    """parseInput / convertInputItems (transform.go 267-338). `input: null` is the string ""."""
    if "input" not in req:
        return []
    raw = req["input"]
    if raw is None or isinstance(raw, str):
        return [chat_message("user", raw or "")]
    errors: list[str] = []
    items = goformat.go_unmarshal(raw, ("slice", INPUT_ITEM), errors)
    if errors:
        raise Invalid(f"failed to parse input: input must be a string or array of items: {errors[0]}")
    messages = []
    for item in items:
        item = item or {}
        if item.get("type") == "function_call_output" or item.get("call_id"):
            messages.append(chat_message("tool", item.get("output") or "", tool_call_id=item.get("call_id")))
        elif item.get("role"):
            content = parse_content(item["content"]) if "content" in item else None
            messages.append(chat_message(item["role"], content))
        elif "content" in item:
            messages.append(chat_message("user", parse_content(item["content"])))
    return messages


def parse_content(content: Any) -> Any:
    """parseContent: a string (null: ""), or input_text / input_image parts as chat parts."""
    if content is None or isinstance(content, str):
        return content or ""
    errors: list[str] = []
    parts = goformat.go_unmarshal(content, ("slice", INPUT_PART), errors)
    if errors:
        raise Invalid(f"failed to parse input: content must be string or array: {errors[0]}")
    chat_parts = []
    for part in parts:
        part = part or {}
        if part.get("type") in ("input_text", "text"):
            chat_parts.append({"type": "text"} | ({"text": part["text"]} if part.get("text") else {}))
        elif part.get("type") in ("input_image", "image_url"):
            chat_parts.append({"type": "image_url", "image_url": {"url": part.get("image_url") or ""}})
    return chat_parts


# --- the reply (transform.go 424-520) --------------------------------------------------------


def well_formed(reply: dict[str, Any]) -> bool:
    """Whether json.Unmarshal into ChatCompletionResponse succeeds (its typed fields checked)."""
    function = ("struct", "responses.ChatFunctionCall", {"name": "string", "arguments": "string"})
    call = ("struct", "responses.ChatToolCall", {"id": "string", "type": "string", "function": function})
    message = ("struct", "m", {"role": "string", "content": "any", "name": "string", "tool_calls": ("slice", call)})
    choice = ("struct", "ch", {"index": "int", "message": message, "finish_reason": "string"})
    usage = ("struct", "u", {k: "int" for k in ("prompt_tokens", "completion_tokens", "total_tokens")})
    fields = {"id": "string", "object": "string", "created": "int64", "model": "string", "usage": usage}
    errors: list[str] = []
    goformat.go_unmarshal(reply, ("struct", "r", fields | {"choices": ("slice", choice)}), errors)
    return not errors


def completed(reply: dict[str, Any], response: Response) -> Response:
    """TransformChatCompletionToResponse, with handleNonStreaming's copies of the request's fields."""
    final = dict(response) | {"status": "completed", "output": [], "output_text": "", "error": None}
    choices = reply.get("choices") or []
    if choices:
        message = (choices[0] or {}).get("message") or {}
        for call in message.get("tool_calls") or []:
            call, function = call or {}, (call or {}).get("function") or {}
            item = {"id": generate_id("item_"), "type": "function_call", "status": "completed"}
            item |= {"call_id": call.get("id"), "name": function.get("name"), "arguments": function.get("arguments")}
            final["output"].append(output_item(item))
        content = message.get("content")
        if isinstance(content, str) and content:
            part = text_part(content)
            final["output"].append(
                {"id": generate_id("msg_"), "type": "message", "role": "assistant", "content": [part]}
            )
            final["output"][-1]["status"] = "completed"
            final["output_text"] = content
    usage = reply.get("usage")
    if usage is not None:
        counts = [usage.get(k) or 0 for k in ("prompt_tokens", "completion_tokens", "total_tokens")]
        final["usage"] = dict(zip(("input_tokens", "output_tokens", "total_tokens"), counts, strict=True))
    return final
