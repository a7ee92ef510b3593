"""The three PATCH content types: RFC 7386 merge patch, RFC 6902 JSON patch, strategic merge."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knet.apiserver.patch import (
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def deployment(*containers: dict[str, Any], replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": list(containers)},
            },
        },
    }


def pod_spec(patch: dict[str, Any]) -> dict[str, Any]:
    """A Deployment patch that touches only the pod template's spec."""
    return {"spec": {"template": {"spec": patch}}}


def containers_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return result


NGINX = {"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}
SIDECAR = {"name": "sidecar", "image": "busybox:1.36"}


# ------------------------------------------------------------------------------------------
# Strategic merge patch


def test_smp_kubectl_apply_patch_keeps_ports() -> None:
    """The PATCH kubectl apply sends after changing image 1.27 -> 1.28 and replicas 2 -> 4."""
    live = deployment(NGINX)
    patch = {
        "metadata": {"annotations": {LAST_APPLIED: '{"kind":"Deployment"}\n'}},
        "spec": {
            "replicas": 4,
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}],
                    "containers": [{"image": "nginx:1.28", "name": "nginx"}],
                }
            },
        },
    }
    result = apply_strategic_merge_patch(live, patch, "Deployment")

    expected = deployment(
        {"name": "nginx", "image": "nginx:1.28", "ports": [{"containerPort": 80}]}, replicas=4
    )
    expected["metadata"]["annotations"] = {LAST_APPLIED: '{"kind":"Deployment"}\n'}
    assert result == expected


