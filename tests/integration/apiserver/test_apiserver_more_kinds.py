"""The kinds added beside the first ten, through the machine's kubectl and the official Python
client against one real `knet apiserver`: create, get (Table), list, watch, patch, delete for
each; `kubectl explain`; `kubectl get componentstatuses`; evictions that a
PodDisruptionBudget refuses. (The budget's status is written here by hand, as the disruption
controller would: tests/integration/controllers/test_disruption.py runs the controller.)
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _apiserver_http import JSON, Kubectl, ok, request, table_header, table_rows, write_manifest
from kubernetes import client, config, dynamic
from kubernetes.client.exceptions import ApiException

from knet.testing.apiserver import ApiServerProcess, running_apiserver

pytestmark = pytest.mark.kubectl

NS = "default"
BACKEND = {"service": {"name": "web", "port": {"number": 80}}}

# kind -> (apiVersion, plural, short name or "", spec-ish body, kubectl's header)
KINDS: dict[str, tuple[str, str, str, dict[str, Any], list[str]]] = {
    "PersistentVolumeClaim": (
        "v1",
        "persistentvolumeclaims",
        "pvc",
        {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
        ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS",
         "VOLUMEATTRIBUTESCLASS", "AGE"],
    ),
    "PersistentVolume": (
        "v1",
        "persistentvolumes",
        "pv",
        {"spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                  "hostPath": {"path": "/tmp/kt"}}},
        ["NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM",
         "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"],
    ),
    "ResourceQuota": (
        "v1", "resourcequotas", "quota", {"spec": {"hard": {"pods": "10"}}},
        ["NAME", "AGE", "REQUEST", "LIMIT"],
    ),
    "LimitRange": (
        "v1", "limitranges", "limits",
        {"spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]}},
        ["NAME", "CREATED AT"],
    ),
    "PodTemplate": (
        "v1", "podtemplates", "",
        {"template": {"metadata": {"labels": {"app": "kt"}},
                      "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        ["TEMPLATE", "CONTAINERS", "IMAGES", "POD LABELS"],
    ),
    "ServiceAccount": ("v1", "serviceaccounts", "sa", {}, ["NAME", "SECRETS", "AGE"]),
    "PodDisruptionBudget": (
        "policy/v1", "poddisruptionbudgets", "pdb",
        {"spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "kt"}}}},
        ["NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"],
    ),
    "Ingress": (
        "networking.k8s.io/v1", "ingresses", "ing",
        {"spec": {"rules": [{"host": "kt.example", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": BACKEND}]}}]}},
        ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
    ),
    "IngressClass": (
        "networking.k8s.io/v1", "ingressclasses", "",
        {"spec": {"controller": "example.com/kt"}},
        ["NAME", "CONTROLLER", "PARAMETERS", "AGE"],
    ),
    "NetworkPolicy": (
        "networking.k8s.io/v1", "networkpolicies", "netpol",
        {"spec": {"podSelector": {"matchLabels": {"app": "kt"}}}},
        ["NAME", "POD-SELECTOR", "AGE"],
    ),
    "HorizontalPodAutoscaler": (
        "autoscaling/v2", "horizontalpodautoscalers", "hpa",
        {"spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": "web"}, "maxReplicas": 3}},
        ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"],
    ),
    "APIService": (
        "apiregistration.k8s.io/v1", "apiservices", "",
        {"spec": {"group": "kt.example.com", "version": "v1", "groupPriorityMinimum": 100,
                  "versionPriority": 10, "service": {"namespace": NS, "name": "kt"}}},
        ["NAME", "SERVICE", "AVAILABLE", "AGE"],
    ),
}  # fmt: skip
CLUSTER_SCOPED = {"PersistentVolume", "IngressClass", "APIService"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerProcess]:
    with running_apiserver(tmp_path_factory.mktemp("kinds")) as s:
        yield s


@pytest.fixture(scope="module")
def kc(server: ApiServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    home = tmp_path_factory.mktemp("home")
    return Kubectl(kubeconfig=server.kubeconfig, home=home)


@pytest.fixture(scope="module")
def api(server: ApiServerProcess) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(server.kubeconfig))
    try:
        yield api_client
    finally:
        api_client.close()


def manifest(kind: str, name: str) -> dict[str, Any]:
    api_version, _, _, body, _ = KINDS[kind]
    body = copy.deepcopy(body)  # tests change what they get
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **body}


def _watch_events(resource: Any, rv: str, out: list[tuple[str, str]], stop: int) -> None:
    for event in resource.watch(namespace=None, resource_version=rv, timeout=20):
        out.append((event["type"], event["object"].metadata.name))
        if len(out) >= stop:
            return


@pytest.mark.parametrize("kind", list(KINDS))
def test_kind_lifecycle(kind: str, kc: Kubectl, api: client.ApiClient, tmp_path: Path) -> None:
    api_version, plural, short, _, header = KINDS[kind]
    name = "v1.kt.example.com" if kind == "APIService" else f"kt-{plural[:6]}"
    resource = dynamic.DynamicClient(api).resources.get(api_version=api_version, kind=kind)
    namespace = None if kind in CLUSTER_SCOPED else NS
    start_rv = resource.get(namespace=namespace).metadata.resourceVersion
    events: list[tuple[str, str]] = []
    watcher = threading.Thread(target=_watch_events, args=(resource, start_rv, events, 3))
    watcher.start()
    try:
        path = write_manifest(tmp_path / "m.yaml", manifest(kind, name))
        assert "created" in kc.ok("apply", "-f", str(path))
        out = kc.ok("get", short or plural)
        assert table_header(out) == header
        assert [row[0] for row in table_rows(out)] == [name]
        listed = resource.get(namespace=namespace)
        assert [i.metadata.name for i in listed.items] == [name]
        assert "labeled" in kc.ok("label", plural, name, "kt=yes")
        patched = resource.patch(
            name=name,
            namespace=namespace,
            body={"metadata": {"annotations": {"kt": "py"}}},
            content_type="application/merge-patch+json",
        )
        assert patched.metadata.labels["kt"] == "yes" and patched.metadata.annotations["kt"] == "py"
        assert "deleted" in kc.ok("delete", plural, name)
        with pytest.raises(ApiException) as gone:
            resource.get(name=name, namespace=namespace)
        assert gone.value.status == 404
    finally:
        watcher.join(timeout=30)
    assert [t for t, n in events if n == name][:3] == ["ADDED", "MODIFIED", "MODIFIED"]


def test_validation_and_defaults_reach_kubectl(kc: Kubectl, tmp_path: Path) -> None:
    bad = manifest("PodDisruptionBudget", "kt-bad")
    bad["spec"]["maxUnavailable"] = 1
    err = kc.fails("apply", "-f", str(write_manifest(tmp_path / "bad.yaml", bad)))
    assert "minAvailable and maxUnavailable cannot be both set" in err
    path = write_manifest(tmp_path / "np.yaml", manifest("NetworkPolicy", "kt-np"))
    kc.ok("apply", "-f", str(path))
    assert kc.json("get", "netpol", "kt-np")["spec"]["policyTypes"] == ["Ingress"]
    kc.ok("delete", "netpol", "kt-np")


def test_typed_create_commands_send_protobuf(kc: Kubectl) -> None:
    kc.ok("create", "serviceaccount", "kt-sa")
    kc.ok("create", "quota", "kt-q", "--hard=pods=3")
    kc.ok("create", "pdb", "kt-pdb", "--selector=app=x", "--max-unavailable=25%")
    kc.ok("create", "ingress", "kt-ing", "--rule=kt.example/x=svc:8080")
    assert kc.json("get", "pdb", "kt-pdb")["spec"]["maxUnavailable"] == "25%"
    paths = kc.json("get", "ing", "kt-ing")["spec"]["rules"][0]["http"]["paths"]
    assert paths[0]["backend"]["service"] == {"name": "svc", "port": {"number": 8080}}
    assert kc.json("get", "quota", "kt-q")["spec"]["hard"] == {"pods": "3"}
    kc.ok("delete", "sa/kt-sa", "quota/kt-q", "pdb/kt-pdb", "ing/kt-ing")


def test_explain_reads_the_openapi_schemas(kc: Kubectl) -> None:
    out = kc.ok("explain", "pod.spec.containers")
    assert "FIELD: containers <[]Container>" in out
    assert "name\t<string> -required-" in out and "image\t<string>" in out
    out = kc.ok("explain", "pdb.spec")
    assert "GROUP:      policy" in out and "minAvailable\t<string>" in out
    out = kc.ok("explain", "ingress.spec.rules.http.paths")
    assert "pathType\t<string> -required-" in out


def test_openapi_v2_and_v3_documents(server: ApiServerProcess) -> None:
    root = ok(server.url, "GET", "/openapi/v3")
    url = root["paths"]["apis/policy/v1"]["serverRelativeURL"]
    doc = ok(server.url, "GET", url)
    pdb = doc["components"]["schemas"]["io.k8s.api.policy.v1.PodDisruptionBudget"]
    assert pdb["x-kubernetes-group-version-kind"] == [
        {"group": "policy", "kind": "PodDisruptionBudget", "version": "v1"}
    ]
    swagger = ok(server.url, "GET", "/openapi/v2")
    containers = swagger["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["items"] == {"$ref": "#/definitions/io.k8s.api.core.v1.Container"}
    proto = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
    assert request(server.url, "GET", "/openapi/v2", accept=proto).status == 404


def test_get_componentstatuses(kc: Kubectl, server: ApiServerProcess) -> None:
    out = kc.ok("get", "cs")
    assert table_header(out) == ["NAME", "STATUS", "MESSAGE", "ERROR"]
    rows = {r[0]: r[1:] for r in table_rows(out)}
    assert rows["etcd-0"] == ["Healthy", "ok"]
    assert rows["scheduler"][0] == "Unhealthy" and "--leader-elect" in rows["scheduler"][1]
    # A scheduler run with --leader-elect keeps its Lease fresh: then it is healthy.
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "kube-scheduler", "namespace": "kube-system"},
        "spec": {"holderIdentity": "kt", "leaseDurationSeconds": 60, "renewTime": now},
    }
    ok(server.url, "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", lease)
    rows = {r[0]: r[1:] for r in table_rows(kc.ok("get", "componentstatuses"))}
    assert rows["scheduler"] == ["Healthy", "ok"]
    assert rows["controller-manager"][0] == "Unhealthy"
    one = kc.json("get", "cs", "etcd-0")
    assert one["conditions"] == [{"type": "Healthy", "status": "True", "message": "ok"}]
    reply = request(server.url, "DELETE", "/api/v1/componentstatuses/etcd-0")
    assert reply.status == 405


# ------------------------------------------------------------------------------ eviction


def _running_pod(server: ApiServerProcess, name: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "kt-evict"}},
        "spec": {"nodeName": "kt-node", "containers": [{"name": "c", "image": "nginx"}]},
    }
    pod = ok(server.url, "POST", f"/api/v1/namespaces/{NS}/pods", body)
    pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    ok(server.url, "PUT", f"/api/v1/namespaces/{NS}/pods/{name}/status", pod)


def _budget_status(server: ApiServerProcess, allowed: int) -> None:
    path = f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets/kt-evict"
    pdb = ok(server.url, "GET", path)
    pdb["status"] = {
        "observedGeneration": 1,
        "disruptionsAllowed": allowed,
        "currentHealthy": 2,
        "desiredHealthy": 2 - allowed,
        "expectedPods": 2,
    }
    ok(server.url, "PUT", path + "/status", pdb)


def test_eviction_honours_the_budget(server: ApiServerProcess, kc: Kubectl) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "kt-node"}}
    ok(server.url, "POST", "/api/v1/nodes", node)
    for name in ("kt-evict-a", "kt-evict-b"):
        _running_pod(server, name)
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "kt-evict"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "kt-evict"}}},
    }
    ok(server.url, "POST", f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets", pdb)
    evict = f"/api/v1/namespaces/{NS}/pods/kt-evict-a/eviction"
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "kt-evict-a"}}
    # Not yet seen by the controller (no observedGeneration): refused.
    reply = request(server.url, "POST", evict, body)
    assert reply.status == 429 and "still being processed" in reply.body.decode()
    _budget_status(server, 0)
    reply = request(server.url, "POST", evict, body)
    assert reply.status == 429, reply.body
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Cannot evict pod as it would violate the pod's disruption budget.",
        "reason": "TooManyRequests",
        "details": {
            "causes": [
                {
                    "reason": "DisruptionBudget",
                    "message": "The disruption budget kt-evict needs 2 healthy pods "
                    "and has 2 currently",
                }
            ]
        },
        "code": 429,
    }
    err = kc.fails("drain", "kt-node", "--force", "--timeout=3s", "--pod-selector=app=kt-evict")
    assert "Cannot evict pod as it would violate the pod's disruption budget." in err
    _budget_status(server, 1)
    reply = request(server.url, "POST", evict, body)
    assert reply.status == 201 and reply.json()["status"] == "Success"
    spent = ok(server.url, "GET", f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets/kt-evict")
    assert spent["status"]["disruptionsAllowed"] == 0
    assert set(spent["status"]["disruptedPods"]) == {"kt-evict-a"}
    # The pod is bound to a node: it is now terminating, as after a delete.
    pod = ok(server.url, "GET", f"/api/v1/namespaces/{NS}/pods/kt-evict-a")
    assert pod["metadata"].get("deletionTimestamp")
    reply = request(server.url, "POST", f"/api/v1/namespaces/{NS}/pods/kt-evict-b/eviction", body)
    assert reply.status == 400 and "does not match" in reply.json()["message"]
    assert json.loads(request(server.url, "GET", evict, accept=JSON).body)["code"] == 405


def test_python_client_typed_apis(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    names = [c.metadata.name for c in core.list_component_status().items]
    assert names == ["scheduler", "controller-manager", "etcd-0"]
    policy = client.PolicyV1Api(api)
    body = manifest("PodDisruptionBudget", "kt-typed")
    created = policy.create_namespaced_pod_disruption_budget(NS, body)
    assert created.status.disruptions_allowed == 0 and created.status.expected_pods == 0
    core.create_namespaced_pod(
        NS,
        {"metadata": {"name": "kt-typed"}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
    )
    # A pending pod is evicted whatever its budget says, as upstream.
    core.create_namespaced_pod_eviction("kt-typed", NS, {"metadata": {"name": "kt-typed"}})
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_pod("kt-typed", NS)
    assert gone.value.status == 404
    policy.delete_namespaced_pod_disruption_budget("kt-typed", NS)


def test_kubectl_diff_is_a_server_side_dry_run(kc: Kubectl, tmp_path: Path) -> None:
    body = manifest("PodDisruptionBudget", "kt-diff")
    path = write_manifest(tmp_path / "pdb.yaml", body)
    kc.ok("apply", "-f", str(path))
    before = kc.json("get", "pdb", "kt-diff")
    body["spec"]["minAvailable"] = 3
    write_manifest(path, body)
    done = kc.run("diff", "-f", str(path))
    assert done.returncode == 1, done.stderr  # 1: differences found
    assert "-  minAvailable: 1" in done.stdout and "+  minAvailable: 3" in done.stdout
    after = kc.json("get", "pdb", "kt-diff")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["spec"]["minAvailable"] == 1
    kc.ok("delete", "pdb", "kt-diff")


def test_autoscale_posts_v1_and_reads_back_in_both_versions(
    kc: Kubectl, server: ApiServerProcess, api: client.ApiClient
) -> None:
    kc.ok("create", "deployment", "kt-auto", "--image=nginx")
    assert "autoscaled" in kc.ok(
        "autoscale", "deployment", "kt-auto", "--max=4", "--cpu-percent=60"
    )
    v2 = kc.json("get", "hpa", "kt-auto")  # the preferred version
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    out = kc.ok("get", "hpa", "kt-auto")
    assert table_rows(out)[0][:5] == [
        "kt-auto",
        "Deployment/kt-auto",
        "cpu: <unknown>/60%",
        "1",
        "4",
    ]
    v1 = client.AutoscalingV1Api(api)
    read = v1.read_namespaced_horizontal_pod_autoscaler("kt-auto", NS)
    assert read.spec.target_cpu_utilization_percentage == 60 and read.spec.max_replicas == 4
    v1.patch_namespaced_horizontal_pod_autoscaler(
        "kt-auto", NS, {"spec": {"targetCPUUtilizationPercentage": 75}}
    )
    assert kc.json("get", "hpa", "kt-auto")["spec"]["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 75,
    }
    listed = v1.list_namespaced_horizontal_pod_autoscaler(NS).items
    assert [h.spec.target_cpu_utilization_percentage for h in listed] == [75]
    path = f"/apis/autoscaling/v1/namespaces/{NS}/horizontalpodautoscalers"
    assert request(server.url, "GET", f"{path}?watch=1").status == 405
    v1.delete_namespaced_horizontal_pod_autoscaler("kt-auto", NS)
    assert kc.fails("get", "hpa", "kt-auto").startswith("Error from server (NotFound)")
    kc.ok("delete", "deployment", "kt-auto")
