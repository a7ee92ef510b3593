"""The cluster add-ons `knet cluster up` deploys: the kube-dns add-on (CoreDNS's manifest).

In kube-system: a ServiceAccount ``coredns`` (when the API server serves ServiceAccounts), a
Deployment ``coredns`` of 2 replicas whose image is kubelet-lite's built-in coredns (``knet
dns`` in the pod, reaching the API through the ``kubernetes`` Service), and the Service
``kube-dns`` at the 10th address of the Service range, the address every pod's resolv.conf
names (kubelet-lite's ``--cluster-dns``). Queries reach the DNS pods through kproxy's rules,
as any Service's traffic does.

Objects are created when missing and left alone when they exist (a user's edit survives a
second `up`). Pure: the manifests; I/O: `ensure_dns` and `wait_dns_ready`, over plain HTTP
to the API server as the rest of `up` does.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

NAMESPACE = "kube-system"
DNS_IMAGE = "registry.k8s.io/coredns/coredns:v1.11.3"
DNS_REPLICAS = 2
DNS_LABELS = {"k8s-app": "kube-dns"}
DNS_SERVICE_OFFSET = 10  # kubeadm's choice: the 10th address of the Service range

Printer = Callable[[str], None]


class AddonError(Exception):
    """An add-on could not be created; the message is one line."""


def dns_service_ip(service_cidr: str) -> str:
    net = ipaddress.ip_network(service_cidr, strict=False)
    return str(net.network_address + DNS_SERVICE_OFFSET)


def service_account() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "coredns", "namespace": NAMESPACE},
    }


def dns_service(cluster_ip: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kube-dns",
            "namespace": NAMESPACE,
            "labels": {**DNS_LABELS, "kubernetes.io/name": "CoreDNS"},
            "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
        },
        "spec": {
            "selector": dict(DNS_LABELS),
            "clusterIP": cluster_ip,
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
            ],
        },
    }


def _probe(path: str, port: int, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "successThreshold": 1,
        "failureThreshold": failures,
    }


def dns_deployment(with_service_account: bool, forward: bool = True) -> dict[str, Any]:
    """``forward=False``: a cluster with no way out (the local one), where forwarding to the
    node's resolvers could only time out; other zones then get SERVFAIL at once."""
    args = ["-conf", "/etc/coredns/Corefile"] + ([] if forward else ["--no-forward"])
    pod_spec: dict[str, Any] = {
        # The DNS pods forward other zones to the node's resolvers, not to themselves.
        "dnsPolicy": "Default",
        "containers": [
            {
                "name": "coredns",
                "image": DNS_IMAGE,
                "args": args,
                "ports": [
                    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
                ],
                "livenessProbe": {
                    **_probe("/health", 8080, 10, 5),
                    "initialDelaySeconds": 60,
                },
                # CoreDNS's manifest probes /ready every 10 s; every second here keeps
                # `knet cluster up` from waiting a whole period after the informers sync.
                "readinessProbe": _probe("/ready", 8181, 1, 3),
            }
        ],
    }
    if with_service_account:
        pod_spec["serviceAccountName"] = "coredns"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": NAMESPACE, "labels": dict(DNS_LABELS)},
        "spec": {
            "replicas": DNS_REPLICAS,
            "selector": {"matchLabels": dict(DNS_LABELS)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"},
            },
            "template": {"metadata": {"labels": dict(DNS_LABELS)}, "spec": pod_spec},
        },
    }


def deployment_ready(dep: dict[str, Any]) -> bool:
    """Every wanted replica is ready, and the status is about the current spec."""
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    observed = int(status.get("observedGeneration") or 0)
    generation = int((dep.get("metadata") or {}).get("generation") or 0)
    return observed >= generation and int(status.get("readyReplicas") or 0) >= wanted


# ---------------------------------------------------------------------------- I/O


def _request(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with contextlib.suppress(ValueError):
            return e.code, json.loads(e.read())
        return e.code, {}


def create_if_missing(api_url: str, path: str, obj: dict[str, Any]) -> str:
    """'created', 'exists', or 'unsupported' (the API does not serve the kind); AddonError
    for anything else."""
    # Looked up first: creating a Service that exists fails on its ClusterIP ("already
    # allocated", 422) before its name would (409), as upstream.
    code, body = _request(f"{api_url}{path}/{obj['metadata']['name']}")
    if code == 200:
        return "exists"
    if code == 404 and not (body.get("details") or {}).get("name"):
        return "unsupported"  # no such resource: a 404 that names no object (or namespace)
    code, body = _request(api_url + path, "POST", obj)
    if code == 201 or code == 200:
        return "created"
    if code == 409:
        return "exists"
    message = body.get("message") or f"HTTP {code}"
    raise AddonError(
        f"cannot create {obj['kind']} {NAMESPACE}/{obj['metadata']['name']}: {message}"
    )


def ensure_dns(api_url: str, service_cidr: str, out: Printer, forward: bool = True) -> None:
    """Create the kube-dns add-on's objects that do not exist yet."""
    ns_path = f"/api/v1/namespaces/{NAMESPACE}"
    sa = create_if_missing(api_url, f"{ns_path}/serviceaccounts", service_account())
    ip = dns_service_ip(service_cidr)
    svc = create_if_missing(api_url, f"{ns_path}/services", dns_service(ip))
    dep = create_if_missing(
        api_url,
        f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments",
        dns_deployment(with_service_account=sa != "unsupported", forward=forward),
    )
    if "created" in (svc, dep):
        out(f"kube-dns add-on: Service {NAMESPACE}/kube-dns at {ip}, Deployment coredns")


def wait_dns_ready(api_url: str, timeout: float) -> bool:
    """Wait until the coredns Deployment has every replica ready; False on time out."""
    url = f"{api_url}/apis/apps/v1/namespaces/{NAMESPACE}/deployments/coredns"
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(urllib.error.URLError, OSError, TimeoutError, ValueError):
            code, dep = _request(url)
            if code == 200 and deployment_ready(dep):
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)


# ---------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """``python -m knet.cluster.addons --server URL``: the add-on on a control plane that
    `knet cluster up` did not make (the Vagrant/machines one); one line, exit 1 on failure."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m knet.cluster.addons")
    p.add_argument("--server", required=True, help="the API server's URL")
    p.add_argument("--service-cluster-ip-range", default="10.96.0.0/12")
    p.add_argument("--no-forward", action="store_true", help="the cluster has no way out")
    args = p.parse_args(argv)
    try:
        dns_service_ip(args.service_cluster_ip_range)
        ensure_dns(
            args.server.rstrip("/"), args.service_cluster_ip_range, print, not args.no_forward
        )
    except (AddonError, ValueError, OSError) as e:
        print(f"knet addons: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
