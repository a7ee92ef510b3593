"""Validation of ConfigMaps and Secrets, as upstream's ValidateConfigMap / ValidateSecret (and
their Update variants) report it: same rules, field paths and messages.

Objects are wire dicts after defaulting (a Secret's `stringData` is already in `data`, its type
set). Byte values are base64 text here; sizes count the decoded bytes, as upstream's `len([]byte)`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from knet.api.config import decode_base64
from knet.api.names import max_len_error, regex_error
from knet.apiserver.fielderrors import (
    Cause,
    forbidden,
    invalid,
    required,
    too_long,
)

# core.MaxSecretSize: the most a ConfigMap or a Secret may hold, summed over its values.
MAX_SIZE: Final = 1024 * 1024

_KEY_MAX: Final = 253  # DNS1123SubdomainMaxLength
_KEY_FMT: Final = "[-._a-zA-Z0-9]+"
_KEY_RE: Final = re.compile(rf"\A{_KEY_FMT}\Z")  # \Z: Go's `$` is the end of the text
_KEY_MSG: Final = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"

IMMUTABLE_SET: Final = "field is immutable when `immutable` is set"
REDACTED: Final = "<secret contents redacted>"

TYPE_SERVICE_ACCOUNT_TOKEN: Final = "kubernetes.io/service-account-token"
TYPE_DOCKERCFG: Final = "kubernetes.io/dockercfg"
TYPE_DOCKER_CONFIG_JSON: Final = "kubernetes.io/dockerconfigjson"
TYPE_BASIC_AUTH: Final = "kubernetes.io/basic-auth"
TYPE_SSH_AUTH: Final = "kubernetes.io/ssh-auth"
TYPE_TLS: Final = "kubernetes.io/tls"

SERVICE_ACCOUNT_NAME_KEY: Final = "kubernetes.io/service-account.name"


def config_key_errors(key: str) -> list[str]:
    """Upstream IsConfigMapKey: what is wrong with `key` as a data key (empty when valid)."""
    errs: list[str] = []
    if len(key.encode()) > _KEY_MAX:
        errs.append(max_len_error(_KEY_MAX))
    if not _KEY_RE.match(key):
        errs.append(regex_error(_KEY_MSG, _KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    if key == ".":
        errs.append("must not be '.'")
    elif key == "..":
        errs.append("must not be '..'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def _bag(obj: dict[str, Any], field: str, out: list[Cause]) -> dict[str, Any]:
    value = obj.get(field)
    if value is None or isinstance(value, dict):
        return value or {}
    out.append(invalid(field, value, "must be an object"))
    return {}


def _keys(field: str, bag: dict[str, Any], out: list[Cause]) -> None:
    for key in sorted(bag):
        out.extend(invalid(f"{field}[{key}]", key, m) for m in config_key_errors(key))


def _text_size(value: Any) -> int:
    return len(value.encode()) if isinstance(value, str) else 0


def _decoded(value: Any) -> bytes:
    """A byte value's bytes (none when it is not base64: the body check refuses that)."""
    return (decode_base64(value) or b"") if isinstance(value, str) else b""


def _bytes_size(value: Any) -> int:
    return len(_decoded(value))


def _immutable_update(
    obj: dict[str, Any], old: dict[str, Any] | None, fields: tuple[str, ...]
) -> list[Cause]:
    """An object stored with `immutable: true` keeps that flag and these fields as they are."""
    if old is None or old.get("immutable") is not True:
        return []
    out: list[Cause] = []
    if obj.get("immutable") is not True:
        out.append(forbidden("immutable", IMMUTABLE_SET))
    # Upstream compares Go maps, where an absent and an empty map differ; none of our writers
    # tell them apart, so both count as "no data".
    out.extend(
        forbidden(f, IMMUTABLE_SET) for f in fields if (obj.get(f) or {}) != (old.get(f) or {})
    )
    return out


# --------------------------------------------------------------------------------- ConfigMap


