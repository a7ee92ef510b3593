"""Cluster DNS end to end: the kube-dns add-on `knet cluster up` deploys, queried from a pod
through kproxy's rules, with the real kubectl. One cluster for the whole module.

The client pod runs the host's tools (getent, curl) and, for SRV/PTR and the query loop, this
test's own interpreter with dnspython, which reads the pod's /etc/resolv.conf."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cluster_harness import Cluster, running_cluster, wait_for

from knet.netlink.exec import netns_argv

ZONE = "cluster.local"
# Queries reach the DNS pods through kproxy's rules, in every mode.
PROXY_MODES = ["iptables", "userspace", "nftables"]
DNS_IP = "10.96.0.10"

# A query loop from one UDP socket (one conntrack flow, as a long-lived resolver keeps):
# prints its source port, then one JSON line per query: [time sent, answered within 1 s?]
# (a generous wait: this machine is loaded; a flow stuck on a dead pod is never answered).
QUERY_LOOP = textwrap.dedent(
    """
    import json, socket, sys, time
    import dns.message, dns.rcode
    seconds = float(sys.argv[1])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    s.settimeout(1.0)
    print(s.getsockname()[1], flush=True)
    end = time.time() + seconds
    while time.time() < end:
        q = dns.message.make_query("web.default.svc.cluster.local", "A")
        sent = time.time()
        ok = False
        try:
            s.sendto(q.to_wire(), ("10.96.0.10", 53))
            while True:
                r = dns.message.from_wire(s.recv(4096))
                if r.id == q.id:
                    ok = r.rcode() == dns.rcode.NOERROR and bool(r.answer)
                    break
        except (TimeoutError, OSError):
            pass
        print(json.dumps([sent, ok]), flush=True)
        time.sleep(max(0.0, 0.05 - (time.time() - sent)))
    """
)


def _web_manifests() -> list[dict[str, Any]]:
    labels = {"app": "web"}
    container = {
        "name": "netexec",
        "image": "registry.k8s.io/e2e-test-images/agnhost:2.47",
        "args": ["netexec", "--http-port=80"],
        "ports": [{"containerPort": 80, "name": "http"}],
    }
    ports = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80}]
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": labels, "ports": ports},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web-headless"},
            "spec": {"selector": labels, "clusterIP": "None", "ports": ports},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "client"},
            "spec": {
                "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]
            },
        },
    ]


@pytest.fixture(scope="module", params=PROXY_MODES)
def dns_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    with running_cluster(tmp_path_factory.mktemp("dns"), 3, "--proxy-mode", request.param) as c:
        for obj in _web_manifests():
            applied = c.kubectl("apply", "-f", "-", stdin=json.dumps(obj))
            assert applied.returncode == 0, applied.stderr
        wait_for("web pods and the client running", lambda: _running(c), timeout=90)
        yield c


def _running(c: Cluster) -> bool:
    pods = c.kubectl_json("get", "pods")["items"]
    ready = [
        p
        for p in pods
        if p["status"].get("phase") == "Running"
        and all(s.get("ready") for s in p["status"].get("containerStatuses") or [{}])
    ]
    return len(pods) == 3 and len(ready) == 3


def in_client(c: Cluster, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return c.kubectl("exec", "client", "--", *cmd, timeout=timeout)


def resolve(c: Cluster, name: str, rdtype: str = "A") -> list[str]:
    """Answers as the pod's resolver (its resolv.conf, search list and all) gets them."""
    script = (
        "import sys, dns.resolver, dns.reversename\n"
        "name, t = sys.argv[1], sys.argv[2]\n"
        "if t == 'PTR': name = dns.reversename.from_address(name)\n"
        "a = dns.resolver.resolve(name, t, search=True, lifetime=5)\n"
        "print('\\n'.join(sorted(r.to_text() for r in a)))\n"
    )
    done = in_client(c, sys.executable, "-c", script, name, rdtype)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\n")[:-1]


def web_ip(c: Cluster, name: str = "web") -> str:
    return str(c.kubectl_json("get", "service", name)["spec"]["clusterIP"])


