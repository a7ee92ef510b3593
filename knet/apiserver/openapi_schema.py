"""OpenAPI schemas of every served kind, generated from knet's pydantic models (knet.api) and
the registry, so that a kind added to both appears here without edits.

Definitions are named as upstream names them (`io.k8s.api.core.v1.Pod`,
`io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`): the package comes from the registry group of
the kinds a model's module defines. Each kind carries `x-kubernetes-group-version-kind`; lists
the server merges by key (patch_schema.py) carry the patch-strategy and list-type extensions,
so a client computing a strategic merge patch from these schemas agrees with the server.
Unmodelled parts of a kind (kept as given) show as free-form objects. Pure and cached.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from typing import Any

import pydantic
from pydantic.json_schema import models_json_schema

from knet.api import registry
from knet.api.registry import ResourceInfo
from knet.apiserver.models import model_for
from knet.apiserver.patch_schema import Field, Schema, schema_for_kind

REF_PREFIX = "#/components/schemas/"
META_PACKAGE = "io.k8s.apimachinery.pkg.apis.meta.v1"
# Upstream's package for groups whose types live outside k8s.io/api.
_GROUP_PACKAGES = {"apiregistration.k8s.io": "io.k8s.kube-aggregator.pkg.apis.apiregistration"}

Schema_ = dict[str, Any]


def group_package(group: str, version: str) -> str:
    if group in _GROUP_PACKAGES:
        return f"{_GROUP_PACKAGES[group]}.{version}"
    return f"io.k8s.api.{group.split('.')[0] if group else 'core'}.{version}"


def _served() -> list[tuple[ResourceInfo, type[pydantic.BaseModel]]]:
    """Each kind's preferred (first) version with its model: the models are one per kind, so
    another version of a kind (autoscaling/v1 HPA) has no schema of its own."""
    out = []
    seen: set[str] = set()
    for info in registry.RESOURCES:
        model = model_for(info.kind)
        if model is not None and info.kind not in seen:
            seen.add(info.kind)
            out.append((info, model))
    return out


def _subclasses(cls: type) -> Iterator[type]:
    subs: list[type] = cls.__subclasses__()
    for sub in subs:
        yield sub
        yield from _subclasses(sub)


def _def_names(kinds: list[tuple[ResourceInfo, type[pydantic.BaseModel]]]) -> dict[str, str]:
    """Pydantic's definition name -> upstream-style qualified name."""
    packages = {"knet.api.meta": META_PACKAGE, "knet.api.base": META_PACKAGE}
    for info, model in kinds:
        packages.setdefault(model.__module__, group_package(info.group, info.version))
    by_name: dict[str, list[type]] = {}
    for cls in _subclasses(pydantic.BaseModel):
        if cls.__module__.startswith("knet.api"):
            by_name.setdefault(cls.__name__, []).append(cls)
    names = {}
    for name, classes in by_name.items():
        if len(classes) == 1:
            module = classes[0].__module__
            package = packages.get(module, f"io.k8s.knet.{module.rsplit('.', 1)[-1]}")
            names[name] = f"{package}.{name}"
    return names


# ------------------------------------------------------------------------------- cleaning


def _non_null(branches: list[Schema_]) -> list[Schema_]:
    return [b for b in branches if b.get("type") != "null"]


def _union(branches: list[Schema_]) -> Schema_:
    """An anyOf of several types: int-or-string, a quantity, or free-form."""
    types = {b.get("type") for b in branches}
    if types == {"integer", "string"}:
        return {"type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": True}
    if types == {"integer", "number", "string"}:
        return {"type": "string", "format": "quantity", "x-kubernetes-int-or-string": True}
    return {"x-kubernetes-preserve-unknown-fields": True}