def validate_configmap(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out = _immutable_update(obj, old, ("data", "binaryData"))
    data = _bag(obj, "data", out)
    binary = _bag(obj, "binaryData", out)
    _keys("data", data, out)
    out.extend(
        invalid(f"data[{k}]", k, "duplicate of key present in binaryData")
        for k in sorted(data)
        if k in binary
    )
    _keys("binaryData", binary, out)
    out.extend(
        invalid(f"binaryData[{k}]", k, "duplicate of key present in data")
        for k in sorted(binary)
        if k in data
    )
    total = sum(_text_size(v) for v in data.values()) + sum(_bytes_size(v) for v in binary.values())
    if total > MAX_SIZE:
        # Upstream reports it on the root path, which Go prints as "[]".
        out.append(too_long("[]", MAX_SIZE))
    return out


# ------------------------------------------------------------------------------------ Secret


class _NotJSON(ValueError):
    """NaN or Infinity: Python's json reads them, Go's (and the JSON spec) do not."""


def _not_json(constant: str) -> Any:
    raise _NotJSON(constant)


def go_json_error(raw: bytes) -> str | None:
    """Why Go's json.Unmarshal into a map[string]interface{} refuses `raw`, or None.

    Go's wording for the common cases; a syntax error is described by the character where
    decoding stopped, without Go's finer context ("after object key" and the like).
    """
    try:
        doc = json.loads(raw.decode("utf-8", errors="replace"), parse_constant=_not_json)
    except json.JSONDecodeError as e:
        rest = e.doc[e.pos :].strip()
        if not rest:
            return "unexpected end of JSON input"
        return f"invalid character {rest[0]!r} looking for beginning of value"
    except _NotJSON as e:
        return f"invalid character {str(e).lstrip('-')[0]!r} looking for beginning of value"
    if doc is None or isinstance(doc, dict):
        return None
    go_kind = {list: "array", str: "string", bool: "bool"}.get(type(doc), "number")
    return f"json: cannot unmarshal {go_kind} into Go value of type map[string]interface {{}}"


def _json_key(data: dict[str, Any], key: str) -> list[Cause]:
    if key not in data:
        return [required(f"data[{key}]")]
    problem = go_json_error(_decoded(data[key]))
    return [] if problem is None else [invalid(f"data[{key}]", REDACTED, problem)]


def _secret_type_rules(obj: dict[str, Any], data: dict[str, Any]) -> list[Cause]:
    kind = obj.get("type")
    if kind == TYPE_SERVICE_ACCOUNT_TOKEN:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if not isinstance(annotations, dict) or not annotations.get(SERVICE_ACCOUNT_NAME_KEY):
            return [required(f"metadata.annotations[{SERVICE_ACCOUNT_NAME_KEY}]")]
    elif kind == TYPE_DOCKERCFG:
        return _json_key(data, ".dockercfg")
    elif kind == TYPE_DOCKER_CONFIG_JSON:
        return _json_key(data, ".dockerconfigjson")
    elif kind == TYPE_BASIC_AUTH:
        # Either may be empty, but one of the two must be there.
        if "username" not in data and "password" not in data:
            return [required("data[username]"), required("data[password]")]
    elif kind == TYPE_SSH_AUTH:
        if not _decoded(data.get("ssh-privatekey")):
            return [required("data[ssh-privatekey]")]
    elif kind == TYPE_TLS:
        return [required(f"data[{k}]") for k in ("tls.crt", "tls.key") if k not in data]
    return []


def validate_secret(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    if old is not None and obj.get("type") != old.get("type"):
        out.append(invalid("type", obj.get("type"), "field is immutable"))
    out.extend(_immutable_update(obj, old, ("data",)))
    data = _bag(obj, "data", out)
    _keys("data", data, out)
    if sum(_bytes_size(v) for v in data.values()) > MAX_SIZE:
        out.append(too_long("data", MAX_SIZE))
    out.extend(_secret_type_rules(obj, data))
    return out