SMP_CASES = [
    pytest.param(
        deployment(NGINX),
        pod_spec(
            {
                "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
                "containers": [SIDECAR],
            }
        ),
        "Deployment",
        deployment(NGINX, SIDECAR),
        id="add-second-container-in-apply-order",
    ),
    pytest.param(
        # Without $setElementOrder upstream puts the patch's new items before the live ones.
        deployment(NGINX),
        pod_spec({"containers": [SIDECAR]}),
        "Deployment",
        deployment(SIDECAR, NGINX),
        id="add-container-without-order-goes-first",
    ),
    pytest.param(
        deployment(NGINX, SIDECAR),
        pod_spec(
            {
                "$setElementOrder/containers": [{"name": "nginx"}],
                "containers": [{"$patch": "delete", "name": "sidecar"}],
            }
        ),
        "Deployment",
        deployment(NGINX),
        id="delete-container-by-name",
    ),
    pytest.param(
        deployment(NGINX, SIDECAR),
        pod_spec({"containers": [{"$patch": "delete", "name": "not-there"}]}),
        "Deployment",
        deployment(NGINX, SIDECAR),
        id="delete-missing-container-is-noop",
    ),
    pytest.param(
        deployment(NGINX, SIDECAR),
        pod_spec({"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "nginx"}]}),
        "Deployment",
        deployment(SIDECAR, NGINX),
        id="reorder-by-set-element-order",
    ),
    pytest.param(
        deployment(
            {"name": "a", "image": "a"}, {"name": "b", "image": "b"}, {"name": "c", "image": "c"}
        ),
        pod_spec(
            {
                "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
                "containers": [{"name": "c", "image": "c2"}],
            }
        ),
        "Deployment",
        # b is server-only: it keeps its place ahead of c, which followed it in the live list.
        deployment(
            {"name": "b", "image": "b"}, {"name": "c", "image": "c2"}, {"name": "a", "image": "a"}
        ),
        id="set-element-order-with-server-only-item",
    ),
    pytest.param(
        deployment(
            {
                "name": "app",
                "image": "app",
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            }
        ),
        pod_spec(
            {
                "containers": [
                    {
                        "name": "app",
                        "$setElementOrder/env": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
                        "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                    }
                ]
            }
        ),
        "Deployment",
        deployment(
            {
                "name": "app",
                "image": "app",
                "env": [
                    {"name": "A", "value": "1"},
                    {"name": "B", "value": "3"},
                    {"name": "C", "value": "4"},
                ],
            }
        ),
        id="env-merges-by-name",
    ),
    pytest.param(
        deployment(NGINX),
        pod_spec(
            {"containers": [{"name": "nginx", "ports": [{"containerPort": 80, "name": "http"}]}]}
        ),
        "Deployment",
        deployment(
            {
                "name": "nginx",
                "image": "nginx:1.27",
                "ports": [{"containerPort": 80, "name": "http"}],
            }
        ),
        id="container-ports-merge-by-container-port",
    ),
    pytest.param(
        deployment(
            {"name": "app", "image": "app", "volumeMounts": [{"mountPath": "/a", "name": "x"}]}
        ),
        pod_spec(
            {
                "containers": [
                    {"name": "app", "volumeMounts": [{"mountPath": "/a", "readOnly": True}]}
                ]
            }
        ),
        "Deployment",
        deployment(
            {
                "name": "app",
                "image": "app",
                "volumeMounts": [{"mountPath": "/a", "name": "x", "readOnly": True}],
            }
        ),
        id="volume-mounts-merge-by-mount-path",
    ),
    pytest.param(
        deployment({"name": "app", "image": "app", "envFrom": [{"configMapRef": {"name": "a"}}]}),
        pod_spec({"containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "b"}}]}]}),
        "Deployment",
        deployment({"name": "app", "image": "app", "envFrom": [{"secretRef": {"name": "b"}}]}),
        id="env-from-is-replaced",
    ),
    pytest.param(
        {
            "kind": "Service",
            "spec": {
                "ports": [
                    {"name": "http", "port": 80, "targetPort": 8080},
                    {"name": "https", "port": 443, "targetPort": 8443},
                ]
            },
        },
        {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}},
        "Service",
        {
            "kind": "Service",
            "spec": {
                "ports": [
                    {"name": "http", "port": 80, "targetPort": 9090},
                    {"name": "https", "port": 443, "targetPort": 8443},
                ]
            },
        },
        id="service-ports-merge-by-port",
    ),
    pytest.param(
        {"metadata": {"name": "p", "labels": {"app": "web", "tier": "front"}}},
        {"metadata": {"labels": {"tier": None}}},
        "Pod",
        {"metadata": {"name": "p", "labels": {"app": "web"}}},
        id="null-deletes-label",
    ),
    pytest.param(
        {"metadata": {"name": "p"}},
        {"metadata": {"labels": {"a": "1", "b": None}}},
        "Pod",
        {"metadata": {"name": "p", "labels": {"a": "1"}}},
        id="null-for-absent-key-is-ignored",
    ),
    pytest.param(
        {
            "spec": {
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
                }
            }
        },
        {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
        "Deployment",
        {"spec": {"strategy": {"type": "Recreate"}}},
        id="retain-keys-clears-other-fields",
    ),
    pytest.param(
        {"metadata": {"finalizers": ["a", "b", "c"]}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}},
        "Namespace",
        {"metadata": {"finalizers": ["a", "c"]}},
        id="delete-from-primitive-list-finalizers",
    ),
    pytest.param(
        {"metadata": {"finalizers": ["a", "b"]}},
        {"metadata": {"finalizers": ["b", "c"]}},
        "ConfigMap",
        {"metadata": {"finalizers": ["a", "b", "c"]}},
        id="finalizers-merge-as-a-set",
    ),
    pytest.param(
        {"metadata": {"finalizers": ["a", "b", "c"]}},
        {"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"]}},
        "ConfigMap",
        {"metadata": {"finalizers": ["c", "b", "a"]}},
        id="set-element-order-on-primitive-list",
    ),
    pytest.param(
        {"metadata": {"finalizers": [1, 2, 3]}},
        {"metadata": {"finalizers": [3, 1]}},
        "ConfigMap",
        # upstream's "preserve the order from the patch in a merging int list"
        {"metadata": {"finalizers": [2, 3, 1]}},
        id="primitive-merge-order-follows-patch-and-live",
    ),
    pytest.param(
        {"metadata": {"labels": {"a": "1", "b": "2"}}},
        {"metadata": {"labels": {"$patch": "replace", "c": "3"}}},
        "Pod",
        {"metadata": {"labels": {"c": "3"}}},
        id="replace-directive-on-map",
    ),
    pytest.param(
        deployment(NGINX, SIDECAR),
        pod_spec({"containers": [{"name": "only", "image": "x"}, {"$patch": "replace"}]}),
        "Deployment",
        deployment({"name": "only", "image": "x"}),
        id="replace-directive-in-list",
    ),
    pytest.param(
        {"spec": {"securityContext": {"runAsUser": 1}}},
        {"spec": {"securityContext": {"$patch": "delete"}}},
        "Pod",
        {"spec": {"securityContext": {}}},
        id="delete-directive-on-existing-map-empties-it",
    ),
    pytest.param(
        {"spec": {}},
        {"spec": {"securityContext": {"$patch": "delete"}}},
        "Pod",
        {"spec": {}},
        id="delete-directive-on-absent-map-adds-nothing",
    ),
    pytest.param(
        {"metadata": {"labels": {"a": "1"}}},
        {"metadata": {"labels": {"$patch": "merge", "b": "2"}}},
        "Pod",
        {"metadata": {"labels": {"a": "1", "b": "2"}}},
        id="merge-directive-is-the-default",
    ),
    pytest.param(
        {"spec": {"tolerations": [{"key": "a", "operator": "Exists"}]}},
        {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}},
        "Pod",
        {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}},
        id="tolerations-are-atomic",
    ),
    pytest.param(
        {"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}], "podCIDRs": ["10.0.0.0/24"]}},
        {"spec": {"taints": [{"key": "b", "effect": "NoExecute"}], "podCIDRs": ["fd00::/64"]}},
        "Node",
        {
            "spec": {
                "taints": [{"key": "b", "effect": "NoExecute"}],
                "podCIDRs": ["fd00::/64", "10.0.0.0/24"],
            }
        },
        id="node-taints-atomic-pod-cidrs-set",
    ),
    pytest.param(
        {
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "False"},
                    {"type": "MemoryPressure", "status": "False"},
                ],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
            }
        },
        {
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "addresses": [{"type": "Hostname", "address": "n1"}],
            }
        },
        "Node",
        {
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "MemoryPressure", "status": "False"},
                ],
                "addresses": [
                    {"type": "Hostname", "address": "n1"},
                    {"type": "InternalIP", "address": "10.0.0.1"},
                ],
            }
        },
        id="node-status-conditions-and-addresses-merge-by-type",
    ),
    pytest.param(
        {"status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]}},
        {
            "status": {
                "phase": "Running",
                "podIP": "10.244.1.5",
                "conditions": [{"type": "Ready", "status": "True"}],
            }
        },
        "Pod",
        {
            "status": {
                "phase": "Running",
                "podIP": "10.244.1.5",
                "conditions": [{"type": "Ready", "status": "True"}],
            }
        },
        id="pod-status-conditions-merge-by-type",
    ),
    pytest.param(
        {"metadata": {"ownerReferences": [{"uid": "u1", "name": "rs-1", "controller": True}]}},
        {"metadata": {"ownerReferences": [{"uid": "u1", "blockOwnerDeletion": True}]}},
        "Pod",
        {
            "metadata": {
                "ownerReferences": [
                    {"uid": "u1", "name": "rs-1", "controller": True, "blockOwnerDeletion": True}
                ]
            }
        },
        id="owner-references-merge-by-uid",
    ),
    pytest.param(
        {"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}], "metadata": {"name": "svc"}},
        {"subsets": [{"addresses": [{"ip": "10.0.0.2"}]}]},
        "Endpoints",
        {"subsets": [{"addresses": [{"ip": "10.0.0.2"}]}], "metadata": {"name": "svc"}},
        id="endpoints-subsets-are-atomic",
    ),
    pytest.param(
        {"spec": {"containers": [{"name": "a"}]}},
        {
            "spec": {
                "containers": [
                    {"name": "b", "resources": {"limits": None, "requests": {"cpu": "1"}}}
                ]
            }
        },
        "Widget",
        {"spec": {"containers": [{"name": "b", "resources": {"requests": {"cpu": "1"}}}]}},
        id="unknown-kind-lists-are-replaced",
    ),
    pytest.param(
        {"spec": {"items": [{"id": 1, "v": "a", "keep": True}, {"id": 2, "v": "b"}]}},
        {
            "spec": {
                "$setElementOrder/items": [{"id": 2}, {"id": 1}],
                "items": [{"id": 1, "v": "new"}],
            }
        },
        "Widget",
        # The list is not in the table, but the order entries name its merge key.
        {"spec": {"items": [{"id": 2, "v": "b"}, {"id": 1, "v": "new", "keep": True}]}},
        id="set-element-order-reveals-merge-key-of-unknown-list",
    ),
    pytest.param(
        {"spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}}}},
        {"spec": {"selector": "oops-a-string"}},
        "Deployment",
        {"spec": {"replicas": 1, "selector": "oops-a-string"}},
        id="type-change-replaces",
    ),
]


@pytest.mark.parametrize(("original", "patch", "kind", "expected"), SMP_CASES)
def test_smp(original: dict[str, Any], patch: Any, kind: str, expected: dict[str, Any]) -> None:
    before_original, before_patch = copy.deepcopy(original), copy.deepcopy(patch)

    assert apply_strategic_merge_patch(original, patch, kind) == expected

    assert original == before_original
    assert patch == before_patch


SMP_ERRORS = [
    pytest.param(["not", "a", "map"], "must be a JSON object", id="patch-is-a-list"),
    pytest.param("text", "must be a JSON object", id="patch-is-a-string"),
    pytest.param(None, "must be a JSON object", id="patch-is-null"),
    pytest.param(
        {"metadata": {"$frobnicate": 1}},
        "unknown strategic merge patch directive",
        id="unknown-directive-key",
    ),
    pytest.param(
        {"metadata": {"labels": {"$patch": "explode"}}},
        "unknown \\$patch directive",
        id="unknown-patch-value",
    ),
    pytest.param(
        pod_spec({"containers": [{"image": "x"}]}),
        "spec.template.spec.containers\\[0\\]: item has no merge key 'name'",
        id="merge-item-without-key",
    ),
    pytest.param(
        pod_spec({"containers": [{"$patch": "delete"}]}),
        "needs the merge key 'name'",
        id="delete-without-key",
    ),
    pytest.param(
        pod_spec({"containers": [{"name": "nginx", "$patch": "explode"}]}),
        "unknown \\$patch directive 'explode'",
        id="unknown-directive-in-list",
    ),
    pytest.param(
        pod_spec({"containers": ["nginx"]}),
        "mixes objects and primitives",
        id="merge-list-mixes-kinds",
    ),
    pytest.param(
        {"spec": {"strategy": {"$retainKeys": "type"}}},
        "\\$retainKeys must be a list",
        id="retain-keys-not-a-list",
    ),
    pytest.param(
        {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 2}}}},
        "'rollingUpdate' is set by the patch but missing from \\$retainKeys",
        id="retain-keys-misses-patched-field",
    ),
    pytest.param(
        pod_spec({"$setElementOrder/containers": "nginx"}),
        "must be a list",
        id="set-element-order-not-a-list",
    ),
    pytest.param(
        pod_spec(
            {
                "$setElementOrder/containers": [{"name": "nginx"}],
                "containers": [{"name": "other", "image": "x"}],
            }
        ),
        "does not list",
        id="set-element-order-disagrees-with-patch",
    ),
    pytest.param(
        pod_spec({"$setElementOrder/containers": ["nginx"]}),
        "mixes objects and primitives",
        id="set-element-order-entries-not-maps",
    ),
    pytest.param(
        pod_spec({"$deleteFromPrimitiveList/containers": [{"name": "nginx"}]}),
        "lists of primitives",
        id="delete-from-primitive-list-on-maps",
    ),
    pytest.param(
        {"metadata": {"$setElementOrder/": []}}, "names no field", id="directive-without-field"
    ),
]


