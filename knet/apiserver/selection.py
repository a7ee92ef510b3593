"""Which objects a label and field selector pick: pure, shared by lists (from the store or the
watch cache) and watches."""

from __future__ import annotations

from typing import Any

from knet.api.registry import ResourceInfo
from knet.api.selectors import FieldSelector, LabelSelector


def object_fields(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, str]:
    """The values a field selector sees, by dotted path (absent fields read as "")."""
    out: dict[str, str] = {}
    for path in info.selectable_fields:
        cur: Any = obj
        for part in path.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        if path == "source" and info.kind == "Event":
            cur = (obj.get("source") or {}).get("component")
        elif path == "status.successful":  # a Job's: upstream names status.succeeded so
            cur = (obj.get("status") or {}).get("succeeded") or 0
        if isinstance(cur, bool):
            out[path] = "true" if cur else "false"
        elif cur is None:
            out[path] = ""
        else:
            out[path] = str(cur)
    return out


def matches(
    info: ResourceInfo,
    obj: dict[str, Any],
    labels: LabelSelector | None,
    fields: FieldSelector | None,
) -> bool:
    if labels is not None and not labels.matches(obj.get("metadata", {}).get("labels") or {}):
        return False
    return fields is None or fields.matches(object_fields(info, obj))
