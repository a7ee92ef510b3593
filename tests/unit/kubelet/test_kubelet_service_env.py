"""The Service environment variables of a container (enableServiceLinks)."""

from __future__ import annotations

from typing import Any

from kubelet_lite.pods.service_env import service_env


def svc(ns: str, name: str, ip: str, *ports: tuple[str, int, str]) -> dict[str, Any]:
    return {
        "metadata": {"namespace": ns, "name": name},
        "spec": {
            "clusterIP": ip,
            "ports": [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports],
        },
    }


KUBERNETES = svc("default", "kubernetes", "10.96.0.1", ("https", 443, "TCP"))
WEB = svc("demo", "web-app", "10.96.3.4", ("http", 80, "TCP"), ("dns", 53, "UDP"))
HEADLESS = svc("demo", "db", "None", ("", 5432, "TCP"))
OTHER_NS = svc("elsewhere", "cache", "10.96.9.9", ("", 6379, "TCP"))


def test_variables_of_a_service_as_docker_links_named_them() -> None:
    env = service_env([KUBERNETES, WEB, HEADLESS, OTHER_NS], "demo", None)
    assert env["WEB_APP_SERVICE_HOST"] == "10.96.3.4"
    assert env["WEB_APP_SERVICE_PORT"] == "80"
    assert env["WEB_APP_SERVICE_PORT_HTTP"] == "80"
    assert env["WEB_APP_SERVICE_PORT_DNS"] == "53"
    assert env["WEB_APP_PORT"] == "tcp://10.96.3.4:80"
    assert env["WEB_APP_PORT_53_UDP"] == "udp://10.96.3.4:53"
    assert env["WEB_APP_PORT_53_UDP_PROTO"] == "udp"
    assert env["WEB_APP_PORT_80_TCP_PORT"] == "80"
    assert env["WEB_APP_PORT_80_TCP_ADDR"] == "10.96.3.4"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "443"
    assert env["KUBERNETES_PORT_443_TCP"] == "tcp://10.96.0.1:443"
    assert not any(k.startswith(("DB_", "CACHE_")) for k in env)


def test_links_disabled_keep_only_the_kubernetes_service() -> None:
    env = service_env([KUBERNETES, WEB], "demo", False)
    assert sorted({k.split("_")[0] for k in env}) == ["KUBERNETES"]


def test_a_namespace_own_kubernetes_service_wins() -> None:
    own = svc("demo", "kubernetes", "10.96.7.7", ("", 8443, "TCP"))
    env = service_env([KUBERNETES, own], "demo", True)
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.7.7"
    assert env["KUBERNETES_SERVICE_PORT"] == "8443"