@pytest.mark.parametrize(("patch", "message"), SMP_ERRORS)
def test_smp_errors(patch: Any, message: str) -> None:
    live = deployment(NGINX)
    with pytest.raises(PatchError, match=message):
        apply_strategic_merge_patch(live, patch, "Deployment")


def test_smp_result_is_independent_of_inputs() -> None:
    live = deployment(NGINX)
    patch = pod_spec({"containers": [SIDECAR | {"env": [{"name": "X", "value": "1"}]}]})
    result = apply_strategic_merge_patch(live, patch, "Deployment")

    for container in containers_of(result):
        container["image"] = "changed"
        container.setdefault("env", []).append({"name": "Y"})

    assert containers_of(live) == [NGINX]
    assert patch == pod_spec({"containers": [SIDECAR | {"env": [{"name": "X", "value": "1"}]}]})


def test_smp_pod_template_spec_is_shared_by_pod_and_workloads() -> None:
    """The same PodSpec table applies at `spec` (Pod) and `spec.template.spec` (ReplicaSet)."""
    container_patch = {"containers": [{"name": "nginx", "image": "nginx:1.28"}]}
    pod = {"spec": {"containers": [NGINX]}}
    rs = {"spec": {"template": {"spec": {"containers": [NGINX]}}}}

    patched_pod = apply_strategic_merge_patch(pod, {"spec": container_patch}, "Pod")
    patched_rs = apply_strategic_merge_patch(rs, pod_spec(container_patch), "ReplicaSet")

    expected = [{"name": "nginx", "image": "nginx:1.28", "ports": [{"containerPort": 80}]}]
    assert patched_pod["spec"]["containers"] == expected
    assert patched_rs["spec"]["template"]["spec"]["containers"] == expected


