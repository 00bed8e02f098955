"""Go's time formats the runner and CLI use around runners: durations, RFC 3339 times, go-units.

- `keep_alive` re-states docker/model-runner `pkg/inference/backend.go` ParseKeepAlive and
  KeepAlive.MarshalJSON: `"0"` is 0, `"-1"` and any negative duration are "forever" (`"-1"`), else a
  Go duration, written back with `time.Duration.String()` (`5m` → `5m0s`).
- `now` is Go's `time.Time` JSON (RFC 3339 with nanoseconds, trailing zeros dropped), as
  `/engines/ps` `last_used` shows it (capture configure-vs-unload.txt).
- `human_duration` is docker/go-units HumanDuration (`docker model ps` UNTIL column).
"""

from __future__ import annotations

import re
import time

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds. Raises ValueError."""
    s = text.strip()
    sign = -1 if s.startswith("-") else 1
    s = s.lstrip("+-")
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    total, pos = 0.0, 0
    while pos < len(s):
        match = _PART.match(s, pos)
        if match is None:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * int(total)


def format_duration(ns: int) -> str:
    """Go's time.Duration.String()."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if ns >= size:
                return sign + _trim(ns / size) + unit
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _trim(rest / 10**9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


def keep_alive(value: object) -> str:
    """A keep_alive JSON string as the runner stores and shows it. Raises ValueError."""
    if not isinstance(value, str):
        raise ValueError("keep_alive must be a string")
    if value == "0":
        return "0s"
    if value == "-1":
        return "-1"
    ns = parse_duration(value)
    return "-1" if ns < 0 else format_duration(ns)


def keep_alive_ns(value: str | None) -> int | None:
    """Nanoseconds of a stored keep_alive; None for "forever"; 5 minutes when unset (KeepAliveDefault)."""
    if value is None:
        return 5 * 60 * 10**9
    if value == "-1":
        return None
    return parse_duration(value)


def now(ns: int | None = None) -> str:
    """Go's time.Time MarshalJSON (RFC 3339, nanoseconds without trailing zeros), in UTC."""
    ns = time.time_ns() if ns is None else ns
    seconds, fraction = divmod(ns, 10**9)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


def parse_time(text: str) -> float:
    """Seconds since the epoch of a `now()` string (0 for Go's zero time)."""
    if text.startswith("0001-"):
        return 0.0
    import calendar

    head, _, tail = text.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S")) + (float("0." + tail) if tail else 0.0)


def human_duration(seconds_total: float) -> str:
    """docker/go-units HumanDuration."""
    seconds = int(seconds_total)
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = int(seconds_total / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds_total / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds_total / 3600 / 24 / 365)} years"
