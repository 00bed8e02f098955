"""How Go writes things the real runner and CLI print (both are Go programs).

Each function names the Go standard-library behaviour it reproduces; none of them is copied
code, they are re-statements of documented Go semantics.
"""

from __future__ import annotations

import ipaddress
import json
from http import HTTPStatus
from typing import Any

_HTML_ESCAPES = {"&": "&amp;", "'": "&#39;", "<": "&lt;", ">": "&gt;", '"': "&#34;"}
_JSON_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def html_escape(text: str) -> str:
    """Go's `html.EscapeString`: only & ' < > " (as &amp; &#39; &lt; &gt; &#34;)."""
    return "".join(_HTML_ESCAPES.get(c, c) for c in text)


def html_unescape(text: str) -> str:
    """Go's `html.UnescapeString` for what `html_escape` writes (plus Python's full entity table)."""
    import html

    return html.unescape(text)


def marshal(value: Any, *, escape_html: bool = True, indent: str | None = None) -> str:
    """Go's `json.Marshal` (compact, map keys in insertion order here, <>& as \\u003c… unless
    `SetEscapeHTML(false)`), or `json.MarshalIndent`/`Encoder.SetIndent` with `indent`."""
    text = json.dumps(value, ensure_ascii=False, indent=indent, separators=None if indent else (",", ":"))
    if escape_html:
        text = "".join(_JSON_HTML.get(c, c) for c in text)
    return text


def encode(value: Any, *, escape_html: bool = True, indent: str | None = None) -> str:
    """Go's `json.NewEncoder(w).Encode(v)`: `marshal` plus a trailing newline."""
    return marshal(value, escape_html=escape_html, indent=indent) + "\n"


def quote(text: str) -> str:
    """Go's `%q` / `strconv.Quote` for printable text (", \\ and control characters escaped)."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def status_text(code: int) -> str:
    """Go's `http.Response.Status`, e.g. `404 Not Found`."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} status code {code}"


def duration(seconds: int) -> str:
    """Go's `time.Duration.String()` for whole seconds below a minute (`1s`, `8s`)."""
    return f"{seconds}s"


def custom_size(size: float) -> str:
    """docker/go-units `CustomSize("%.2f%s", size, 1000.0, B kB MB GB TB PB EB ZB YB)`."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    i = 0
    while size >= 1000.0 and i < len(units) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.2f}{units[i]}"


def parse_addr(text: str) -> str | None:
    """Go's netip.ParseAddr error text for `text`, or None when it is an IP address. IPv4 messages
    follow net/netip parseIPv4Fields; an invalid IPv6 address gets `unable to parse IP` (assumed)."""
    q = quote
    kind = next((c for c in text if c in ".:%"), None)
    if kind == "%":
        return f"ParseAddr({q(text)}): missing IPv6 address"
    if kind == ".":
        fields, value, digits = 0, 0, 0
        for i, c in enumerate(text):
            if c.isdigit() and c.isascii():
                if digits == 1 and value == 0:
                    return f"ParseAddr({q(text)}): IPv4 field has octet with leading zero"
                value, digits = value * 10 + int(c), digits + 1
                if value > 255:
                    return f"ParseAddr({q(text)}): IPv4 field has value >255"
            elif c == ".":
                if i == 0 or i == len(text) - 1 or text[i - 1] == ".":
                    return f"ParseAddr({q(text)}): IPv4 field must have at least one digit (at {q(text[i:])})"
                if fields == 3:
                    return f"ParseAddr({q(text)}): IPv4 address too long"
                fields, value, digits = fields + 1, 0, 0
            else:
                return f"ParseAddr({q(text)}): unexpected character (at {q(text[i:])})"
        return None if fields == 3 else f"ParseAddr({q(text)}): IPv4 address too short"
    if kind == ":":
        try:
            ipaddress.IPv6Address(text)
            return None
        except ValueError:
            return f"ParseAddr({q(text)}): unable to parse IP"
    return f"ParseAddr({q(text)}): unable to parse IP"


def json_number(value: Any) -> Any:
    """A float64 as Go's encoder writes it for whole values (`1`, not Python's `1.0`); recursive."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, list):
        return [json_number(v) for v in value]
    if isinstance(value, dict):
        return {k: json_number(v) for k, v in value.items()}
    return value