# ------------------------------------------------------------------------------------------
# RFC 7386 JSON merge patch

# RFC 7386 Appendix A. Vectors whose target or patch is not an object are nested under "x",
# because the API only ever patches objects.
MERGE_CASES = [
    pytest.param({"a": "b"}, {"a": "c"}, {"a": "c"}, id="replace-value"),
    pytest.param({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}, id="add-key"),
    pytest.param({"a": "b"}, {"a": None}, {}, id="null-removes"),
    pytest.param({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}, id="null-removes-one"),
    pytest.param({"a": ["b"]}, {"a": "c"}, {"a": "c"}, id="array-replaced-by-string"),
    pytest.param({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}, id="string-replaced-by-array"),
    pytest.param(
        {"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}, id="nested-merge"
    ),
    pytest.param({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}, id="arrays-are-replaced"),
    pytest.param({"x": ["a", "b"]}, {"x": ["c", "d"]}, {"x": ["c", "d"]}, id="array-for-array"),
    pytest.param({"x": {"a": "b"}}, {"x": ["c"]}, {"x": ["c"]}, id="non-object-patch-replaces"),
    pytest.param({"x": {"a": "foo"}}, {"x": None}, {}, id="null-patch-removes-member"),
    pytest.param({"x": {"a": "foo"}}, {"x": "bar"}, {"x": "bar"}, id="string-patch-replaces"),
    pytest.param({"e": None}, {"a": 1}, {"e": None, "a": 1}, id="existing-null-kept"),
    pytest.param(
        {"x": [1, 2]}, {"x": {"a": "b", "c": None}}, {"x": {"a": "b"}}, id="object-for-array"
    ),
    pytest.param(
        {}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}, id="nulls-in-new-objects-dropped"
    ),
    pytest.param(
        {"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1}},
        {"spec": {"replicas": 5}},
        {"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 5}},
        id="kubectl-scale",
    ),
]


@pytest.mark.parametrize(("original", "patch", "expected"), MERGE_CASES)
def test_merge_patch(original: dict[str, Any], patch: Any, expected: dict[str, Any]) -> None:
    before_original, before_patch = copy.deepcopy(original), copy.deepcopy(patch)

    assert apply_merge_patch(original, patch) == expected

    assert original == before_original
    assert patch == before_patch


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param(["c"], id="array"),
        pytest.param("bar", id="string"),
        pytest.param(None, id="null"),
        pytest.param(3, id="number"),
    ],
)
def test_merge_patch_must_be_an_object(patch: Any) -> None:
    with pytest.raises(PatchError, match="must be a JSON object"):
        apply_merge_patch({"a": "b"}, patch)


