"""The kube-dns add-on's manifests (pure parts of knet.cluster.addons)."""

from __future__ import annotations

import pytest

from knet.cluster import addons


def test_the_dns_service_is_the_tenth_address_with_coredns_ports() -> None:
    ip = addons.dns_service_ip("10.96.0.0/12")
    assert ip == "10.96.0.10"
    svc = addons.dns_service(ip)
    assert svc["metadata"]["namespace"] == "kube-system"
    assert svc["spec"]["selector"] == {"k8s-app": "kube-dns"}
    assert [(p["name"], p["port"], p["protocol"]) for p in svc["spec"]["ports"]] == [
        ("dns", 53, "UDP"),
        ("dns-tcp", 53, "TCP"),
        ("metrics", 9153, "TCP"),
    ]


def test_the_deployment_runs_two_coredns_replicas_with_probes() -> None:
    dep = addons.dns_deployment(with_service_account=False)
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["template"]["metadata"]["labels"] == {"k8s-app": "kube-dns"}
    pod = dep["spec"]["template"]["spec"]
    assert "serviceAccountName" not in pod
    (c,) = pod["containers"]
    assert c["image"].startswith("registry.k8s.io/coredns/coredns:")
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 8181, "scheme": "HTTP"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": 8080, "scheme": "HTTP"}
    assert c["args"] == ["-conf", "/etc/coredns/Corefile"]
    with_sa = addons.dns_deployment(with_service_account=True, forward=False)
    assert with_sa["spec"]["template"]["spec"]["serviceAccountName"] == "coredns"
    assert with_sa["spec"]["template"]["spec"]["containers"][0]["args"][-1] == "--no-forward"


def test_deployment_ready_needs_every_replica_of_the_current_generation() -> None:
    dep = addons.dns_deployment(with_service_account=False)
    dep["metadata"]["generation"] = 2
    dep["status"] = {"observedGeneration": 2, "readyReplicas": 1}
    assert not addons.deployment_ready(dep)
    dep["status"]["readyReplicas"] = 2
    assert addons.deployment_ready(dep)
    dep["status"]["observedGeneration"] = 1
    assert not addons.deployment_ready(dep)


def test_the_addons_command_fails_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert addons.main(["--server", "http://127.0.0.1:1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("knet addons: ") and err.count("\n") == 1
    bad_range = ["--server", "http://127.0.0.1:1", "--service-cluster-ip-range", "nope"]
    assert addons.main(bad_range) == 1
    assert "nope" in capsys.readouterr().err
