"""Objects as the store keeps them: JSON without resourceVersion, which is the key's mod
revision and is filled in on every read."""

from __future__ import annotations

from typing import Any

import orjson

from knet.apiserver import errors
from knet.apiserver.request import MAX_DEPTH, exceeds_depth
from knet.storage import KeyValue

# etcd's default --max-request-bytes (1.5 MiB): the largest object upstream can store.
MAX_STORED = 1536 * 1024


def decode(kv: KeyValue) -> dict[str, Any]:
    obj: dict[str, Any] = orjson.loads(kv.value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
    return obj


def encode(obj: dict[str, Any]) -> bytes:
    # Patches can deepen an object past what its List could be written as; refuse that here,
    # where every write passes.
    if exceeds_depth(obj, MAX_DEPTH):
        raise errors.ApiError(
            422, "Invalid", f"the object would be nested more than {MAX_DEPTH} levels deep"
        )
    meta = obj.get("metadata", {})
    rv = meta.pop("resourceVersion", None)
    try:
        value = orjson.dumps(obj)
    finally:
        if rv is not None:
            meta["resourceVersion"] = rv
    if len(value) > MAX_STORED:
        # What etcd answers for a value past its request limit; upstream passes it on as 413.
        raise errors.entity_too_large("etcdserver: request is too large")
    return value