def test_merge_patch_result_does_not_share_patch_values() -> None:
    patch = {"a": {"list": [1, 2]}, "b": [{"c": 1}]}
    result = apply_merge_patch({}, patch)
    result["a"]["list"].append(3)
    result["b"][0]["c"] = 99
    assert patch == {"a": {"list": [1, 2]}, "b": [{"c": 1}]}


# ------------------------------------------------------------------------------------------
# RFC 6902 JSON patch

DOC = {"metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {"ports": [{"port": 80}]}}

JSON_PATCH_CASES = [
    pytest.param(
        [{"op": "add", "path": "/metadata/labels/b", "value": "2"}],
        {
            "metadata": {"name": "x", "labels": {"a": "1", "b": "2"}},
            "spec": {"ports": [{"port": 80}]},
        },
        id="add",
    ),
    pytest.param(
        [{"op": "add", "path": "/spec/ports/-", "value": {"port": 443}}],
        {
            "metadata": {"name": "x", "labels": {"a": "1"}},
            "spec": {"ports": [{"port": 80}, {"port": 443}]},
        },
        id="add-to-end-of-array",
    ),
    pytest.param(
        [{"op": "remove", "path": "/metadata/labels/a"}],
        {"metadata": {"name": "x", "labels": {}}, "spec": {"ports": [{"port": 80}]}},
        id="remove",
    ),
    pytest.param(
        [{"op": "replace", "path": "/spec/ports/0/port", "value": 8080}],
        {"metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {"ports": [{"port": 8080}]}},
        id="replace",
    ),
    pytest.param(
        [{"op": "move", "from": "/metadata/labels", "path": "/metadata/annotations"}],
        {"metadata": {"name": "x", "annotations": {"a": "1"}}, "spec": {"ports": [{"port": 80}]}},
        id="move",
    ),
    pytest.param(
        [{"op": "copy", "from": "/metadata/labels", "path": "/spec/selector"}],
        {
            "metadata": {"name": "x", "labels": {"a": "1"}},
            "spec": {"ports": [{"port": 80}], "selector": {"a": "1"}},
        },
        id="copy",
    ),
    pytest.param(
        [
            {"op": "test", "path": "/metadata/name", "value": "x"},
            {"op": "replace", "path": "/metadata/name", "value": "y"},
        ],
        {"metadata": {"name": "y", "labels": {"a": "1"}}, "spec": {"ports": [{"port": 80}]}},
        id="test-then-replace",
    ),
    pytest.param([], DOC, id="empty-patch"),
]


@pytest.mark.parametrize(("patch", "expected"), JSON_PATCH_CASES)
def test_json_patch(patch: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    original = copy.deepcopy(DOC)
    before_patch = copy.deepcopy(patch)

    assert apply_json_patch(original, patch) == expected

    assert original == DOC
    assert patch == before_patch


JSON_PATCH_ERRORS = [
    pytest.param({"op": "add"}, "must be an array", id="not-a-list"),
    pytest.param(["add"], "operation 0 must be an object", id="operation-not-an-object"),
    pytest.param(
        [{"op": "remove", "path": "/metadata/nope"}],
        "operation 0 \\('remove' at '/metadata/nope'\\)",
        id="remove-missing-path",
    ),
    pytest.param(
        [{"op": "add", "path": "/missing/child", "value": 1}],
        "member 'missing' not found$",
        id="add-under-missing-parent",
    ),
    pytest.param(
        [{"op": "replace", "path": "no-slash", "value": 1}],
        "operation 0",
        id="path-without-slash",
    ),
    pytest.param(
        [
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "test", "path": "/metadata/name", "value": "other"},
        ],
        "operation 1 \\('test' at '/metadata/name'\\): test failed",
        id="failed-test",
    ),
    pytest.param([{"op": "frobnicate", "path": "/a"}], "Unknown operation", id="unknown-op"),
    pytest.param([{"path": "/a", "value": 1}], "'op'", id="missing-op"),
    pytest.param([{"op": "add", "path": "/a"}], "'value'", id="missing-value"),
    pytest.param([{"op": "add", "path": 7, "value": 1}], "operation 0", id="path-not-a-string"),
    pytest.param(
        [{"op": "replace", "path": "", "value": [1, 2]}],
        "must be a JSON object, got array",
        id="root-replaced-by-array",
    ),
]


@pytest.mark.parametrize(("patch", "message"), JSON_PATCH_ERRORS)
def test_json_patch_errors(patch: Any, message: str) -> None:
    original = copy.deepcopy(DOC)
    with pytest.raises(PatchError, match=message):
        apply_json_patch(original, patch)
    assert original == DOC


def test_json_patch_result_does_not_share_patch_values() -> None:
    value = {"nested": ["a"]}
    patch = [{"op": "add", "path": "/spec/extra", "value": value}]
    result = apply_json_patch(copy.deepcopy(DOC), patch)
    result["spec"]["extra"]["nested"].append("b")
    assert value == {"nested": ["a"]}


# ------------------------------------------------------------------------------------------
# Properties

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=25,
)
json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=5)


