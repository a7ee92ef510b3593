"""Timestamps on the wire: metav1.Time (RFC 3339, whole seconds, UTC, ``Z``), metav1.MicroTime
(microseconds) and the trigger-time annotation (Go's RFC3339Nano, trailing zeros trimmed).
Every component formats and reads times here, so they all write the same text. Pure but for
the clock in ``now_rfc3339``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

# RFC 3339, read leniently as upstream's decoders do: "t"/" " for "T", "z" for "Z", any number
# of fraction digits (Go writes up to nine; Python keeps six). The offset is required.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def _utc(moment: float | datetime) -> datetime:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.fromtimestamp(moment, UTC)


def rfc3339(moment: float | datetime) -> str:
    """metav1.Time text for a Unix time or a datetime (naive ones are taken as UTC)."""
    return _utc(moment).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def micro_time(moment: float | datetime) -> str:
    """metav1.MicroTime text: microseconds, UTC."""
    return _utc(moment).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def nano_time(moment: float | datetime) -> str:
    """Go's RFC3339Nano as far as Python's microseconds go: the fraction kept, trailing zeros
    trimmed (the trigger-time annotation; a latency metric needs better than whole seconds)."""
    text = _utc(moment).replace(tzinfo=None).isoformat(timespec="microseconds")
    text = text.rstrip("0").rstrip(".")
    return text + "Z"


def now_rfc3339() -> str:
    return rfc3339(datetime.now(UTC))


def parse_time(text: str) -> datetime:
    """An aware UTC datetime from RFC 3339 text (Time or MicroTime); ValueError if unreadable."""
    match = _RFC3339.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second, frac, _z, sign, off_h, off_m = match.groups()
    micros = int((frac or "0")[:6].ljust(6, "0"))
    parsed = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), micros, UTC
    )
    if sign is not None:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        parsed = parsed - offset if sign == "+" else parsed + offset
    return parsed


def parse_time_or_none(value: Any) -> datetime | None:
    """`parse_time` for fields that may be absent or hold junk: None then."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_time(value)
    except ValueError:  # also a well-formed but impossible date (month 13)
        return None
