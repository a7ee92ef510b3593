"""nftables mode's layout carrying real connections from outside the node: NodePort with
externalTrafficPolicy Cluster (masqueraded), Local (source kept) and Local without a local
endpoint (dropped), and a LoadBalancer source range.

Three scratch namespaces: "outside" (10.251.0.2) -- "node" (10.251.0.1 / 10.250.0.1, holds
the table, forwards) -- "pod" (10.250.0.2, a TCP server that answers with the peer address).
The table is written by NftClient from layout fragments, as the proxier would.
"""

from __future__ import annotations

import importlib.util
import selectors
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from knet.netlink import nftables as nl
from knet.netlink import nftsocket, sysctl
from kproxy.config import ProxyConfig
from kproxy.nftables.client import NftClient
from kproxy.nftables.layout import BASE, TABLE, base_fragment, service_fragment
from kproxy.nftables.trace import TRACE_TABLE, describe, run_trace
from kproxy.servicemodel import EndpointInfo, ServicePortInfo, ServicePortName

pytestmark = pytest.mark.root

NODE_POD_SIDE, POD = "10.250.0.1", "10.250.0.2"
NODE_OUT_SIDE, OUTSIDE = "10.251.0.1", "10.251.0.2"
LB_IP = "192.0.2.60"
CONFIG = ProxyConfig("node1", node_ips=(NODE_OUT_SIDE,), cluster_cidr="10.250.0.0/24")
SPN = ServicePortName("ns1", "web", "http")
LOCAL_EP = EndpointInfo(POD, 8080, node_name="node1", is_local=True)
REMOTE_EP = EndpointInfo(POD, 8080, node_name="node2", is_local=False)

SERVER = f"""
import socket
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("{POD}", 8080))
srv.listen(8)
print("ready", flush=True)
while True:
    conn, peer = srv.accept()
    conn.sendall((peer[0] + "\\n").encode())
    conn.close()
"""

CLIENT = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as s:
        print(s.makefile().readline().strip())