def _clean(node: Any, rename: Mapping[str, str]) -> Any:
    """Pydantic's JSON schema in upstream's OpenAPI v3 shapes."""
    if isinstance(node, list):
        return [_clean(n, rename) for n in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    for key in ("title", "default"):
        node.pop(key, None)
    if "anyOf" in node:
        branches = _non_null(node.pop("anyOf"))
        inner = branches[0] if len(branches) == 1 else _union(branches)
        node = {**_clean(inner, rename), **{k: v for k, v in node.items()}}
    if "$ref" in node:
        name = node.pop("$ref").removeprefix(REF_PREFIX)
        ref = {"$ref": REF_PREFIX + rename.get(name, name)}
        # As upstream: a reference with siblings is wrapped in allOf.
        return {"allOf": [ref], **_clean(node, rename)} if node else ref
    if node.get("additionalProperties") is True and "properties" in node:
        del node["additionalProperties"]  # knet keeps unknown fields; the API does not have them
    if (
        node.get("type") == "object"
        and "properties" not in node
        and node.get("additionalProperties") in (None, True, {})
    ):
        node.pop("additionalProperties", None)
        node["x-kubernetes-preserve-unknown-fields"] = True
    if node.get("type") == "array" and "items" in node and node["items"] == {}:
        node["items"] = {"x-kubernetes-preserve-unknown-fields": True}
    return {k: (_clean(v, rename) if k not in ("required", "enum") else v) for k, v in node.items()}


def _properties(node: Schema_) -> dict[str, Any]:
    return node.get("properties") or {}


def _target(prop: Schema_, defs: dict[str, Schema_]) -> Schema_ | None:
    """The definition a property (or a list's items) refers to."""
    for candidate in (prop, prop.get("items") or {}):
        refs = [candidate] if "$ref" in candidate else list(candidate.get("allOf") or [])
        for ref in refs:
            name = str(ref.get("$ref", "")).removeprefix(REF_PREFIX)
            if name in defs:
                return defs[name]
    return None


def _annotate(node: Schema_, schema: Schema, defs: dict[str, Schema_]) -> None:
    for field_name, field in schema.items():
        prop = _properties(node).get(field_name)
        if not isinstance(prop, dict):
            continue
        _mark(prop, field)
        target = _target(prop, defs)
        if target is not None and field.of:
            _annotate(target, field.of, defs)


def _mark(prop: Schema_, field: Field) -> None:
    if not field.merge:
        return
    prop["x-kubernetes-patch-strategy"] = "merge"
    if field.merge_key:
        prop["x-kubernetes-patch-merge-key"] = field.merge_key
        prop["x-kubernetes-list-type"] = "map"
        prop["x-kubernetes-list-map-keys"] = [field.merge_key]
    else:
        prop["x-kubernetes-list-type"] = "set"


# ------------------------------------------------------------------------------- the result


@functools.cache
def definitions() -> tuple[dict[str, Schema_], dict[tuple[str, str, str], str]]:
    """Every definition by qualified name, and (group, version, kind) -> its definition."""
    kinds = _served()
    _, raw = models_json_schema(
        [(model, "validation") for _, model in kinds],
        by_alias=True,
        ref_template=REF_PREFIX + "{model}",
    )
    rename = _def_names(kinds)
    defs = {rename.get(k, k): _clean(v, rename) for k, v in raw.get("$defs", {}).items()}
    by_gvk = {}
    for info, model in kinds:
        name = rename.get(model.__name__, model.__name__)
        if name not in defs:
            continue
        defs[name]["x-kubernetes-group-version-kind"] = [
            {"group": info.group, "kind": info.kind, "version": info.version}
        ]
        by_gvk[(info.group, info.version, info.kind)] = name
    for (_, _, kind), name in by_gvk.items():
        _annotate(defs[name], schema_for_kind(kind), defs)
    return defs, by_gvk


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref.removeprefix(REF_PREFIX)
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def closure(names: list[str]) -> dict[str, Schema_]:
    """The named definitions and everything they refer to."""
    defs, _ = definitions()
    out: dict[str, Schema_] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out or name not in defs:
            continue
        out[name] = defs[name]
        todo.extend(_refs(defs[name]))
    return dict(sorted(out.items()))


def as_swagger(schema: Any) -> Any:
    """A v3 schema in OpenAPI v2 (Swagger) form: refs into #/definitions, no allOf wrappers."""
    node = copy.deepcopy(schema)

    def walk(n: Any) -> Any:
        if isinstance(n, list):
            return [walk(x) for x in n]
        if not isinstance(n, dict):
            return n
        all_of = n.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
            n = {**{k: v for k, v in n.items() if k != "allOf"}, "$ref": all_of[0]["$ref"]}
        if isinstance(n.get("$ref"), str):
            n["$ref"] = "#/definitions/" + n["$ref"].removeprefix(REF_PREFIX)
        return {k: walk(v) for k, v in n.items()}

    return walk(node)
