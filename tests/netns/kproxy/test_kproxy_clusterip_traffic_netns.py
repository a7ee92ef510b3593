"""A rendered ClusterIP rule really carries a TCP connection (and REJECT really refuses).

Two scratch namespaces joined by a veth pair: "node" (10.250.0.1, holds the rules) and "pod"
(10.250.0.2, runs a tiny TCP server on 8080). A client in the node namespace connects to the
service VIP 172.30.9.9:80: nat OUTPUT -> KUBE-SERVICES -> KUBE-SVC -> KUBE-SEP DNAT must take it
to the pod. Programs run inside the namespaces as child processes started with nsenter.
"""

from __future__ import annotations

import selectors
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from kproxy_netns_backends import BackendFactory
from pyroute2 import IPRoute

from kproxy.config import ProxyConfig
from kproxy.iptables.render import render
from kproxy.rules.jumps import JUMP_RULES
from kproxy.servicemodel import EndpointInfo, ServicePortInfo, ServicePortName

pytestmark = pytest.mark.root

NODE_ADDR = "10.250.0.1"
POD_ADDR = "10.250.0.2"
VIP = "172.30.9.9"
EMPTY_VIP = "172.30.9.10"

SERVER = f"""
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("{POD_ADDR}", 8080))
srv.listen(1)
print("ready", flush=True)
conn, peer = srv.accept()
conn.sendall(("hello " + peer[0] + "\\n").encode())
conn.close()
"""

CLIENT = f"""
import socket
with socket.create_connection(("{VIP}", 80), timeout=5) as s:
    print(s.makefile().readline().strip())
try:
    socket.create_connection(("{EMPTY_VIP}", 80), timeout=5)
    print("connected?!")
except ConnectionRefusedError:
    print("refused")
"""


def _in_netns(ns: str, code: str) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{ns}", "--", sys.executable, "-c", code]


def _wire(node: str, pod: str) -> None:
    """veth between the two namespaces, created inside the node namespace (not the root)."""
    with IPRoute(netns=node) as ipr:
        ipr.link(
            "add",
            ifname="kt-node0",
            kind="veth",
            peer={"ifname": "kt-pod0", "net_ns_fd": f"/run/netns/{pod}"},
        )
        idx = ipr.link_lookup(ifname="kt-node0")[0]
        ipr.addr("add", index=idx, address=NODE_ADDR, prefixlen=24)
        ipr.link("set", index=idx, state="up")
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        # The VIP is routed somewhere, as on a real node; DNAT then re-routes to the pod.
        ipr.route("add", dst="0.0.0.0/0", gateway=POD_ADDR)
    with IPRoute(netns=pod) as ipr:
        idx = ipr.link_lookup(ifname="kt-pod0")[0]
        ipr.addr("add", index=idx, address=POD_ADDR, prefixlen=24)
        ipr.link("set", index=idx, state="up")
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")


@pytest.fixture
def server(make_netns: Callable[[str], str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    node, pod = make_netns("node"), make_netns("pod")
    _wire(node, pod)
    proc = subprocess.Popen(_in_netns(pod, SERVER), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            assert sel.select(timeout=10), "server did not start"
        assert proc.stdout.readline().strip() == "ready"
        yield node, proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_clusterip_reaches_the_pod(
    backend_factory: BackendFactory, server: tuple[str, subprocess.Popen[str]]
) -> None:
    node, proc = server
    web = ServicePortName("ns1", "web", "http")
    empty = ServicePortName("ns1", "empty", "http")
    services = {
        web: ServicePortInfo(VIP, 80, target_port=8080),
        empty: ServicePortInfo(EMPTY_VIP, 80),
    }
    endpoints = {web: [EndpointInfo(POD_ADDR, 8080, node_name="node1", is_local=True)]}
    config = ProxyConfig("node1", node_ips=(NODE_ADDR,), cluster_cidr="10.244.0.0/16")

    backend = backend_factory(node)
    backend.restore(render(services, endpoints, config).to_restore_text())
    for jump in JUMP_RULES:
        backend.ensure_chain(jump.table, jump.target_chain)
        backend.ensure_rule(jump.position, jump.table, jump.source_chain, jump.args())

    client = subprocess.run(
        _in_netns(node, CLIENT), capture_output=True, text=True, timeout=30, check=False
    )
    assert client.returncode == 0, client.stderr
    # The node's own traffic to a ClusterIP is masqueraded, so the pod sees the node address.
    assert client.stdout.splitlines() == [f"hello {NODE_ADDR}", "refused"]
    proc.wait(timeout=10)