except TimeoutError:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
"""


def _in_netns(ns: str, code: str, *args: str) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{ns}", "--", sys.executable, "-c", code, *args]


def _veth(ipr: IPRoute, name: str, peer_ns: str, addr: str) -> None:
    ipr.link(
        "add",
        ifname=name,
        kind="veth",
        peer={"ifname": name + "p", "net_ns_fd": f"/run/netns/{peer_ns}"},
    )
    idx = ipr.link_lookup(ifname=name)[0]
    ipr.addr("add", index=idx, address=addr, prefixlen=24)
    ipr.link("set", index=idx, state="up")


def _peer_up(ns: str, name: str, addr: str, gateway: str) -> None:
    with IPRoute(netns=ns) as ipr:
        idx = ipr.link_lookup(ifname=name)[0]
        ipr.addr("add", index=idx, address=addr, prefixlen=24)
        ipr.link("set", index=idx, state="up")
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        ipr.route("add", dst="0.0.0.0/0", gateway=gateway)


@dataclass
class Topology:
    node: str
    outside: str
    pod: str

    def connect(self, ns: str, host: str, port: int) -> str:
        done = subprocess.run(
            _in_netns(ns, CLIENT, host, str(port)), capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()


@pytest.fixture
def topo(make_netns: Callable[[str], str]) -> Iterator[Topology]:
    node, outside, pod = make_netns("node"), make_netns("out"), make_netns("pod")
    with IPRoute(netns=node) as ipr:
        _veth(ipr, "kt-np", pod, NODE_POD_SIDE)
        _veth(ipr, "kt-no", outside, NODE_OUT_SIDE)
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        # Service IPs are routed somewhere, as on a real node (else "network unreachable"
        # before any filter hook sees the packet).
        ipr.route("add", dst="0.0.0.0/0", gateway=OUTSIDE)
    _peer_up(pod, "kt-npp", POD, NODE_POD_SIDE)
    _peer_up(outside, "kt-nop", OUTSIDE, NODE_OUT_SIDE)
    sysctl.ensure_ip_forward(node)
    proc = subprocess.Popen(_in_netns(pod, SERVER), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            assert sel.select(timeout=10), "server did not start"
        assert proc.stdout.readline().strip() == "ready"
        yield Topology(node, outside, pod)
    finally:
        proc.kill()
        proc.wait(timeout=10)


def program(node: str, info: ServicePortInfo, *eps: EndpointInfo) -> None:
    client = NftClient(node, TABLE)
    try:
        client.full_sync(
            {BASE: base_fragment(CONFIG), SPN: service_fragment(CONFIG, SPN, info, eps)}
        )
    finally:
        client.close()


def test_node_port_cluster_policy_masquerades_local_policy_keeps_the_source(topo: Topology) -> None:
    cluster = ServicePortInfo("10.96.0.10", 80, node_port=30080)
    program(topo.node, cluster, LOCAL_EP)
    assert topo.connect(topo.outside, NODE_OUT_SIDE, 30080) == NODE_POD_SIDE
    local = ServicePortInfo("10.96.0.10", 80, node_port=30080, external_traffic_policy_local=True)
    program(topo.node, local, LOCAL_EP)
    assert topo.connect(topo.outside, NODE_OUT_SIDE, 30080) == OUTSIDE
    # Only a remote endpoint: external traffic is dropped, pods still reach it (Cluster).
    # (The pod is the endpoint itself here: hairpin, so it sees the node's address.)
    program(topo.node, local, REMOTE_EP)
    assert topo.connect(topo.outside, NODE_OUT_SIDE, 30080) == "timeout"
    assert topo.connect(topo.pod, NODE_OUT_SIDE, 30080) == NODE_POD_SIDE
    assert topo.connect(topo.pod, "10.96.0.10", 80) == NODE_POD_SIDE


def test_no_endpoints_rejects_from_outside_too(topo: Topology) -> None:
    program(topo.node, ServicePortInfo("10.96.0.10", 80, node_port=30080))
    assert topo.connect(topo.outside, NODE_OUT_SIDE, 30080) == "refused"
    assert topo.connect(topo.pod, "10.96.0.10", 80) == "refused"


def test_load_balancer_source_ranges_admit_only_listed_sources(topo: Topology) -> None:
    with IPRoute(netns=topo.outside) as ipr:  # the LB IP is routed to the node
        ipr.route("add", dst=f"{LB_IP}/32", gateway=NODE_OUT_SIDE)
    allowed = ServicePortInfo(
        "10.96.0.10",
        80,
        load_balancer_ips=(LB_IP,),
        load_balancer_source_ranges=(f"{OUTSIDE}/32",),
    )
    program(topo.node, allowed, LOCAL_EP)
    assert topo.connect(topo.outside, LB_IP, 80) == NODE_POD_SIDE
    denied = ServicePortInfo(
        "10.96.0.10",
        80,
        load_balancer_ips=(LB_IP,),
        load_balancer_source_ranges=("198.51.100.0/24",),
    )
    program(topo.node, denied, LOCAL_EP)
    assert topo.connect(topo.outside, LB_IP, 80) == "timeout"
    assert topo.connect(topo.pod, "10.96.0.10", 80) == NODE_POD_SIDE  # hairpin


def test_the_kernels_trace_shows_a_node_port_packets_path(topo: Topology) -> None:
    program(topo.node, ServicePortInfo("10.96.0.10", 80, node_port=30080), LOCAL_EP)

    def probe() -> None:
        assert topo.connect(topo.outside, NODE_OUT_SIDE, 30080) == NODE_POD_SIDE

    steps = run_trace(topo.node, probe, NODE_OUT_SIDE, "tcp", 30080, wait=1.0)
    path = [(s.chain, s.verdict, s.target) for s in steps if s.kind == "rule"]
    ext, svc = "ext-ns1/web/tcp/http", "svc-ns1/web/tcp/http"
    assert ("nat-prerouting", "jump", "services") in path
    assert ("services", "goto", ext) in path
    assert (ext, "goto", svc) in path
    assert path.index(("services", "goto", ext)) < path.index((ext, "goto", svc))
    assert "services: rule #" in describe(steps)
    assert TRACE_TABLE not in tables_of(topo.node)  # the scratch table is gone


def tables_of(netns: str) -> set[str]:
    sock = nftsocket.open_socket(netns)
    try:
        msgs = sock.dump(nl.NFPROTO_IPV4, nl.NFT_MSG_GETTABLE)
        return {str(m.get_attr("NFTA_TABLE_NAME")) for m in msgs}
    finally:
        sock.close()


def test_trace_packet_script_explains_a_cluster_ip_packet(
    topo: Topology, capsys: pytest.CaptureFixture[str]
) -> None:
    script = Path(__file__).resolve().parents[3] / "scripts" / "trace_packet.py"
    spec = importlib.util.spec_from_file_location("kproxy_trace_packet_nft", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    program(topo.node, ServicePortInfo("10.96.0.10", 80), LOCAL_EP)
    argv = ["--nft", "--netns", topo.node, "--from-netns", topo.outside]
    assert module.main([*argv, "--dst", "10.96.0.10", "--dport", "80"]) == 0
    out = capsys.readouterr().out
    assert "services: rule #" in out and "goto svc-ns1/web/tcp/http" in out, out
    # A missing namespace is one readable line and a non-zero exit.
    assert (
        module.main(["--nft", "--netns", "kt-no-such-ns", "--dst", "10.96.0.10", "--dport", "80"])
        == 1
    )
    assert "trace_packet:" in capsys.readouterr().err
