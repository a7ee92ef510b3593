"""The stored kinds added beside the first ten: Table cells, validation, defaulting, the
PodDisruptionBudget arithmetic, ComponentStatus from Leases, and the eviction decisions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knet.api import registry
from knet.api.disruption import compute_budget, pdb_status, selects
from knet.api.times import micro_time, rfc3339
from knet.apiserver import errors
from knet.apiserver.componentstatus import lease_condition
from knet.apiserver.eviction import _spend, check_body
from knet.apiserver.printers import build_table, column_definitions, row_cells
from knet.apiserver.strategy import prepare_for_create
from knet.apiserver.validation import validate_object

NOW = datetime(2026, 11, 22, 16, 11, 7, tzinfo=UTC)
CREATED = rfc3339(NOW - timedelta(minutes=5))


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "creationTimestamp": CREATED, **extra}


# ------------------------------------------------------------------------------------- printers

ROWS: dict[str, tuple[dict[str, Any], list[Any]]] = {
    "persistentvolumeclaims": (
        {
            "metadata": meta("data"),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "volumeName": "pv1",
                "storageClassName": "fast",
            },
            "status": {
                "phase": "Bound",
                "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                "capacity": {"storage": "1Gi"},
            },
        },
        ["data", "Bound", "pv1", "1Gi", "RWO,RWX", "fast", "<unset>", "5m", "Filesystem"],
    ),
    "persistentvolumes": (
        {
            "metadata": meta("pv1"),
            "spec": {
                "capacity": {"storage": "5Gi"},
                "accessModes": ["ReadOnlyMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "claimRef": {"namespace": "default", "name": "data"},
                "volumeMode": "Block",
            },
            "status": {"phase": "Bound"},
        },
        ["pv1", "5Gi", "ROX", "Retain", "Bound", "default/data", "", "<unset>", "", "5m", "Block"],
    ),
    "resourcequotas": (
        {
            "metadata": meta("q"),
            "status": {
                "hard": {"pods": "10", "limits.cpu": "2", "requests.cpu": "1"},
                "used": {"pods": "3"},
            },
        },
        ["q", "5m", "pods: 3/10, requests.cpu: 0/1", "limits.cpu: 0/2"],
    ),
    "limitranges": ({"metadata": meta("lr")}, ["lr", CREATED]),
    "podtemplates": (
        {
            "metadata": meta("pt"),
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
        ["pt", "c", "nginx", "app=web"],
    ),
    "serviceaccounts": (
        {"metadata": meta("sa"), "secrets": [{"name": "a"}, {"name": "b"}]},
        ["sa", 2, "5m"],
    ),
    "componentstatuses": (
        {
            "metadata": {"name": "scheduler"},
            "conditions": [{"type": "Healthy", "status": "False", "error": "down"}],
        },
        ["scheduler", "Unhealthy", "", "down"],
    ),
    "poddisruptionbudgets": (
        {
            "metadata": meta("p"),
            "spec": {"minAvailable": "50%"},
            "status": {"disruptionsAllowed": 1},
        },
        ["p", "50%", "N/A", 1, "5m"],
    ),
    "ingresses": (
        {
            "metadata": meta("web"),
            "spec": {
                "ingressClassName": "nginx",
                "rules": [{"host": "a.example"}, {"host": "b.example"}],
                "tls": [{"hosts": ["a.example"]}],
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}},
        },
        ["web", "nginx", "a.example,b.example", "10.0.0.1", "80, 443", "5m"],
    ),
    "ingressclasses": (
        {
            "metadata": meta("nginx"),
            "spec": {
                "controller": "k8s.io/ingress-nginx",
                "parameters": {"apiGroup": "k8s.example.com", "kind": "Params", "name": "p"},
            },
        },
        ["nginx", "k8s.io/ingress-nginx", "Params.k8s.example.com/p", "5m"],
    ),
    "networkpolicies": (
        {"metadata": meta("np"), "spec": {"podSelector": {"matchLabels": {"app": "db"}}}},
        ["np", "app=db", "5m"],
    ),
    "horizontalpodautoscalers": (
        {
            "metadata": meta("web"),
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 5,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 80},
                        },
                    }
                ],
            },
            "status": {
                "currentReplicas": 3,
                "currentMetrics": [
                    {"type": "Resource", "resource": {"current": {"averageUtilization": 41}}}
                ],
            },
        },
        ["web", "Deployment/web", "cpu: 41%/80%", "2", 5, 3, "5m"],
    ),
    "apiservices": (
        {
            "metadata": meta("v1.example.com"),
            "spec": {"service": {"namespace": "ns", "name": "svc"}},
            "status": {
                "conditions": [{"type": "Available", "status": "False", "reason": "Missing"}]
            },
        },
        ["v1.example.com", "ns/svc", "False (Missing)", "5m"],
    ),
}


@pytest.mark.parametrize("resource", list(ROWS))
def test_cells_as_upstream_prints_them(resource: str) -> None:
    obj, cells = ROWS[resource]
    assert row_cells(resource, obj, NOW) == cells
    assert len(column_definitions(resource)) == len(cells)
    table = build_table(resource, [obj], now=NOW, resource_version="1")
    assert table["rows"][0]["cells"] == cells


def test_every_new_kind_has_a_printer() -> None:
    for resource in ROWS:
        assert registry.RESOURCES and any(r.plural == resource for r in registry.RESOURCES)
        assert [c["name"] for c in column_definitions(resource)] != ["Name", "Created At"] or (
            resource == "limitranges"  # upstream prints LimitRange with the default columns
        )


_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["spec", "status", "metadata", "conditions", "rules", "type"]),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(resource=st.sampled_from(list(ROWS)), obj=st.dictionaries(st.text(max_size=8), _JSON))
def test_malformed_objects_never_raise(resource: str, obj: dict[str, Any]) -> None:
    assert len(row_cells(resource, obj, NOW)) == len(column_definitions(resource))


# ----------------------------------------------------------------------------------- validation


def causes(kind: str, obj: dict[str, Any]) -> list[str]:
    obj.setdefault("metadata", {"name": "x", "namespace": "default"})
    return [str(c) for c in validate_object(kind, obj)]


def test_pvc_needs_access_modes_and_storage() -> None:
    assert causes("PersistentVolumeClaim", {"spec": {}}) == [
        "spec.accessModes: Required value: at least 1 access mode is required",
        "spec.resources[storage]: Required value",
    ]
    good = {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": 1}}}}
    assert causes("PersistentVolumeClaim", good) == []


def test_pv_needs_one_volume_source() -> None:
    spec = {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}
    assert causes("PersistentVolume", {"spec": dict(spec)}) == [
        "spec: Required value: must specify a volume type"
    ]
    assert causes("PersistentVolume", {"spec": {**spec, "hostPath": {"path": "/x"}}}) == []


def test_pdb_min_and_max_are_exclusive_and_percent_checked() -> None:
    both = causes("PodDisruptionBudget", {"spec": {"minAvailable": 1, "maxUnavailable": 1}})
    assert any("minAvailable and maxUnavailable cannot be both set" in c for c in both)
    assert any(
        "must not be greater than 100%" in c
        for c in causes("PodDisruptionBudget", {"spec": {"minAvailable": "120%"}})
    )
    assert causes("PodDisruptionBudget", {"spec": {"maxUnavailable": "10%"}}) == []


def test_ingress_paths_need_a_type_and_an_absolute_path() -> None:
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    rule = {"http": {"paths": [{"path": "x", "pathType": "Prefix", "backend": backend}]}}
    assert causes("Ingress", {"spec": {"rules": [rule]}}) == [
        'spec.rules[0].http.paths[0].path: Invalid value: "x": must be an absolute path'
    ]
    rule["http"]["paths"][0].pop("pathType")  # type: ignore[index]
    out = causes("Ingress", {"spec": {"rules": [rule]}})
    assert out[0].startswith("spec.rules[0].http.paths[0].pathType: Required value")


def test_hpa_max_not_below_min() -> None:
    spec = {"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "minReplicas": 3}
    assert causes("HorizontalPodAutoscaler", {"spec": {**spec, "maxReplicas": 2}}) == [
        "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"
    ]


def test_apiservice_name_is_version_dot_group() -> None:
    obj = {
        "metadata": {"name": "v1.wrong"},
        "spec": {"group": "g.io", "version": "v1", "groupPriorityMinimum": 1, "versionPriority": 1},
    }
    assert causes("APIService", obj) == [
        'metadata.name: Invalid value: "v1.wrong": must be `spec.version+"."+spec.group`'
    ]


# ----------------------------------------------------------------------------------- defaulting


def created(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    info = registry.by_kind(kind)
    obj.setdefault("metadata", {"name": "x"})
    prepare_for_create(info, obj, "default" if info.namespaced else None)
    return obj


def test_defaults_and_initial_status() -> None:
    pvc = created("PersistentVolumeClaim", {"spec": {}, "status": {"phase": "Bound"}})
    assert pvc["spec"]["volumeMode"] == "Filesystem" and pvc["status"] == {"phase": "Pending"}
    pv = created("PersistentVolume", {"spec": {}})
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    np = created("NetworkPolicy", {"spec": {"egress": [{"ports": [{"port": 53}]}]}})
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert np["spec"]["egress"][0]["ports"][0]["protocol"] == "TCP"
    assert "does not enforce" in np["metadata"]["annotations"]["knet.dev/enforcement"]
    hpa = created("HorizontalPodAutoscaler", {"spec": {"maxReplicas": 3}})
    assert hpa["spec"]["minReplicas"] == 1
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 80
    pdb = created("PodDisruptionBudget", {"spec": {}, "status": {"disruptionsAllowed": 9}})
    assert pdb["status"]["disruptionsAllowed"] == 0
    lr = created("LimitRange", {"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}}]}})
    assert lr["spec"]["limits"][0]["default"] == {"cpu": "2"}
    assert lr["spec"]["limits"][0]["defaultRequest"] == {"cpu": "2"}
    pt = created("PodTemplate", {"template": {"spec": {"containers": [{"name": "c"}]}}})
    assert pt["template"]["spec"]["restartPolicy"] == "Always"


# --------------------------------------------------------------------------- disruption budgets


def pod(name: str, *, ready: bool = True, phase: str = "Running", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "labels": labels or {"app": "web"}},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def pdb(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "default", "generation": 1},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
        "status": status or {},
    }


PODS = [pod("a"), pod("b"), pod("c", ready=False), pod("d", phase="Succeeded"), pod("x", app="db")]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"minAvailable": 1}, (3, 2, 1, 1)),
        ({"minAvailable": 2}, (3, 2, 2, 0)),
        ({"minAvailable": "50%"}, (3, 2, 2, 0)),
        ({"maxUnavailable": 1}, (3, 2, 2, 0)),
        ({"maxUnavailable": "100%"}, (3, 2, 0, 2)),
        ({}, (3, 2, 3, 0)),
    ],
)
def test_budget_numbers(spec: dict[str, Any], expected: tuple[int, int, int, int]) -> None:
    b = compute_budget(pdb(spec), PODS, NOW)
    got = (b.expected_pods, b.current_healthy, b.desired_healthy, b.disruptions_allowed)
    assert got == expected


def test_recently_evicted_pods_do_not_count_as_healthy() -> None:
    evicted = {"disruptedPods": {"a": rfc3339(NOW - timedelta(seconds=10))}}
    assert compute_budget(pdb({"minAvailable": 1}, evicted), PODS, NOW).disruptions_allowed == 0
    stale = {"disruptedPods": {"a": rfc3339(NOW - timedelta(minutes=5))}}
    assert compute_budget(pdb({"minAvailable": 1}, stale), PODS, NOW).disruptions_allowed == 1


def test_selector_rules() -> None:
    assert not selects({"spec": {}}, pod("a"))  # no selector: no pods
    assert selects({"spec": {"selector": {}}}, pod("a"))  # empty selector: every pod


def test_status_carries_condition_and_drops_old_disruptions() -> None:
    budget = pdb(
        {"minAvailable": 1}, {"disruptedPods": {"gone": rfc3339(NOW - timedelta(hours=1))}}
    )
    status = pdb_status(budget, compute_budget(budget, PODS, NOW), NOW, rfc3339(NOW))
    assert status["disruptionsAllowed"] == 1 and status["observedGeneration"] == 1
    assert status["conditions"][0]["reason"] == "SufficientPods"
    assert "disruptedPods" not in status


# ------------------------------------------------------------------------------------- eviction


def test_spend_takes_one_disruption_and_records_the_pod() -> None:
    budget = pdb({"minAvailable": 1}, {"observedGeneration": 1, "disruptionsAllowed": 1})
    out = _spend("a", NOW)(budget)
    assert out["status"]["disruptionsAllowed"] == 0
    assert out["status"]["disruptedPods"] == {"a": rfc3339(NOW)}
    with pytest.raises(errors.ApiError) as caught:
        _spend("b", NOW)(out)
    assert caught.value.code == 429 and caught.value.reason == "TooManyRequests"
    assert caught.value.message == (
        "Cannot evict pod as it would violate the pod's disruption budget."
    )
    assert caught.value.details == {
        "causes": [
            {
                "reason": "DisruptionBudget",
                "message": "The disruption budget web needs 0 healthy pods and has 0 currently",
            }
        ]
    }


def test_spend_waits_for_the_controller_to_see_the_budget() -> None:
    budget = pdb({"minAvailable": 1}, {"disruptionsAllowed": 3})
    with pytest.raises(errors.ApiError, match="disruption budget") as caught:
        _spend("a", NOW)(budget)
    assert "still being processed" in str(caught.value.details)


def test_eviction_body_must_name_the_pod() -> None:
    with pytest.raises(errors.ApiError, match="does not match"):
        check_body({"metadata": {"name": "other"}}, "default", "a")
    options = check_body({"deleteOptions": {"gracePeriodSeconds": 5}}, "default", "a")
    assert options.grace_period_seconds == 5


# ----------------------------------------------------------------------------- componentstatus


def lease(renewed: datetime, duration: int = 15) -> dict[str, Any]:
    return {"spec": {"renewTime": micro_time(renewed), "leaseDurationSeconds": duration}}


def test_component_health_from_its_lease() -> None:
    fresh = lease_condition(lease(NOW - timedelta(seconds=3)), "kube-scheduler", NOW)
    assert fresh == {"type": "Healthy", "status": "True", "message": "ok"}
    stale = lease_condition(lease(NOW - timedelta(seconds=60)), "kube-scheduler", NOW)
    assert stale["status"] == "False" and "60s ago" in stale["error"]
    missing = lease_condition(None, "kube-scheduler", NOW)
    assert missing["status"] == "False" and "--leader-elect" in missing["error"]


def test_network_policy_peers_and_ports() -> None:
    rule = {
        "from": [
            {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "11.0.0.0/24"]}},
            {"ipBlock": {"cidr": "nope"}, "podSelector": {}},
            {},
        ],
        "ports": [{"protocol": "ICMP", "port": 70000}, {"port": 80, "endPort": 79}],
    }
    assert causes("NetworkPolicy", {"spec": {"ingress": [rule]}}) == [
        'spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: '
        '"SCTP", "TCP", "UDP"',
        "spec.ingress[0].ports[0].port: Invalid value: 70000: must be between 1 and 65535, "
        "inclusive",
        "spec.ingress[0].ports[1].endPort: Invalid value: 79: must be greater than or equal "
        "to `port`",
        'spec.ingress[0].from[0].ipBlock.except[1]: Invalid value: "11.0.0.0/24": must be a '
        "strict subset of `cidr`",
        "spec.ingress[0].from[1]: Forbidden: may not specify both ipBlock and another peer",
        'spec.ingress[0].from[1].ipBlock.cidr: Invalid value: "nope": must be a valid CIDR '
        "value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        "spec.ingress[0].from[2]: Required value: must specify a peer",
    ]
    good = {"from": [{"namespaceSelector": {}}], "ports": [{"port": 53, "endPort": 60}]}
    assert causes("NetworkPolicy", {"spec": {"egress": [good]}}) == []


def test_ingress_hosts_are_subdomains_or_wildcards() -> None:
    def rules(host: str) -> dict[str, Any]:
        return {"spec": {"rules": [{"host": host}]}}

    assert causes("Ingress", rules("*.kt.example")) == []
    [cause] = causes("Ingress", rules("Bad_Host"))
    assert cause.startswith('spec.rules[0].host: Invalid value: "Bad_Host": a lowercase RFC 1123')


# -------------------------------------------------------------------------- HPA v1 <-> v2


def test_hpa_v1_round_trips_through_the_stored_v2() -> None:
    from knet.api.hpaconvert import METRICS, to_v1, to_v2

    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "maxReplicas": 5,
            "targetCPUUtilizationPercentage": 60,
        },
        "status": {
            "currentReplicas": 2,
            "desiredReplicas": 3,
            "currentCPUUtilizationPercentage": 70,
        },
    }
    v2 = to_v2(v1)
    assert v2["apiVersion"] == "autoscaling/v2" and "annotations" not in v2["metadata"]
    assert v2["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 60},
            },
        }
    ]
    assert v2["status"]["currentMetrics"][0]["resource"]["current"] == {"averageUtilization": 70}
    assert to_v1(v2) == v1
    # What v1 cannot say travels in annotations, so nothing is lost on a v1 round trip.
    memory = {
        "type": "Resource",
        "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}},
    }
    v2["spec"]["metrics"].append(memory)
    v2["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 60}}
    back = to_v1(v2)
    assert json.loads(back["metadata"]["annotations"][METRICS]) == [memory]
    assert to_v2(back) == v2