def json_any(value: Any) -> Any:
    """What a JSON value decoded into Go's `interface{}` re-encodes as: map keys sorted, whole floats
    without a fraction."""
    if isinstance(value, dict):
        return {k: json_any(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [json_any(v) for v in value]
    return json_number(value)


def _quote_char(c: str) -> str:
    """encoding/json quoteChar: one byte, as strconv.Quote writes it, in single quotes."""
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    if ord(c) > 0x7F:
        return f"'\\x{c.encode()[0]:02x}'"
    return "'" + quote(c)[1:-1] + "'"


def json_decode(text: str | bytes) -> tuple[Any, str | None]:
    """`json.Unmarshal` into `interface{}`: (value, None), or (None, Go's error text). The syntax
    errors follow encoding/json's scanner for the common cases; the rarer ones (inside numbers) are
    approximations (assumed)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")

    def constant(name: str) -> Any:
        raise ValueError(name)  # NaN/Infinity are not JSON for Go

    try:
        return json.loads(text, parse_constant=constant), None
    except json.JSONDecodeError as exc:
        pos, msg = exc.pos, exc.msg
    except ValueError as exc:  # NaN, Infinity, -Infinity
        pos, msg = text.find(str(exc)), "Expecting value"
    eof = "unexpected end of JSON input"
    if pos >= len(text.rstrip(" \t\r\n")) or msg.startswith("Unterminated string"):
        return None, eof
    c = text[pos]
    if msg.startswith("Invalid control character"):
        return None, f"invalid character {_quote_char(c)} in string literal"
    if msg.startswith("Invalid \\escape") or msg.startswith("Invalid \\u"):
        return None, f"invalid character {_quote_char(text[pos + 1])} in string escape code"
    for literal in ("true", "false", "null"):
        if msg == "Expecting value" and c == literal[0]:
            for i, want in enumerate(literal):
                if pos + i >= len(text):
                    return None, eof
                if text[pos + i] != want:
                    got = _quote_char(text[pos + i])
                    return None, f"invalid character {got} in literal {literal} (expecting {_quote_char(want)})"
    if msg.startswith("Expecting property name"):
        return None, f"invalid character {_quote_char(c)} looking for beginning of object key string"
    if msg.startswith("Expecting ':'"):
        return None, f"invalid character {_quote_char(c)} after object key"
    if msg.startswith("Extra data"):
        return None, f"invalid character {_quote_char(c)} after top-level value"
    if msg.startswith("Expecting ','"):
        depth: list[str] = []
        in_string = escaped = False
        for ch in text[:pos]:
            if in_string:
                in_string, escaped = (ch != '"' or escaped), (ch == "\\" and not escaped)
            elif ch == '"':
                in_string = True
            elif ch in "[{":
                depth.append(ch)
            elif ch in "]}" and depth:
                depth.pop()
        where = "after array element" if depth and depth[-1] == "[" else "after object key:value pair"
        return None, f"invalid character {_quote_char(c)} {where}"
    if c == "-" and pos + 1 < len(text):
        return None, f"invalid character {_quote_char(text[pos + 1])} in numeric literal"
    return None, f"invalid character {_quote_char(c)} looking for beginning of value"


def json_kind(value: Any) -> str:
    """The JSON kind `UnmarshalTypeError.Value` names: string, number, bool, array, object."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def go_type(spec: Any) -> str:
    """The Go type a `go_unmarshal` spec stands for, as UnmarshalTypeError prints it."""
    if isinstance(spec, str):
        return {"any": "interface {}", "raw": "json.RawMessage"}.get(spec, spec)
    if spec[0] == "slice":
        return "[]" + go_type(spec[1])
    if spec[0] == "map":
        return "map[string]" + go_type(spec[1])
    return str(spec[1])


def go_unmarshal(value: Any, spec: Any, errors: list[str], struct: str = "", path: str = "") -> Any:
    """`json.Unmarshal` of a decoded JSON `value` into the Go type `spec` ("string", "bool", "int",
    "int64", "float64", "any", "raw", ("slice", elem), ("map", elem), ("struct", "pkg.Name", {field:
    spec})): the value Go keeps (None for null or a mismatch), each UnmarshalTypeError text appended
    to `errors` (Go returns the first). Struct keys match field names without regard to case."""
    if value is None or spec in ("any", "raw"):
        return value

    def wrong(kind: str | None = None) -> None:
        where = f"Go struct field {struct}.{path}" if struct else "Go value"
        errors.append(f"json: cannot unmarshal {kind or json_kind(value)} into {where} of type {go_type(spec)}")

    if spec == "string" or spec == "bool":
        if isinstance(value, str if spec == "string" else bool):
            return value
    elif spec in ("int", "int64", "float64"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            if spec == "float64" or isinstance(value, int):
                return value
            wrong(f"number {value!r}")
            return None
    elif spec[0] == "slice" and isinstance(value, list):
        return [go_unmarshal(v, spec[1], errors, struct, path) for v in value]
    elif spec[0] == "map" and isinstance(value, dict):
        return {k: go_unmarshal(v, spec[1], errors, struct, path) for k, v in value.items()}
    elif spec[0] == "struct" and isinstance(value, dict):
        fields, name, out = spec[2], spec[1].rsplit(".", 1)[-1], {}
        for key, item in value.items():
            field = key if key in fields else key.lower() if key.lower() in fields else None
            if field is not None:
                out[field] = go_unmarshal(item, fields[field], errors, name, f"{path}.{field}" if path else field)
        return out
    wrong()
    return None
