"""Go duration text ("5s", "40s", "5m", "1m30s", "250ms") as seconds. Pure."""

from __future__ import annotations

import re

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration; a bare number is taken as seconds. Raises ValueError."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty duration")
    sign = 1.0
    body = raw
    if body[0] in "+-":
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return 0.0
    try:
        return sign * float(body)
    except ValueError:
        pass
    total = 0.0
    pos = 0
    while pos < len(body):
        m = _PART.match(body, pos)
        if m is None:
            raise ValueError(f"invalid duration {raw!r}: want e.g. 5s, 40s, 5m, 1m30s or 250ms")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def duration_arg(text: str) -> float:
    """An argparse `type=` for duration flags: non-negative seconds."""
    import argparse

    try:
        seconds = parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"duration {text!r} must not be negative")
    return seconds
