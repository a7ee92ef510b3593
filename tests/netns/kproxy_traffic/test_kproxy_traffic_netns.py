"""kproxy with real traffic, modelled on Kubernetes' e2e network tests (test/e2e/network).

Each test runs against iptables mode with both backends (iptables-restore and python-iptables),
against userspace mode (a proxy process in the node behind REDIRECT rules) and against nftables
mode (``table ip knet-proxy`` written over netlink): real kernel,
real packets between pod namespaces, Services and EndpointSlices written to a real apiserver,
and a real kproxy process in the node namespace. Waits are bounded polls ("within N seconds it
must work"), as in e2e; they guard correctness, not speed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Cluster
from kproxy_traffic_harness import NODE_IP, netns_argv, wait_until

pytestmark = [pytest.mark.root, pytest.mark.slow]

HTTP, UDP = 80, 53
SERVERS = ("p1", "p2", "p3")
# iptables mode: upstream's 12 jumps; userspace: PREROUTING, OUTPUT and the restart hold;
# nftables mode: none (its hooks are base chains of its own table).
JUMPS_PER_MODE = {"iptables": 12, "userspace": 3, "nftables": 0}
# The base chains and dispatch chains of nftables mode's table, always present.
NFT_FIXED_CHAINS = {
    "nat-prerouting",
    "nat-output",
    "nat-postrouting",
    "filter-input",
    "filter-forward",
    "filter-output",
    "services",
    "masquerading",
    "endpoints-check",
    "reject-chain",
}


def ok(answers: list[str]) -> list[str]:
    return [a for a in answers if not a.startswith("error:")]


def reaches_all(c: Cluster, ns: str, host: str, port: int, udp: bool = False) -> set[str]:
    """Answers of up to 60 requests (new connection / source port each), stopping once every
    server pod has answered."""
    fn = c.node.udp if udp else c.node.http
    return set(ok(fn(ns, host, port, 60, len(SERVERS))))


def serving(c: Cluster, host: str, port: int, expect: set[str], ns: str | None = None) -> None:
    """Wait (bounded) until requests reach exactly the pods in ``expect``."""
    where = ns or c.client
    wait_until(
        lambda: (
            set(ok(c.node.http(where, host, port, 30, len(expect)))) == expect
            and all(a in expect for a in c.node.http(where, host, port, 10))
        ),
        20,
        f"{host}:{port} to be served by {sorted(expect)}",
    )


@pytest.fixture
def services(cluster: Cluster) -> Iterator[list[str]]:
    """Names of Services a test creates; deleted when it ends, pass or fail."""
    names: list[str] = []
    yield names
    for name in names:
        cluster.api.delete_service(name)


def make_service(
    c: Cluster,
    names: list[str],
    name: str,
    vip: str,
    pods: tuple[str, ...],
    *,
    node_port: int | None = None,
    affinity_seconds: int | None = None,
) -> None:
    names.append(name)
    c.api.create_service(name, vip, node_port=node_port, affinity_seconds=affinity_seconds)
    c.api.set_endpoints(name, c.pod_ips(*pods))


def test_pod_to_cluster_ip_http_and_udp_reach_every_endpoint(
    cluster: Cluster, services: list[str]
) -> None:
    make_service(cluster, services, "web", "10.96.10.1", SERVERS)
    serving(cluster, "10.96.10.1", HTTP, set(SERVERS))
    assert reaches_all(cluster, cluster.client, "10.96.10.1", HTTP) == set(SERVERS)
    assert reaches_all(cluster, cluster.client, "10.96.10.1", UDP, udp=True) == set(SERVERS)
    # From the node itself too (e2e "node-Service").
    assert reaches_all(cluster, cluster.node.netns, "10.96.10.1", HTTP) == set(SERVERS)


def test_udp_replies_come_from_the_cluster_ip(cluster: Cluster, services: list[str]) -> None:
    """A UDP client (a resolver, say) only trusts replies from the address it asked. From a pod
    and from the node itself, every reply must come from ClusterIP:port. (The node's datagrams
    are REDIRECTed to 127.0.0.1 in userspace mode; a reply sent from the node's own address
    would miss the conntrack entry and arrive from NODE_IP:<listener port>.)"""
    make_service(cluster, services, "dns", "10.96.10.8", ("p1", "p2"))
    serving(cluster, "10.96.10.8", HTTP, {"p1", "p2"})
    for ns in (cluster.client, cluster.node.netns):
        answers = cluster.node.udp_from(ns, "10.96.10.8", UDP, 6)
        assert len(answers) == 6
        for answer in answers:
            name, _, source = answer.partition("@")
            assert name in ("p1", "p2") and source == f"10.96.10.8:{UDP}", (ns, answers)


def test_node_and_pod_to_node_port(cluster: Cluster, services: list[str]) -> None:
    make_service(cluster, services, "np", "10.96.10.2", ("p1", "p2"), node_port=30080)
    serving(cluster, "10.96.10.2", HTTP, {"p1", "p2"})
    assert reaches_all(cluster, cluster.node.netns, NODE_IP, 30080) == {"p1", "p2"}
    assert reaches_all(cluster, cluster.client, NODE_IP, 30080) == {"p1", "p2"}
    assert reaches_all(cluster, cluster.client, NODE_IP, 30080, udp=True) == {"p1", "p2"}


def test_hairpin_pod_reaches_itself_through_its_service(
    cluster: Cluster, services: list[str]
) -> None:
    make_service(cluster, services, "self", "10.96.10.3", ("p1",))
    serving(cluster, "10.96.10.3", HTTP, {"p1"})
    p1 = cluster.node.pods["p1"].netns
    assert ok(cluster.node.http(p1, "10.96.10.3", HTTP, 5)) == ["p1"] * 5


def test_service_without_endpoints_refuses_connections(
    cluster: Cluster, services: list[str]
) -> None:
    make_service(cluster, services, "empty", "10.96.10.4", ())
    # REJECT answers at once; without the rule the SYN would vanish into the uplink (timeout).
    assert wait_until(
        lambda: cluster.node.connect(cluster.client, "10.96.10.4", HTTP) == "refused",
        20,
        "connection refused",
    )
    cluster.api.set_endpoints("empty", cluster.pod_ips("p2"))
    serving(cluster, "10.96.10.4", HTTP, {"p2"})
    cluster.api.set_endpoints("empty", [])
    assert wait_until(
        lambda: cluster.node.connect(cluster.client, "10.96.10.4", HTTP) == "refused",
        20,
        "connection refused again",
    )


def test_session_affinity_sticks_switches_and_expires(
    cluster: Cluster, services: list[str]
) -> None:
    vip, timeout = "10.96.10.5", 2
    make_service(cluster, services, "sticky", vip, SERVERS, affinity_seconds=timeout)
    wait_until(lambda: ok(cluster.node.http(cluster.client, vip, HTTP, 1)), 20, "service up")
    time.sleep(timeout + 1)  # let any affinity from the wait-loop expire
    answers = cluster.node.http(cluster.client, vip, HTTP, 15)
    assert len(set(answers)) == 1 and not answers[0].startswith("error:"), answers

    # Affinity off: requests spread over the pods.
    cluster.api.set_affinity("sticky", None)
    wait_until(
        lambda: len(set(ok(cluster.node.http(cluster.client, vip, HTTP, 30)))) > 1,
        20,
        "requests to spread once affinity is off",
    )

    # Affinity on again: sticky again.
    cluster.api.set_affinity("sticky", timeout)
    wait_until(
        lambda: len(set(cluster.node.http(cluster.client, vip, HTTP, 15))) == 1,
        20,
        "15 consecutive requests to stick to one pod",
    )

    # After `timeout` seconds without traffic the affinity expires and a new pick is made.
    def moved() -> bool:
        first = cluster.node.http(cluster.client, vip, HTTP, 3)
        time.sleep(timeout + 1.5)
        after = cluster.node.http(cluster.client, vip, HTTP, 1)
        assert len(set(first)) == 1, first  # still sticky within the timeout
        return after != first[:1]

    wait_until(moved, 60, "affinity to expire", interval=0)


def test_services_up_and_down(cluster: Cluster, services: list[str]) -> None:
    make_service(cluster, services, "svc1", "10.96.10.6", ("p1", "p2"))
    make_service(cluster, services, "svc2", "10.96.10.7", ("p3",))
    serving(cluster, "10.96.10.6", HTTP, {"p1", "p2"})
    serving(cluster, "10.96.10.7", HTTP, {"p3"})

    cluster.api.delete_service("svc1")
    wait_until(
        lambda: cluster.node.connect(cluster.client, "10.96.10.6", HTTP) != "ok",
        20,
        "svc1's VIP to go down",
    )
    assert reaches_all(cluster, cluster.client, "10.96.10.7", HTTP) == {"p3"}

    make_service(cluster, services, "svc3", "10.96.10.8", ("p1",))
    serving(cluster, "10.96.10.8", HTTP, {"p1"})
    assert reaches_all(cluster, cluster.client, "10.96.10.7", HTTP) == {"p3"}


def test_external_ips_and_load_balancer_source_ranges(
    cluster: Cluster, services: list[str]
) -> None:
    """An external IP and a LoadBalancer ingress IP reach the endpoints from a pod; the LB IP
    only from sources in loadBalancerSourceRanges (others are dropped: no answer)."""
    vip, ext_ip, lb_ip = "10.96.10.17", "192.0.2.50", "192.0.2.60"
    client_ip = cluster.node.pods["client"].ip
    services.append("lb")
    cluster.api.create_service(
        "lb",
        vip,
        extra_spec={
            "type": "LoadBalancer",
            "externalIPs": [ext_ip],
            "loadBalancerSourceRanges": [f"{client_ip}/32"],
        },
    )
    cluster.api.set_endpoints("lb", cluster.pod_ips("p1", "p2"))
    cluster.api.set_lb_ingress("lb", [lb_ip])
    serving(cluster, ext_ip, HTTP, {"p1", "p2"})
    serving(cluster, lb_ip, HTTP, {"p1", "p2"})
    if cluster.kproxy.mode == "userspace":
        pytest.skip("userspace mode: loadBalancerSourceRanges are not implemented")
    cluster.api.update_spec("lb", loadBalancerSourceRanges=["198.51.100.0/24"])
    wait_until(
        lambda: cluster.node.connect(cluster.client, lb_ip, HTTP) == "timeout",
        30,
        "the LB IP to drop a source outside its ranges",
    )
    assert reaches_all(cluster, cluster.client, ext_ip, HTTP) == {"p1", "p2"}
    assert reaches_all(cluster, cluster.client, vip, HTTP) == {"p1", "p2"}


@dataclass
class LoopResult:
    answers: Counter[str]
    failures: list[tuple[float, str]]


def _stop_loop(cluster: Cluster, stopfile: Path, out: Path) -> LoopResult:
    """Stop a background http-loop client and read its summary."""
    stopfile.touch()
    raw = wait_until(
        lambda: json.loads(out.read_text()) if out.exists() else None, 30, "client loop to end"
    )
    return LoopResult(Counter(raw["answers"]), [tuple(f) for f in raw["failures"]])


def test_endpoint_churn_fails_no_request(
    cluster: Cluster, services: list[str], tmp_path: Path
) -> None:
    vip = "10.96.10.9"
    make_service(cluster, services, "churn", vip, ("p1", "p2"))
    serving(cluster, vip, HTTP, {"p1", "p2"})
    stopfile, out = tmp_path / "stop", tmp_path / "out.json"
    cluster.node.background(cluster.client, "http-loop", vip, str(HTTP), str(stopfile), str(out))
    # Every step keeps at least one ready endpoint; the pods stay up throughout.
    steps = [
        ("p2", "p3"),
        ("p3",),
        ("p1", "p3"),
        ("p1",),
        ("p1", "p2", "p3"),
        ("p2",),
        ("p2", "p3"),
    ]
    for pods in steps:
        cluster.api.set_endpoints("churn", cluster.pod_ips(*pods))
        time.sleep(0.7)
    result = _stop_loop(cluster, stopfile, out)
    assert result.failures == []
    assert sum(result.answers.values()) >= 20, result.answers
    assert set(result.answers) == {"p1", "p2", "p3"}
    serving(cluster, vip, HTTP, {"p2", "p3"})


def test_udp_recovers_when_the_server_pod_cycles(
    cluster: Cluster, services: list[str], tmp_path: Path
) -> None:
    vip = "10.96.10.10"
    node = cluster.node
    node.add_pod("u1")
    try:
        make_service(cluster, services, "dns", vip, ("u1",))
        wait_until(lambda: ok(node.udp(cluster.client, vip, UDP, 1)) == ["u1"], 20, "udp up")
        stopfile, out = tmp_path / "stop", tmp_path / "stream.jsonl"
        node.background(cluster.client, "udp-stream", vip, str(UDP), str(stopfile), str(out))

        def answers() -> list[dict[str, object]]:
            if not out.exists():
                return []
            return [json.loads(line) for line in out.read_text().splitlines()]

        wait_until(lambda: any(a["answer"] == "u1" for a in answers()), 20, "stream via u1")
        # The pod is replaced: new pod, new IP, and the slice follows.
        node.delete_pod("u1")
        node.add_pod("u2")
        assert node.pods["u2"].ip not in cluster.pod_ips(*SERVERS)
        cluster.api.set_endpoints("dns", cluster.pod_ips("u2"))
        # The stream's one conntrack entry still points at u1 until kproxy deletes it.
        wait_until(lambda: any(a["answer"] == "u2" for a in answers()), 20, "stream via u2")
        stopfile.touch()
    finally:
        for name in ("u1", "u2"):
            if name in node.pods:
                node.delete_pod(name)


def test_restarting_kproxy_fails_no_request(
    cluster: Cluster, services: list[str], tmp_path: Path
) -> None:
    vip = "10.96.10.11"
    make_service(cluster, services, "restart", vip, ("p1", "p2"))
    serving(cluster, vip, HTTP, {"p1", "p2"})
    before = cluster.node.iptables_save(cluster.kproxy.variant)
    nft_before = cluster.node.nft_chains()
    stopfile, out = tmp_path / "stop", tmp_path / "out.json"
    cluster.node.background(cluster.client, "http-loop", vip, str(HTTP), str(stopfile), str(out))
    time.sleep(0.5)
    assert cluster.kproxy.stop(signal.SIGTERM) == 0
    # kproxy is down: rules stay, and a change made now is picked up by the next kproxy.
    assert _kube_chains(cluster.node.iptables_save(cluster.kproxy.variant)) == _kube_chains(before)
    assert cluster.node.nft_chains() == nft_before
    if cluster.kproxy.mode == "nftables":
        assert nft_before > NFT_FIXED_CHAINS, nft_before
    cluster.api.set_endpoints("restart", cluster.pod_ips("p2", "p3"))
    time.sleep(0.5)
    cluster.kproxy.start()
    time.sleep(1.0)
    result = _stop_loop(cluster, stopfile, out)
    assert result.failures == []
    assert sum(result.answers.values()) >= 10, result.answers
    serving(cluster, vip, HTTP, {"p2", "p3"})
    # The new kproxy found its jump rules in place and did not add them again.
    after = cluster.node.iptables_save(cluster.kproxy.variant)
    assert _jump_rules(after) == _jump_rules(before)
    assert len(_jump_rules(after)) == JUMPS_PER_MODE[cluster.kproxy.mode]


def test_kproxy_follows_an_apiserver_restart(cluster: Cluster, services: list[str]) -> None:
    """e2e "should work after restarting apiserver": kproxy's watches reconnect and resume."""
    make_service(cluster, services, "before", "10.96.10.14", ("p1",))
    serving(cluster, "10.96.10.14", HTTP, {"p1"})
    cluster.apiserver.stop()
    cluster.apiserver.start()
    make_service(cluster, services, "after", "10.96.10.15", ("p2",))
    serving(cluster, "10.96.10.15", HTTP, {"p2"})
    cluster.api.set_endpoints("before", cluster.pod_ips("p3"))
    serving(cluster, "10.96.10.14", HTTP, {"p3"})