def web_pod_ips(c: Cluster) -> list[str]:
    pods = c.kubectl_json("get", "pods", "-l", "app=web")["items"]
    return sorted(p["status"]["podIP"] for p in pods)


def test_the_add_on_and_the_pods_resolv_conf(dns_cluster: Cluster) -> None:
    c = dns_cluster
    svc = c.kubectl_json("-n", "kube-system", "get", "service", "kube-dns")
    assert svc["spec"]["clusterIP"] == DNS_IP
    dep = c.kubectl_json("-n", "kube-system", "get", "deployment", "coredns")
    assert dep["status"].get("readyReplicas") == 2
    conf = in_client(c, "cat", "/etc/resolv.conf")
    assert conf.returncode == 0, conf.stderr
    assert f"nameserver {DNS_IP}" in conf.stdout.splitlines()
    assert f"search default.svc.{ZONE} svc.{ZONE} {ZONE}" in conf.stdout


def test_a_service_by_its_names_and_curl_by_name(dns_cluster: Cluster) -> None:
    c = dns_cluster
    ip = web_ip(c)
    for name in ("web", "web.default", f"web.default.svc.{ZONE}"):
        got = in_client(c, "getent", "hosts", name)
        assert got.returncode == 0, (name, got.stderr)
        assert got.stdout.split()[0] == ip, (name, got.stdout)
    pods = {p["metadata"]["name"] for p in c.kubectl_json("get", "pods", "-l", "app=web")["items"]}
    answer = in_client(c, "curl", "-sS", "--max-time", "5", "http://web/hostname")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() in pods


def test_a_headless_service_answers_the_pod_ips(dns_cluster: Cluster) -> None:
    assert resolve(dns_cluster, "web-headless") == web_pod_ips(dns_cluster)
    got = in_client(dns_cluster, "getent", "ahostsv4", "web-headless")
    assert sorted({line.split()[0] for line in got.stdout.splitlines()}) == web_pod_ips(dns_cluster)


def test_srv_and_ptr(dns_cluster: Cluster) -> None:
    c = dns_cluster
    srv = resolve(c, f"_http._tcp.web.default.svc.{ZONE}", "SRV")
    assert srv == [f"0 100 80 web.default.svc.{ZONE}."]
    headless = resolve(c, f"_http._tcp.web-headless.default.svc.{ZONE}", "SRV")
    assert len(headless) == 2 and all(" 80 " in r for r in headless), headless
    assert resolve(c, web_ip(c), "PTR") == [f"web.default.svc.{ZONE}."]


