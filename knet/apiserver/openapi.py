"""A minimal OpenAPI v3 surface: enough for kubectl to use server-side field validation.

kubectl looks for a PATCH operation per group/version/kind that declares the `fieldValidation`
query parameter; finding it, it sends `fieldValidation=Strict` and skips client-side schema checks.
We deliberately do not advertise strategic-merge-patch request bodies: kubectl would then compute
patches from our (incomplete) schemas instead of its compiled-in types.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from knet.api.registry import ResourceInfo, group_versions, resources_in


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}


def _patch_op(info: ResourceInfo) -> dict[str, Any]:
    return {
        "patch": {
            "operationId": f"patch{info.kind}",
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {
                "group": info.group,
                "version": info.version,
                "kind": info.kind,
            },
            "parameters": [_param("fieldValidation"), _param("fieldManager"), _param("dryRun")],
            "responses": {"200": {"description": "OK"}},
        }
    }


def group_version_document(group: str, version: str) -> dict[str, Any] | None:
    infos = resources_in(group, version)
    if not infos:
        return None
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    paths: dict[str, Any] = {}
    for info in infos:
        if info.namespaced:
            path = f"{prefix}/namespaces/{{namespace}}/{info.plural}/{{name}}"
        else:
            path = f"{prefix}/{info.plural}/{{name}}"
        paths[path] = _patch_op(info)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def _hash(doc: dict[str, Any]) -> str:
    # kubectl caches each document by its URL, so the hash must change when the document does.
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()


def root_document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for group, version in group_versions():
        doc = group_version_document(group, version)
        assert doc is not None
        path = _gv_path(group, version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={_hash(doc)}"}
    return {"paths": paths}
