"""metrics.k8s.io and the proxy subresources on an API server with no kubelets: discovery,
empty lists, upstream's Statuses for what cannot be answered (unknown objects, watch, a pod
with no node or address, a Service with no endpoints), never a 500."""

from __future__ import annotations

from _apiserver_http import assert_status, ok, pod, request

from knet.testing.apiserver import ApiServerProcess

METRICS = "/apis/metrics.k8s.io/v1beta1"


def test_metrics_discovery_and_lists(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    groups = ok(url, "GET", "/apis")["groups"]
    assert {"name": "metrics.k8s.io", "versions": [{"groupVersion": "metrics.k8s.io/v1beta1",
            "version": "v1beta1"}], "preferredVersion": {"groupVersion":
            "metrics.k8s.io/v1beta1", "version": "v1beta1"}} in groups  # fmt: skip
    doc = ok(url, "GET", METRICS)
    assert {r["kind"] for r in doc["resources"]} == {"NodeMetrics", "PodMetrics"}
    assert ok(url, "GET", f"{METRICS}/nodes")["items"] == []
    ok(url, "POST", "/api/v1/namespaces/default/pods", pod("unscheduled"))
    # A pod no kubelet runs has no metrics: left out of lists, NotFound by name.
    assert ok(url, "GET", f"{METRICS}/namespaces/default/pods")["items"] == []
    assert ok(url, "GET", f"{METRICS}/pods")["kind"] == "PodMetricsList"
    status = assert_status(
        request(url, "GET", f"{METRICS}/namespaces/default/pods/unscheduled"), 404, "NotFound"
    )
    assert status["message"] == 'podmetrics.metrics.k8s.io "default/unscheduled" not found'
    status = assert_status(request(url, "GET", f"{METRICS}/nodes/nope"), 404, "NotFound")
    assert status["message"] == 'nodemetrics.metrics.k8s.io "nope" not found'
    assert_status(request(url, "GET", f"{METRICS}/pods?watch=true"), 405, "MethodNotAllowed")
    bad = request(url, "GET", f"{METRICS}/pods?labelSelector=a%20b%20c")
    assert_status(bad, 400, "BadRequest")


def test_proxy_statuses_without_a_backend(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    base = "/api/v1/namespaces/default"
    ok(url, "POST", f"{base}/pods", pod("lonely"))
    status = assert_status(
        request(url, "GET", f"{base}/pods/lonely/proxy/"), 503, "ServiceUnavailable"
    )
    assert status["message"] == 'pod "lonely" has no IP address yet'
    assert_status(request(url, "GET", f"{base}/pods/nope:80/proxy/x"), 404, "NotFound")
    assert_status(request(url, "GET", f"{base}/pods/a:b:c:d/proxy/"), 400, "BadRequest")
    assert_status(request(url, "GET", f"{base}/pods/https:lonely:443/proxy/"), 400, "BadRequest")
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]},
    }
    ok(url, "POST", f"{base}/services", svc)
    status = assert_status(
        request(url, "GET", f"{base}/services/web:http/proxy/"), 503, "ServiceUnavailable"
    )
    assert status["message"] == 'no endpoints available for service "web:http"'
    status = assert_status(
        request(url, "GET", f"{base}/services/web:81/proxy/"), 503, "ServiceUnavailable"
    )
    assert status["message"] == 'no service port 81 found for service "web"'
    status = assert_status(request(url, "GET", f"{base}/services/nope/proxy/"), 404, "NotFound")
    assert status["message"] == 'services "nope" not found'
