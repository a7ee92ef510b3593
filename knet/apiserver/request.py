"""Turning an HTTP request into what the API layer needs: the target, the body, the options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import yaml
from aiohttp import web

from knet.api import registry
from knet.api.registry import ResourceInfo
from knet.api.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from knet.apiserver import errors
from knet.apiserver.negotiation import media_type
from knet.apiserver.protobuf import MEDIA_TYPE as PROTOBUF
from knet.apiserver.protobuf import ProtobufError, decode_k8s_protobuf

MAX_BODY = 3 * 1024 * 1024  # upstream's limit for a request body
# Far deeper than any Kubernetes object, and far below the 254 levels orjson can write once an
# object sits inside a List or a watch event: deeper input would be stored but never listed.
MAX_DEPTH = 100
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_bool(value: str | None, name: str) -> bool:
    """Go's strconv.ParseBool, which is what clients assume (Python client 32 sends `True`)."""
    if value is None or value == "":
        return False
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise errors.bad_request(f'invalid value for {name}: "{value}": expected a boolean')


def parse_int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise errors.bad_request(
            f'invalid value for {name}: "{value}": expected an integer'
        ) from None
    if not INT64_MIN <= number <= INT64_MAX:  # query parameters are int64 upstream
        raise errors.bad_request(
            f'invalid value for {name}: "{value}": value out of range for an int64'
        )
    return number