def _jump_rules(save: str) -> list[str]:
    builtin = ("-A INPUT ", "-A FORWARD ", "-A OUTPUT ", "-A PREROUTING ", "-A POSTROUTING ")
    return sorted(
        line for line in save.splitlines() if line.startswith(builtin) and "kubernetes" in line
    )


def _kube_chains(save: str) -> set[str]:
    return {line.split()[0][1:] for line in save.splitlines() if line.startswith(":KUBE-")}


def test_health_and_metrics_are_served(cluster: Cluster, services: list[str]) -> None:
    make_service(cluster, services, "observed", "10.96.10.12", ("p1",))
    serving(cluster, "10.96.10.12", HTTP, {"p1"})
    node = cluster.node
    health = node.agent(node.netns, "get", "http://127.0.0.1:10256/healthz")
    assert health["status"] == 200
    assert set(json.loads(health["body"])) == {"lastUpdated", "currentTime", "nodeEligible"}
    metrics = node.agent(node.netns, "get", "http://127.0.0.1:10249/metrics")
    assert metrics["status"] == 200
    body = metrics["body"]
    assert "kubeproxy_sync_proxy_rules_last_timestamp_seconds" in body
    assert "kubeproxy_sync_partial_proxy_rules_duration_seconds_count" in body
    mode = node.agent(node.netns, "get", "http://127.0.0.1:10249/proxyMode")
    assert mode == {"status": 200, "body": cluster.kproxy.mode}


