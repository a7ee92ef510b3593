"""The ``default/kubernetes`` Service and its endpoints, kept by a real API server process."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from knet.apiserver import kubernetes_service as ks
from knet.testing.apiserver import ApiServerProcess, running_apiserver

ADVERTISED = "10.77.0.254"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ApiServerProcess]:
    with running_apiserver(
        tmp_path, "--advertise-address", ADVERTISED, "--service-cluster-ip-range", "10.96.0.0/12"
    ) as s:
        yield s


def _call(url: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def _eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except (OSError, KeyError, AssertionError):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def _slice_ips(url: str) -> list[str]:
    sl = _call(url + "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes")
    return sorted(a for e in sl["endpoints"] for a in e["addresses"])


def test_service_and_endpoints_exist(server: ApiServerProcess) -> None:
    svc = _eventually(lambda: _call(server.url + "/api/v1/namespaces/default/services/kubernetes"))
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    assert svc["spec"]["ports"] == [
        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": server.port}
    ]
    ep = _eventually(lambda: _call(server.url + "/api/v1/namespaces/default/endpoints/kubernetes"))
    assert ep["subsets"] == [
        {
            "addresses": [{"ip": ADVERTISED}],
            "ports": [{"name": "https", "port": server.port, "protocol": "TCP"}],
        }
    ]
    sl = _call(
        server.url + "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes"
    )
    assert sl["metadata"]["labels"][ks.SERVICE_NAME_LABEL] == "kubernetes"
    assert sl["ports"] == [{"name": "https", "port": server.port, "protocol": "TCP"}]
    assert _slice_ips(server.url) == [ADVERTISED]


def test_a_deleted_service_comes_back(server: ApiServerProcess) -> None:
    url = server.url + "/api/v1/namespaces/default/services/kubernetes"
    first = _eventually(lambda: _call(url))
    _call(url, "DELETE")
    # The reconciler runs every 10 s; the Service is back with the same ClusterIP.
    again = _eventually(
        lambda: (s := _call(url))["metadata"]["uid"] != first["metadata"]["uid"] and s, 15
    )
    assert again["spec"]["clusterIP"] == "10.96.0.1"


def test_a_live_lease_of_another_server_is_listed_and_an_expired_one_is_not(
    server: ApiServerProcess,
) -> None:
    _eventually(lambda: _slice_ips(server.url) == [ADVERTISED])
    leases = server.url + "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
    live = ks.lease_object("10.77.0.253", server.port, time.time() + 60)
    stale = ks.lease_object("10.77.0.252", server.port, time.time() - 60)
    _call(leases, "POST", live)
    _call(leases, "POST", stale)
    # Picked up at the next reconcile (every 10 s).
    _eventually(lambda: _slice_ips(server.url) == ["10.77.0.253", ADVERTISED], 15)
    ep = _call(server.url + "/api/v1/namespaces/default/endpoints/kubernetes")
    assert [a["ip"] for a in ep["subsets"][0]["addresses"]] == ["10.77.0.253", ADVERTISED]