@dataclass(frozen=True)
class Target:
    """What a URL under /api or /apis names."""

    group: str
    version: str
    info: ResourceInfo | None  # None: the group/version itself (discovery)
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_target(path: str) -> Target:
    """Map a path to its resource; raises 404 for anything the registry doesn't serve."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise errors.path_not_found()
    if not registry.resources_in(group, version):
        raise errors.path_not_found()
    if not rest:
        return Target(group, version, None, None, None, None)
    namespace: str | None = None
    # /namespaces/{ns}/{plural}/... is a namespaced path unless it is the Namespace itself.
    if (
        rest[0] == "namespaces"
        and group == ""
        and (len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ("status", "finalize")))
    ) or (rest[0] == "namespaces" and group != "" and len(rest) >= 3):
        namespace, rest = rest[1], rest[2:]
    info = registry.lookup(group, version, rest[0])
    if info is None or len(rest) > 3:
        raise errors.path_not_found()
    if namespace is not None and not info.namespaced:
        raise errors.path_not_found()
    name = rest[1] if len(rest) >= 2 else None
    sub = rest[2] if len(rest) == 3 else None
    # No stored object can have such a name (validation refuses it), and the store refuses such
    # keys outright: answer as for any name that does not exist.
    if namespace is not None and not _storable(namespace):
        raise errors.namespace_not_found(namespace)
    if name is not None and not _storable(name):
        raise errors.not_found(info, name)
    if (
        sub is not None
        and info.subresource(sub) is None
        and not (info.kind == "Namespace" and sub == "finalize")
    ):
        raise errors.path_not_found()
    if name is not None and info.namespaced and namespace is None:
        raise errors.path_not_found()
    return Target(group, version, info, namespace, name, sub)


def _storable(segment: str) -> bool:
    """Whether a URL segment can be part of a store key: no NUL, valid UTF-8 text."""
    if "\x00" in segment:
        return False
    try:
        segment.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# A body a middleware had to read first (the RBAC escalation check) is kept here for the handler.
BODY = web.RequestKey("body", bytes)


async def read_body(request: web.Request) -> bytes:
    kept: bytes | None = request.get(BODY)
    if kept is not None:
        return kept
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise errors.too_large(MAX_BODY)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_BODY:
            raise errors.too_large(MAX_BODY)
        chunks.append(chunk)
    request[BODY] = body = b"".join(chunks)
    return body


def decode_document(raw: bytes, content_type: str) -> Any:
    """JSON, YAML or Kubernetes protobuf, by Content-Type (JSON when none is given, as kubectl
    always names it). Protobuf becomes the JSON document the client would have sent."""
    kind = media_type(content_type)
    if not raw.strip():
        raise errors.bad_request("the request body is empty")
    if kind == PROTOBUF:
        try:
            return decode_k8s_protobuf(raw)
        except ProtobufError as e:
            raise errors.bad_request(f"error decoding protobuf: {e}") from None
    if kind in ("application/yaml", "application/apply-patch+yaml", "text/yaml"):
        return _from_yaml(raw)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {e}") from None
    check_document(doc)
    return doc


def check_document(doc: Any) -> None:
    """400 for what no Kubernetes object can hold: nesting past MAX_DEPTH, or a number outside
    int64 (upstream's decoder refuses those; stored, they would overflow dates and durations)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            if not _fits_int64(node):
                raise errors.bad_request(
                    f"json: cannot unmarshal number {node} into Go value of type int64"
                )
            continue
        if depth >= MAX_DEPTH and node:
            raise errors.bad_request(f"the document is nested more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in children)


def _fits_int64(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return INT64_MIN <= value <= INT64_MAX
    if isinstance(value, float):  # orjson reads integers past uint64 as floats
        return value != value or abs(value) < 2.0**63
    return True


def exceeds_depth(doc: Any, limit: int) -> bool:
    """Whether `doc` nests deeper than `limit` (iteratively: deep input must not recurse)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth >= limit and node:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _from_yaml(raw: bytes) -> Any:
    """YAML, normalised to what JSON can say (as upstream converts YAML to JSON first)."""
    try:
        doc = yaml.load(raw, Loader=yaml.CSafeLoader)  # libyaml: the pure-Python one is slow
    except yaml.YAMLError as e:
        raise errors.bad_request(f"error decoding YAML: {_yaml_reason(e)}") from None
    except RecursionError:
        raise errors.bad_request("error decoding YAML: the document is nested too deeply") from None
    # Aliases share nodes: a few bytes can expand to billions of values ("billion laughs").
    if b"*" in raw and _expanded_size(doc, MAX_BODY) > MAX_BODY:
        raise errors.bad_request("error decoding YAML: the document contains excessive aliasing")
    check_document(doc)
    try:
        return orjson.loads(orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS))
    except TypeError as e:  # binary and set tags, lone surrogates
        raise errors.bad_request(f"error decoding YAML: not representable as JSON: {e}") from None


def _yaml_reason(e: yaml.YAMLError) -> str:
    """The parser's own words: the problem, with where it was found (libyaml's first line is
    only the context)."""
    if isinstance(e, yaml.MarkedYAMLError) and e.problem and "nesting depth" in e.problem:
        return "the document is nested too deeply"  # libyaml's own limit, as for RecursionError
    if isinstance(e, yaml.MarkedYAMLError) and e.problem:
        where = f" at line {e.problem_mark.line + 1}" if e.problem_mark is not None else ""
        return f"{e.context + ': ' if e.context else ''}{e.problem}{where}"
    return str(e).splitlines()[0]


def _expanded_size(doc: Any, limit: int) -> int:
    """Roughly how many bytes `doc` holds with aliases expanded (one per value, plus the length
    of each string), counting no further than `limit` (a self-referencing document counts up to
    the limit too)."""
    count = 0
    stack = [doc]
    while stack and count <= limit:
        node = stack.pop()
        count += 1
        if isinstance(node, str | bytes):
            count += len(node)
        elif isinstance(node, dict):
            count += len(node)  # the keys
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def decode_object(
    raw: bytes, content_type: str, info: ResourceInfo, expect_kind: str
) -> dict[str, Any]:
    """A write body: an object of the kind the path names, in the path's group/version."""
    kind = media_type(content_type)
    if kind not in ("", "application/json", "application/yaml", "text/yaml", "*/*", PROTOBUF):
        raise errors.unsupported_media_type(content_type)
    doc = decode_document(raw, content_type)
    if not isinstance(doc, dict):
        raise errors.bad_request("the request body must be a JSON object")
    body_kind = doc.get("kind")
    body_version = doc.get("apiVersion")
    expect_version = (
        info.api_version if expect_kind == info.kind else _version_of_kind(expect_kind, info)
    )
    if body_kind not in (None, "") and body_kind != expect_kind:
        raise errors.bad_request(
            f'the kind "{body_kind}" of the object does not match the kind "{expect_kind}" '
            "that this path serves"
        )
    if body_version not in (None, "") and body_version != expect_version:
        raise errors.bad_request(
            f"the API version in the data ({body_version}) does not match the expected API "
            f"version ({expect_version})"
        )
    return doc


def _version_of_kind(kind: str, info: ResourceInfo) -> str:
    for sub in info.subresources:
        if sub.kind == kind:
            return f"{sub.group}/{sub.version}" if sub.group else sub.version
    return info.api_version


def selectors(
    request: web.Request, info: ResourceInfo
) -> tuple[LabelSelector | None, FieldSelector | None]:
    q = request.query
    try:
        labels = parse_label_selector(q["labelSelector"]) if q.get("labelSelector") else None
        fields = (
            parse_field_selector(q["fieldSelector"], info.selectable_fields)
            if q.get("fieldSelector")
            else None
        )
    except SelectorError as e:
        raise errors.bad_request(str(e)) from None
    return labels, fields


def dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for v in values:
        if v != "All":
            raise errors.bad_request(f'Invalid value: "{v}": supported values: "All"')
    return bool(values)


_KNOWN_TOP = {"apiVersion", "kind", "metadata", "spec", "status"}


def strict_unknown_fields(doc: dict[str, Any], model_fields: set[str]) -> list[str]:
    """Fields fieldValidation=Strict refuses. We check the levels our models know in full: the
    top level and metadata; deeper levels are kept as sent (a partial model must never reject a
    valid manifest)."""
    from knet.apiserver.models import known_metadata_fields

    unknown = [k for k in doc if k not in _KNOWN_TOP and k not in model_fields]
    meta = doc.get("metadata")
    if isinstance(meta, dict):
        known_meta = known_metadata_fields()
        unknown += [f"metadata.{k}" for k in meta if k not in known_meta]
    return sorted(unknown)
