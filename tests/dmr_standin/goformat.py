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
