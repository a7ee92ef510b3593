"""The OpenAPI documents: `/openapi/v3` (a root listing one document per group version) and
`/openapi/v2` (one Swagger document), with full schemas of every served kind
(openapi_schema.py), so `kubectl explain` works.

kubectl looks for a PATCH operation per group/version/kind that declares the `fieldValidation`
query parameter; finding it, it sends `fieldValidation=Strict` and skips client-side schema checks.
The v3 documents deliberately do not advertise strategic-merge-patch request bodies: kubectl
then computes patches from the v2 schemas (if it can read them) or its compiled-in types; the
v2 schemas carry the same merge keys the server applies patches with.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from knet.api.registry import ResourceInfo, group_versions, resources_in
from knet.apiserver.openapi_schema import as_swagger, closure, definitions

INFO = {"title": "Kubernetes", "version": "v1.32.0"}
_WRITE_PARAMS = ("fieldValidation", "fieldManager", "dryRun")


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _item_path(info: ResourceInfo) -> str:
    prefix = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    if info.namespaced:
        return f"{prefix}/namespaces/{{namespace}}/{info.plural}/{{name}}"
    return f"{prefix}/{info.plural}/{{name}}"


def _gvk(info: ResourceInfo) -> dict[str, str]:
    return {"group": info.group, "version": info.version, "kind": info.kind}


def _kind_ref(info: ResourceInfo, prefix: str) -> dict[str, Any]:
    _, by_gvk = definitions()
    name = by_gvk.get((info.group, info.version, info.kind))
    return {"$ref": prefix + name} if name else {}


def _item_ops_v3(info: ResourceInfo) -> dict[str, Any]:
    schema = _kind_ref(info, "#/components/schemas/")
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}}
    ops: dict[str, Any] = {
        "get": {
            "operationId": f"read{info.kind}",
            "x-kubernetes-action": "get",
            "x-kubernetes-group-version-kind": _gvk(info),
            "responses": ok,
        }
    }
    if "patch" in info.verbs:
        params = [
            {"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for n in _WRITE_PARAMS
        ]
        ops["patch"] = {
            "operationId": f"patch{info.kind}",
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": _gvk(info),
            "parameters": params,
            "responses": ok,
        }
    return ops


@functools.cache
def group_version_document(group: str, version: str) -> dict[str, Any] | None:
    infos = resources_in(group, version)
    if not infos:
        return None
    _, by_gvk = definitions()
    names = [by_gvk[k] for i in infos if (k := (i.group, i.version, i.kind)) in by_gvk]
    return {
        "openapi": "3.0.0",
        "info": INFO,
        "paths": {_item_path(info): _item_ops_v3(info) for info in infos},
        "components": {"schemas": closure(names)},
    }


def _hash(doc: dict[str, Any]) -> str:
    # kubectl caches each document by its URL, so the hash must change when the document does.
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()


@functools.cache
def root_document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for group, version in group_versions():
        doc = group_version_document(group, version)
        assert doc is not None
        path = _gv_path(group, version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={_hash(doc)}"}
    return {"paths": paths}


# ------------------------------------------------------------------------------- v2


def _item_ops_v2(info: ResourceInfo) -> dict[str, Any]:
    ok = {"200": {"description": "OK", "schema": _kind_ref(info, "#/definitions/")}}
    ops: dict[str, Any] = {
        "get": {
            "operationId": f"read{info.kind}",
            "produces": ["application/json"],
            "x-kubernetes-action": "get",
            "x-kubernetes-group-version-kind": _gvk(info),
            "responses": ok,
        }
    }
    if "patch" in info.verbs:
        ops["patch"] = {
            "operationId": f"patch{info.kind}",
            "consumes": [
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
            ],
            "produces": ["application/json"],
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": _gvk(info),
            "parameters": [
                {"name": n, "in": "query", "type": "string", "uniqueItems": True}
                for n in _WRITE_PARAMS
            ],
            "responses": ok,
        }
    return ops


@functools.cache
def swagger_document() -> dict[str, Any]:
    """The whole API as one OpenAPI v2 document (what `/openapi/v2` serves)."""
    defs, _ = definitions()
    paths: dict[str, Any] = {}
    for group, version in group_versions():
        for info in resources_in(group, version):
            paths[_item_path(info)] = _item_ops_v2(info)
    return {
        "swagger": "2.0",
        "info": INFO,
        "paths": paths,
        "definitions": {name: as_swagger(schema) for name, schema in sorted(defs.items())},
    }


def swagger_etag() -> str:
    return f'"{_hash(swagger_document())}"'