@settings(max_examples=300)
@given(original=json_objects, patch=json_objects)
def test_merge_patch_property(original: dict[str, Any], patch: dict[str, Any]) -> None:
    before_original, before_patch = copy.deepcopy(original), copy.deepcopy(patch)
    try:
        result = apply_merge_patch(original, patch)
    except PatchError:
        result = None
    assert original == before_original
    assert patch == before_patch
    if result is not None:
        # RFC 7386 merge patches are idempotent, and every non-null patch member lands as is
        # (objects merged, so only compare the scalars and arrays).
        assert apply_merge_patch(result, patch) == result
        for key, value in patch.items():
            if value is None:
                assert key not in result
            elif not isinstance(value, dict):
                assert result[key] == value


# Strategic patches built from real field names and directives, to shake the directive logic.
smp_keys = st.sampled_from(
    [
        "metadata",
        "labels",
        "finalizers",
        "spec",
        "template",
        "containers",
        "name",
        "ports",
        "containerPort",
        "env",
        "image",
        "$patch",
        "$retainKeys",
        "$setElementOrder/containers",
        "$deleteFromPrimitiveList/finalizers",
        "$bogus",
    ]
)
smp_scalars = (
    st.none() | st.integers(0, 3) | st.sampled_from(["a", "b", "merge", "delete", "replace"])
)
smp_values = st.recursive(
    smp_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(smp_keys, children, max_size=4)
    ),
    max_leaves=20,
)
smp_objects = st.dictionaries(smp_keys, smp_values, max_size=4)


@settings(max_examples=300)
@given(
    original=smp_objects,
    patch=smp_objects,
    kind=st.sampled_from(["Pod", "Deployment", "Service", "Node", "Lease"]),
)
def test_strategic_merge_patch_property(
    original: dict[str, Any], patch: dict[str, Any], kind: str
) -> None:
    before_original, before_patch = copy.deepcopy(original), copy.deepcopy(patch)
    try:
        result = apply_strategic_merge_patch(original, patch, kind)
    except PatchError:
        result = None
    assert original == before_original
    assert patch == before_patch
    if result is not None and not _directive_keys(original):
        assert not _directive_keys(result)


def _directive_keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [k for k in value if k.startswith("$")]
        return own + [k for v in value.values() for k in _directive_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in _directive_keys(v)]
    return []
