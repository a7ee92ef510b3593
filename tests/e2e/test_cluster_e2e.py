"""The local cluster end to end: `knet cluster up` with 3 nodes, real kubectl, real traffic
between pods on different nodes, and a teardown that leaves nothing behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from functools import partial
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from cluster_harness import (
    Cluster,
    deployment_manifest,
    knet,
    new_cluster,
    pod_manifest,
    root_diff,
    root_snapshot,
    wait_for,
)

from knet.cluster import node_bootstrap
from knet.netlink.exec import netns_argv

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.kubectl]


def ready(node: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in node.get("status", {}).get("conditions", [])
    )


def running_pods(cluster: Cluster, selector: str) -> list[dict[str, Any]] | None:
    pods = cluster.kubectl_json("get", "pods", "-l", selector)["items"]
    if pods and all(
        p["status"].get("phase") == "Running" and p["status"].get("podIP") for p in pods
    ):
        return list(pods)
    return None


def node_routes(netns: str) -> dict[str, str]:
    """dst -> gateway of the routes via a gateway in a node namespace (read-only `ip route`)."""
    done = subprocess.run(
        netns_argv(netns, ["ip", "-j", "route", "show"]), capture_output=True, text=True, timeout=10
    )
    assert done.returncode == 0, done.stderr
    return {r["dst"]: r["gateway"] for r in json.loads(done.stdout) if "gateway" in r}


def routes_are(netns: str, want: dict[str, str]) -> bool:
    return node_routes(netns) == want


def route_via(netns: str, dst: str) -> str | None:
    return node_routes(netns).get(dst)


def no_route(netns: str, dst: str) -> bool:
    return dst not in node_routes(netns)


def curl_in(netns: str, url: str) -> str:
    argv = netns_argv(netns, ["curl", "-sS", "--max-time", "3", url])
    return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()


GHOST = "10.244.9.0/24"


def test_cluster_up_nodes_ready_and_deployment_spreads(cluster: Cluster) -> None:
    names = [n.name for n in cluster.topo.nodes]

    nodes = cluster.kubectl_json("get", "nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == names
    assert all(ready(n) for n in nodes), [n["status"]["conditions"] for n in nodes]
    # Node.spec.podCIDR is the one the topology gave each node, and InternalIP its eth0 address.
    by_name = {n["metadata"]["name"]: n for n in nodes}
    for topo in cluster.topo.nodes:
        n = by_name[topo.name]
        assert n["spec"]["podCIDR"] == str(topo.pod_cidr)
        assert {"type": "InternalIP", "address": str(topo.address)} in n["status"]["addresses"]

    st = cluster.cli("cluster", "status")
    assert st.returncode == 0, st.stdout + st.stderr
    for name in names:
        assert name in st.stdout
    kc = cluster.cli("cluster", "kubeconfig")
    assert kc.returncode == 0 and kc.stdout.strip() == str(cluster.kubeconfig)

    applied = cluster.kubectl("apply", "-f", "-", stdin=json.dumps(deployment_manifest("web", 3)))
    assert applied.returncode == 0, applied.stderr
    pods = wait_for("3 running web pods", lambda: running_pods(cluster, "app=web"), timeout=60)
    assert len(pods) == 3
    assert sorted(p["spec"]["nodeName"] for p in pods) == names  # one per node
    for p in pods:
        node = cluster.topo.node(p["spec"]["nodeName"])
        assert IPv4Address(p["status"]["podIP"]) in node.pod_cidr

    # `up` again changes nothing: the same processes keep running.
    before = [(p["role"], p["pid"]) for p in cluster.state()["processes"]]
    again = cluster.up()
    assert again.returncode == 0, again.stdout + again.stderr
    assert [(p["role"], p["pid"]) for p in cluster.state()["processes"]] == before


def test_pods_on_different_nodes_ping_and_curl_each_other(cluster: Cluster) -> None:
    n1, n3 = cluster.topo.nodes[0], cluster.topo.nodes[2]
    for name, node in (("a", n1), ("b", n3)):
        done = cluster.kubectl(
            "apply", "-f", "-", stdin=json.dumps(pod_manifest(name, node.name, {"app": "pair"}))
        )
        assert done.returncode == 0, done.stderr
    pods = wait_for("pods a and b running", lambda: running_pods(cluster, "app=pair"), timeout=60)
    ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in pods}
    assert len(ips) == 2

    # host-gw: each node routes the others' podCIDRs via their node IPs.
    for node in cluster.topo.nodes:
        want = {str(o.pod_cidr): str(o.address) for o in cluster.topo.nodes if o.name != node.name}
        assert wait_for(f"routes on {node.name}", partial(routes_are, node.netns, want))

    ab = cluster.exec("a", "ping", "-c", "2", "-W", "2", ips["b"])
    assert ab.returncode == 0, ab.stdout + ab.stderr
    ba = cluster.exec("b", "ping", "-c", "2", "-W", "2", ips["a"])
    assert ba.returncode == 0, ba.stdout + ba.stderr
    curl = cluster.exec("a", "curl", "-sS", "--max-time", "5", f"http://{ips['b']}:8080/hostname")
    assert curl.returncode == 0 and curl.stdout.strip() == "b", curl.stdout + curl.stderr

    # The VM form of knet exec (a kubeconfig and the kubelet's root dir on "this" node) finds
    # the same namespace from the same checkpoint.
    vm_form = knet(
        *("exec", "--kubeconfig", str(cluster.kubeconfig), "--root-dir"),
        str(cluster.directory / "nodes" / n3.name / "kubelet"),
        *("--pod-netns-prefix", cluster.topo.pod_netns_prefix, "b", "--"),
        *("ping", "-c", "1", "-W", "2", ips["a"]),
    )
    assert vm_form.returncode == 0, vm_form.stdout + vm_form.stderr
    elsewhere = knet(
        *("exec", "--kubeconfig", str(cluster.kubeconfig), "--root-dir"),
        str(cluster.directory / "nodes" / n3.name / "kubelet"),
        *("--pod-netns-prefix", "kt-none-", "a", "--", "true"),
    )
    assert elsewhere.returncode == 1 and "no network namespace here" in elsewhere.stderr

    # knet exec exits with the command's status, and says clearly when the pod does not exist.
    assert cluster.exec("a", "sh", "-c", "exit 7").returncode == 7
    missing = cluster.exec("nosuchpod", "true")
    assert missing.returncode == 1 and 'pod "nosuchpod" not found' in missing.stderr

    # Masquerade for traffic leaving the cluster CIDR: our chain, in the node namespace only.
    rules = subprocess.run(
        netns_argv(n1.netns, ["iptables-save", "-t", "nat"]), capture_output=True, text=True
    ).stdout
    assert "-A POSTROUTING -m comment" in rules and "-j KNET-POSTROUTING" in rules
    assert f"-A KNET-POSTROUTING -s {cluster.topo.cluster_cidr} -m comment" in rules


def test_hostgw_follows_nodes_coming_and_going(cluster: Cluster) -> None:
    ghost = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "ghost"},
        "spec": {"podCIDR": GHOST, "podCIDRs": [GHOST]},
        "status": {"addresses": [{"type": "InternalIP", "address": "172.30.0.9"}]},
    }
    done = cluster.kubectl("create", "-f", "-", stdin=json.dumps(ghost))
    assert done.returncode == 0, done.stderr
    for node in cluster.topo.nodes:
        gw = wait_for(f"route to ghost on {node.name}", partial(route_via, node.netns, GHOST))
        assert gw == "172.30.0.9"
    done = cluster.kubectl("delete", "node", "ghost")
    assert done.returncode == 0, done.stderr
    for node in cluster.topo.nodes:
        wait_for(f"route to ghost gone on {node.name}", partial(no_route, node.netns, GHOST))
        assert len(node_routes(node.netns)) == len(cluster.topo.nodes) - 1


def test_down_leaves_nothing_and_root_namespace_unchanged(
    tmp_path: Path, cluster_factory: list[Cluster]
) -> None:
    before = root_snapshot()
    c = new_cluster(tmp_path)
    cluster_factory.append(c)
    up = c.up()
    assert up.returncode == 0, up.stdout + up.stderr
    applied = c.kubectl("apply", "-f", "-", stdin=json.dumps(deployment_manifest("web", 3)))
    assert applied.returncode == 0, applied.stderr
    wait_for("3 running web pods", lambda: running_pods(c, "app=web"), timeout=60)
    c.remember()
    # The switch, the nodes, and the pods: 3 web and the 2 of the kube-dns add-on.
    assert len(c.leftovers()["namespaces"]) == 1 + 3 + 3 + 2

    down = c.cli("cluster", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert c.leftovers() == {"namespaces": [], "processes": [], "files": []}
    assert root_diff(before, root_snapshot()) == {}
    again = c.cli("cluster", "down")
    assert again.returncode == 0 and "no cluster named" in again.stdout


def crash_up_halfway(c: Cluster) -> None:
    """Start `up` and SIGKILL it once it has started node 1's agents (before the others)."""
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "knet.cli", "cluster", "up", "--name", c.name),
            *("--state-dir", str(c.state_root), "--nodes", str(c.nodes)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    role = f"hostgw/{c.topo.nodes[0].name}"

    def started() -> bool:
        try:
            return any(p["role"] == role for p in c.state()["processes"])
        except (OSError, ValueError):
            return False

    try:
        wait_for("up to start node 1's agents", started, timeout=60, every=0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    c.remember()


def test_down_after_up_crashed_halfway(tmp_path: Path, cluster_factory: list[Cluster]) -> None:
    before = root_snapshot()
    c = new_cluster(tmp_path)
    cluster_factory.append(c)
    crash_up_halfway(c)
    assert c.leftovers()["namespaces"]  # it did get somewhere
    down = c.cli("cluster", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert c.leftovers() == {"namespaces": [], "processes": [], "files": []}
    assert root_diff(before, root_snapshot()) == {}


def test_up_after_crash_finishes_the_job(tmp_path: Path, cluster_factory: list[Cluster]) -> None:
    c = new_cluster(tmp_path)
    cluster_factory.append(c)
    crash_up_halfway(c)
    up = c.up()
    assert up.returncode == 0, up.stdout + up.stderr
    nodes = c.kubectl_json("get", "nodes")["items"]
    assert len(nodes) == 3 and all(ready(n) for n in nodes)
    st = c.cli("cluster", "status")
    assert st.returncode == 0, st.stdout + st.stderr


needs_kproxy = pytest.mark.skipif(
    not node_bootstrap.module_available("kproxy"), reason="kproxy is not installed"
)


def expose_web(cluster: Cluster) -> tuple[str, int]:
    """Deployment web (3 replicas) behind a NodePort Service; (ClusterIP, nodePort)."""
    applied = cluster.kubectl("apply", "-f", "-", stdin=json.dumps(deployment_manifest("web", 3)))
    assert applied.returncode == 0, applied.stderr
    done = cluster.kubectl(
        "expose", "deployment", "web", "--port", "80", "--target-port", "8080", "--type", "NodePort"
    )
    assert done.returncode == 0, done.stderr
    wait_for("3 running web pods", lambda: running_pods(cluster, "app=web"), timeout=60)
    svc = cluster.kubectl_json("get", "svc", "web")
    return svc["spec"]["clusterIP"], int(svc["spec"]["ports"][0]["nodePort"])


def hostnames_via(cluster: Cluster, pod: str, url: str, tries: int) -> set[str]:
    seen = set()
    for _ in range(tries):
        done = cluster.exec(pod, "curl", "-sS", "--max-time", "3", url)
        if done.returncode == 0:
            seen.add(done.stdout.strip())
    return seen


@needs_kproxy
def test_service_clusterip_and_nodeport_reach_pods_on_every_node(cluster: Cluster) -> None:
    cluster_ip, node_port = expose_web(cluster)
    backends = {p["metadata"]["name"] for p in running_pods(cluster, "app=web") or []}
    client = cluster.topo.nodes[0]
    done = cluster.kubectl(
        "apply", "-f", "-", stdin=json.dumps(pod_manifest("client", client.name))
    )
    assert done.returncode == 0, done.stderr
    wait_for("client running", lambda: running_pods(cluster, "app=client"), timeout=60)

    # kproxy programs rules asynchronously: wait for the first answer, then count.
    url = f"http://{cluster_ip}/hostname"
    wait_for("the ClusterIP to answer", lambda: hostnames_via(cluster, "client", url, 1))
    seen: set[str] = set()
    for _ in range(30):
        seen |= hostnames_via(cluster, "client", url, 1)
        if seen == backends:
            break
    assert seen == backends  # all 3 backends, on 3 nodes, within 30 requests

    # The NodePort answers on every node's IP (asked from another node's namespace).
    probe = cluster.topo.nodes[1].netns
    for node in cluster.topo.nodes:
        url = f"http://{node.address}:{node_port}/hostname"
        got = wait_for(f"NodePort on {node.name}", partial(curl_in, probe, url))
        assert got in backends


@needs_kproxy
def test_a_deleted_pod_is_replaced_and_traffic_keeps_flowing(cluster: Cluster) -> None:
    cluster_ip, _ = expose_web(cluster)
    pods = running_pods(cluster, "app=web") or []
    victim = pods[0]["metadata"]["name"]
    client = cluster.topo.nodes[0]
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(pod_manifest("client", client.name)))
    wait_for("client running", lambda: running_pods(cluster, "app=client"), timeout=60)
    url = f"http://{cluster_ip}/hostname"
    wait_for("the ClusterIP to answer", lambda: hostnames_via(cluster, "client", url, 1))

    done = cluster.kubectl("delete", "pod", victim, "--wait=false")
    assert done.returncode == 0, done.stderr

    def replaced() -> set[str] | None:
        names = {p["metadata"]["name"] for p in running_pods(cluster, "app=web") or []}
        return names if len(names) == 3 and victim not in names else None

    now = wait_for("a replacement pod", replaced, timeout=60)
    # Traffic flows to the new set of backends, and never to the deleted pod once it is gone.
    seen: set[str] = set()
    for _ in range(30):
        seen |= hostnames_via(cluster, "client", url, 1)
        if seen == now:
            break
    assert seen == now