def test_the_kubernetes_service_resolves_and_reaches_the_api(dns_cluster: Cluster) -> None:
    c = dns_cluster
    assert resolve(c, "kubernetes.default.svc") == ["10.96.0.1"]
    env = in_client(c, "printenv", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
    assert env.stdout.split() == ["10.96.0.1", "443"]
    # knet's API server speaks HTTP on the Service's port 443 until TLS lands.
    version = in_client(
        c, "curl", "-sS", "--max-time", "5", "http://kubernetes.default.svc:443/version"
    )
    assert version.returncode == 0, version.stderr
    assert "gitVersion" in json.loads(version.stdout)


def test_service_environment_variables(dns_cluster: Cluster) -> None:
    got = in_client(dns_cluster, "printenv", "WEB_SERVICE_HOST", "WEB_PORT_80_TCP")
    ip = web_ip(dns_cluster)
    assert got.stdout.split() == [ip, f"tcp://{ip}:80"], got.stdout + got.stderr


def test_nxdomain_for_a_missing_service(dns_cluster: Cluster) -> None:
    got = in_client(dns_cluster, "getent", "hosts", "no-such-service")
    assert got.returncode == 2 and got.stdout == ""


# One question straight to the kube-dns Service: rcode, answer count, authority types.
RAW_QUERY = (
    "import sys, dns.message, dns.query, dns.rcode, dns.rdatatype\n"
    "q = dns.message.make_query(sys.argv[1], sys.argv[2])\n"
    "r = dns.query.udp(q, '10.96.0.10', timeout=5)\n"
    "auth = sorted(dns.rdatatype.to_text(a.rdtype) for a in r.authority)\n"
    "print(dns.rcode.to_text(r.rcode()), len(r.answer), ','.join(auth) or '-')\n"
)


@pytest.mark.parametrize(
    ("name", "rdtype", "want"),
    [
        (f"web.default.svc.{ZONE}.", "A", "NOERROR 1 -"),
        # The name exists without that type (a ClusterIP Service has no AAAA): NODATA.
        (f"web.default.svc.{ZONE}.", "AAAA", "NOERROR 0 SOA"),
        # An empty non-terminal (the namespace) is NODATA too; a missing Service NXDOMAIN.
        (f"default.svc.{ZONE}.", "A", "NOERROR 0 SOA"),
        (f"nope.default.svc.{ZONE}.", "A", "NXDOMAIN 0 SOA"),
    ],
)
def test_nxdomain_and_nodata_as_the_spec_says(
    dns_cluster: Cluster, name: str, rdtype: str, want: str
) -> None:
    got = in_client(dns_cluster, sys.executable, "-c", RAW_QUERY, name, rdtype)
    assert got.returncode == 0, got.stderr
    assert got.stdout.split() == want.split(), got.stdout


def _dns_pod_of_flow(c: Cluster, node_netns: str, port: int, mode: str) -> str | None:
    """The DNS pod the client's queries go to, from the node's conntrack table."""
    done = subprocess.run(
        netns_argv(node_netns, ["conntrack", "-L", "-p", "udp"]),
        capture_output=True,
        text=True,
        timeout=10,
    )
    for line in done.stdout.splitlines():
        fields = [f.split("=", 1) for f in line.split() if "=" in f]
        src = [v for k, v in fields if k == "src"]
        dst = [v for k, v in fields if k == "dst"]
        sport = [v for k, v in fields if k == "sport"]
        dport = [v for k, v in fields if k == "dport"]
        if len(src) < 2 or len(dport) < 1:
            continue
        if mode == "userspace":
            # kproxy relays the client's datagrams from a socket of its own to the pod.
            if dport[0] == "53" and dst[0].startswith("10.244."):
                return dst[0]
        elif dst[0] == DNS_IP and sport[0] == str(port):
            return src[1]  # the reply's source: the pod the flow was DNATed to
    return None


def test_deleting_a_dns_pod_keeps_a_querying_client_answered(dns_cluster: Cluster) -> None:
    c, mode = dns_cluster, dns_cluster.state()["proxyMode"]
    client = c.kubectl_json("get", "pod", "client")
    node = c.topo.node(client["spec"]["nodeName"])
    kubectl = ["kubectl", "--kubeconfig", str(c.kubeconfig)]
    loop = subprocess.Popen(
        [*kubectl, "exec", "client", "--", sys.executable, "-c", QUERY_LOOP, "12"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert loop.stdout is not None
        port = int(loop.stdout.readline())
        target = wait_for(
            "the client's DNS flow", lambda: _dns_pod_of_flow(c, node.netns, port, mode)
        )
        dns_pods = c.kubectl_json("-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns")
        (victim,) = [p for p in dns_pods["items"] if p["status"].get("podIP") == target]
        time.sleep(1)
        deleted_at = time.time()
        done = c.kubectl("-n", "kube-system", "delete", "pod", victim["metadata"]["name"])
        assert done.returncode == 0, done.stderr
        out, err = loop.communicate(timeout=60)
    finally:
        if loop.poll() is None:
            loop.kill()
            loop.communicate()
    results = [json.loads(line) for line in out.splitlines() if line.startswith("[")]
    before = [ok for sent, ok in results if sent < deleted_at]
    after = [(round(sent - deleted_at, 2), ok) for sent, ok in results if sent > deleted_at + 1]
    assert any(before), (before, err)  # the flow worked before the delete
    # iptables/nftables: the flow stuck to the dead pod unless kproxy deleted its conntrack
    # entry; userspace: unless kproxy stopped relaying to it.
    assert after and all(ok for _, ok in after), after
    assert len(after) > 20, after  # and the loop ran long enough after it to tell
