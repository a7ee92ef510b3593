"""The tolerant building blocks of the Table printers (printers.py and the per-group printer
modules): field access that never raises on what is stored, upstream's human durations and
timestamp cells, and column definitions. Pure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from knet.api.times import parse_time_or_none, rfc3339

NONE: Final = "<none>"
UNKNOWN: Final = "<unknown>"
UNSET: Final = "<unset>"

_ZERO_TIME_RFC3339: Final = "0001-01-01T00:00:00Z"  # how Go renders a zero metav1.Time


# --------------------------------------------------------------------------------------------
# human durations


def human_duration(seconds: float) -> str:
    """Render a duration the way apimachinery's ``duration.HumanDuration`` does.

    Precision shrinks as the duration grows: ``"90s"``, ``"3m20s"``, ``"45m"``, ``"5h3m"``,
    ``"20h"``, ``"3d4h"``, ``"30d"``, ``"2y10d"``, ``"9y"``. A small negative value (clock skew of
    under two seconds) reads as ``"0s"``; anything more negative is ``"<invalid>"``.
    """
    whole = int(seconds)  # truncates toward zero, as Go's int(d.Seconds()) does
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 3 * 60:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if rest == 0 else f"{years}y{rest}d"
    return f"{hours // 24 // 365}y"


# --------------------------------------------------------------------------------------------
# tolerant field access: stored objects are rendered as they are, never rejected


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    """A list of objects; malformed entries read as empty objects (they still count)."""
    return [_dict(item) for item in _list(value)]


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any, default: int = 0) -> int:
    # bool is an int subclass in Python but never a valid integer field on the wire
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _or_none(text: str) -> str:
    return text if text else NONE


# --------------------------------------------------------------------------------------------
# timestamps


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def _since(value: Any, now: datetime) -> str:
    """Upstream's translateTimestampSince: ``<unknown>`` for a zero/missing timestamp."""
    then = parse_time_or_none(value)
    if then is None:
        return UNKNOWN
    return human_duration((_aware(now) - then).total_seconds())


def _created_at(value: Any) -> str:
    """The default table's ``Created At`` cell: the timestamp in UTC, RFC 3339, seconds."""
    if value is None or value == "":
        return _ZERO_TIME_RFC3339
    parsed = parse_time_or_none(value)
    if parsed is None:
        return str(value)  # render what is stored rather than hide it
    return rfc3339(parsed)


# --------------------------------------------------------------------------------------------
# pod templates (label and selector cells: knet.api.selectors.format_*)


def _containers_cells(pod_spec: Any) -> tuple[str, str]:
    containers = _dicts(_get(pod_spec, "containers"))
    names = ",".join(_str(c.get("name")) for c in containers)
    images = ",".join(_str(c.get("image")) for c in containers)
    return names, images


# --------------------------------------------------------------------------------------------
# column definitions


def _col(
    name: str, description: str, *, type_: str = "string", priority: int = 0
) -> dict[str, Any]:
    fmt = "name" if name == "Name" else ""
    return {
        "name": name,
        "type": type_,
        "format": fmt,
        "description": description,
        "priority": priority,
    }


_NAME_DESC: Final = "Name of the object, unique within its namespace."
_AGE_DESC: Final = "Time since the object was created (metadata.creationTimestamp)."
_CONTAINERS_DESC: Final = "Names of the containers in the pod template."
_IMAGES_DESC: Final = "Images of the containers in the pod template."