FOREIGN_RULES = """*filter
:KUBE-FIREWALL - [0:0]
-A INPUT -j KUBE-FIREWALL
-A KUBE-FIREWALL -s 198.51.100.0/24 -j DROP
COMMIT
*nat
:KT-FOREIGN - [0:0]
-A POSTROUTING -s 10.99.0.0/16 -j KT-FOREIGN
-A KT-FOREIGN -j MASQUERADE
COMMIT
"""


def test_cleanup_removes_only_what_kproxy_owns(cluster: Cluster, services: list[str]) -> None:
    node, kproxy = cluster.node, cluster.kproxy
    make_service(cluster, services, "doomed", "10.96.10.13", ("p1", "p2"))
    serving(cluster, "10.96.10.13", HTTP, {"p1", "p2"})
    # Someone else's rules, including a KUBE- chain that is kubelet's, not ours.
    restore = f"iptables-{kproxy.variant}-restore"
    subprocess.run(
        netns_argv(node.netns, restore, "--noflush"), input=FOREIGN_RULES, text=True, check=True
    )
    assert kproxy.stop() == 0
    try:
        node.run(
            netns_argv(
                node.netns,
                sys.executable,
                "-m",
                "kproxy",
                "--cleanup",
                f"--iptables-backend={kproxy.backend}",
                f"--iptables-variant={kproxy.variant}",
            )
        )
        after = node.iptables_save(kproxy.variant)
        assert _kube_chains(after) == {"KUBE-FIREWALL"}
        assert "KUBE-PROXY-CANARY" not in after and "kubernetes" not in after
        assert node.nft_chains() == set()  # nftables mode's table is gone too
        for line in FOREIGN_RULES.splitlines():
            if line.startswith("-A"):
                assert line in after, line
        # Without rules the VIP is gone (the SYN leaves through the uplink, unanswered).
        assert node.connect(cluster.client, "10.96.10.13", HTTP) != "ok"
    finally:
        kproxy.start()  # leave the module's cluster as it was
    serving(cluster, "10.96.10.13", HTTP, {"p1", "p2"})


