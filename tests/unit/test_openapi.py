"""The OpenAPI documents are generated from the models and the registry: every served kind has
a schema with its group-version-kind, lists the server merges by key say so, and the v3 and v2
forms refer to what they contain."""

from __future__ import annotations

from typing import Any

from knet.api import registry
from knet.apiserver import openapi
from knet.apiserver.openapi_schema import REF_PREFIX, as_swagger, closure, definitions


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_every_served_kind_has_a_schema_with_its_gvk() -> None:
    defs, by_gvk = definitions()
    preferred = {}
    for info in registry.RESOURCES:
        preferred.setdefault(info.kind, info)  # one model per kind: its first version
    assert ("autoscaling", "v1", "HorizontalPodAutoscaler") not in by_gvk
    for info in preferred.values():
        name = by_gvk[(info.group, info.version, info.kind)]
        assert defs[name]["x-kubernetes-group-version-kind"] == [
            {"group": info.group, "kind": info.kind, "version": info.version}
        ]
    assert by_gvk[("", "v1", "Pod")] == "io.k8s.api.core.v1.Pod"
    assert (
        by_gvk[("policy", "v1", "PodDisruptionBudget")]
        == "io.k8s.api.policy.v1.PodDisruptionBudget"
    )
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in defs


def test_schemas_use_upstream_shapes() -> None:
    defs, _ = definitions()
    port = defs["io.k8s.api.core.v1.ServicePort"]
    assert port["required"] == ["port"]
    assert port["properties"]["targetPort"] == {
        "type": "string",
        "format": "int-or-string",
        "x-kubernetes-int-or-string": True,
    }
    labels = defs["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["labels"]
    assert labels == {"type": "object", "additionalProperties": {"type": "string"}}
    assert "additionalProperties" not in defs["io.k8s.api.core.v1.Pod"]


def test_merge_keys_match_the_servers_patch_schema() -> None:
    defs, _ = definitions()
    containers = defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    ports = defs["io.k8s.api.core.v1.Container"]["properties"]["ports"]
    assert ports["x-kubernetes-patch-merge-key"] == "containerPort"
    finalizers = defs["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["finalizers"]
    assert finalizers["x-kubernetes-list-type"] == "set"


def test_group_version_documents_are_self_contained() -> None:
    for group, version in registry.group_versions():
        doc = openapi.group_version_document(group, version)
        assert doc is not None
        schemas = doc["components"]["schemas"]
        for ref in _refs(schemas):
            assert ref.removeprefix(REF_PREFIX) in schemas, (group, version, ref)
        for info in registry.resources_in(group, version):
            if "patch" not in info.verbs:
                continue
            path = next(p for p in doc["paths"] if p.split("/")[-2] == info.plural)
            params = {p["name"] for p in doc["paths"][path]["patch"]["parameters"]}
            assert "fieldValidation" in params  # kubectl then validates on the server


def test_root_lists_every_group_version_with_a_content_hash() -> None:
    root = openapi.root_document()
    assert set(root["paths"]) >= {"api/v1", "apis/policy/v1", "apis/networking.k8s.io/v1"}
    assert root["paths"]["api/v1"]["serverRelativeURL"].startswith("/openapi/v3/api/v1?hash=")


def test_swagger_form() -> None:
    assert as_swagger({"allOf": [{"$ref": REF_PREFIX + "X"}], "description": "d"}) == {
        "description": "d",
        "$ref": "#/definitions/X",
    }
    doc = openapi.swagger_document()
    assert doc["swagger"] == "2.0"
    for ref in _refs(doc["definitions"]):
        assert ref.removeprefix("#/definitions/") in doc["definitions"], ref
    assert "io.k8s.api.core.v1.Container" in closure(["io.k8s.api.core.v1.Pod"])
