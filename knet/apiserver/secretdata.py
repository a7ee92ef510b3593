"""How the server reads ConfigMap and Secret bodies: byte values in canonical base64, a
Secret's `stringData` folded into `data` and its type defaulted.

Upstream does all three while decoding (a `[]byte` is decoded, then re-encoded on the way out)
and converting a v1 Secret to its internal form, so validation, the immutability check and
storage only ever see `data`: `stringData` is write-only. Pure.
"""

from __future__ import annotations

import base64
from typing import Any

from knet.api.config import SECRET_TYPE_OPAQUE, decode_base64


def canonical_bytes(obj: dict[str, Any], field: str) -> None:
    """Re-encode a map of base64 values as Go would write them back (no line breaks)."""
    bag = obj.get(field)
    if not isinstance(bag, dict):
        return
    for key, value in bag.items():
        if isinstance(value, str) and ("\n" in value or "\r" in value):
            raw = decode_base64(value)
            if raw is not None:  # not base64 at all: the body check refuses it
                bag[key] = base64.b64encode(raw).decode()


def merge_string_data(secret: dict[str, Any]) -> None:
    """Move `stringData` into `data` (base64), its values winning over `data`'s; drop it."""
    string_data = secret.pop("stringData", None)
    if not isinstance(string_data, dict) or not string_data:
        return
    data = secret.get("data")
    if not isinstance(data, dict):
        data = secret["data"] = {}
    for key, value in string_data.items():
        if isinstance(value, str):
            data[key] = base64.b64encode(value.encode()).decode()


def default_secret(secret: dict[str, Any]) -> None:
    canonical_bytes(secret, "data")
    merge_string_data(secret)
    if not secret.get("type"):
        secret["type"] = SECRET_TYPE_OPAQUE


def default_configmap(configmap: dict[str, Any]) -> None:
    canonical_bytes(configmap, "binaryData")