def _portal_chains(save: str) -> set[str]:
    return {c for c in _kube_chains(save) if c.startswith("KUBE-PORTALS-")}


def test_switching_modes_removes_the_other_modes_rules(
    cluster: Cluster, services: list[str]
) -> None:
    node, kproxy = cluster.node, cluster.kproxy
    vip = "10.96.10.16"
    make_service(cluster, services, "switch", vip, ("p1", "p2"))
    serving(cluster, vip, HTTP, {"p1", "p2"})
    home = kproxy.mode
    other = "userspace" if home == "iptables" else "iptables"
    try:
        for mode in (other, home):
            assert kproxy.stop() == 0
            kproxy.start(mode)
            serving(cluster, vip, HTTP, {"p1", "p2"})
            save = node.iptables_save(kproxy.variant)
            if mode == "userspace":
                assert _portal_chains(save) == {
                    "KUBE-PORTALS-CONTAINER",
                    "KUBE-PORTALS-HOST",
                    "KUBE-PORTALS-HOLD",
                }
                # KUBE-FIREWALL is kubelet's (from the cleanup test), not iptables mode's.
                assert _kube_chains(save) - {"KUBE-FIREWALL"} == _portal_chains(save), save
            elif mode == "nftables":
                assert _kube_chains(save) - {"KUBE-FIREWALL"} == set(), save
                assert node.nft_chains() >= NFT_FIXED_CHAINS
            else:
                assert _portal_chains(save) == set()
                assert "KUBE-SERVICES" in _kube_chains(save)
            if mode != "nftables":  # its table goes when another mode starts
                assert node.nft_chains() == set()
            assert len(_jump_rules(save)) == JUMPS_PER_MODE[mode]
    finally:
        if kproxy.mode != home or kproxy.proc is None:
            kproxy.stop()
            kproxy.start(home)
