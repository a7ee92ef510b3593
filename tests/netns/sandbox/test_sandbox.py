"""Pod sandboxes on a scratch node: connectivity, CNI add/del/check semantics, no leaks."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from knet.ipam.store import Owner
from knet.netlink import addrs, links, netns, routes
from knet.netlink.exec import netns_argv
from knet.netlink.names import IFNAME_MAX
from knet.netlink.session import open_session
from kubelet_lite.network.conf import NetConf, SandboxResult, SandboxSpec
from kubelet_lite.network.pod_network import PodNetwork, SandboxError

pytestmark = pytest.mark.root

SUBNET = IPv4Network("10.244.1.0/24")
GATEWAY = IPv4Address("10.244.1.1")


def spec(i: int | str) -> SandboxSpec:
    return SandboxSpec(pod_uid=f"uid-{i}", pod_name=f"pod-{i}")


def ip_files(conf: NetConf) -> list[str]:
    if not conf.ipam_dir.exists():
        return []
    return sorted(p.name for p in conf.ipam_dir.iterdir() if p.name[0].isdigit())


def node_links(node_ns: str) -> list[str]:
    with open_session(node_ns) as s:
        return sorted(link.name for link in links.list_links(s))


def ping(from_ns: str, ip: IPv4Address) -> subprocess.CompletedProcess[str]:
    argv = netns_argv(from_ns, ["ping", "-c1", "-W1", str(ip)])
    return subprocess.run(argv, capture_output=True, text=True, timeout=10)


def test_two_pods_reach_each_other_with_addresses_from_the_subnet(
    net: PodNetwork, node_ns: str
) -> None:
    if not shutil.which("ping") or not shutil.which("nsenter"):
        pytest.skip("needs ping and nsenter")
    a, b = net.add(spec("a")), net.add(spec("b"))
    for r in (a, b):
        assert r.ip in SUBNET and r.ip != GATEWAY
        assert (r.prefixlen, r.gateway, r.ifname) == (24, GATEWAY, "eth0")
        assert len(r.host_veth) <= IFNAME_MAX and r.host_veth.startswith("kv")
        assert netns.exists(r.netns) and r.netns_path == f"/run/netns/{r.netns}"
        with open_session(r.netns) as pod:
            eth0 = links.require_link(pod, "eth0", "test")
            assert eth0.up and eth0.mac == r.mac
            assert addrs.list_addrs(pod, "eth0") == [r.interface]
            default = [x for x in routes.list_routes(pod) if x.dst == routes.DEFAULT]
            assert [(x.gateway, x.oif) for x in default] == [(GATEWAY, eth0.index)]
            lo = links.require_link(pod, "lo", "test")
            assert lo.up
    assert a.ip != b.ip

    with open_session(node_ns) as node:
        br = links.require_link(node, "kbr0", "test")
        assert IPv4Interface("10.244.1.1/24") in addrs.list_addrs(node, "kbr0")
        for r in (a, b):
            port = links.require_link(node, r.host_veth, "test")
            assert (port.master, port.hairpin, port.up) == (br.index, True, True)

    assert net.check(spec("a"), a) == []
    assert net.check(spec("b")) == []
    for src, dst in ((a, b), (b, a), (a, SandboxResult(**{**vars(a), "ip": GATEWAY}))):
        result = ping(src.netns, dst.ip)
        assert result.returncode == 0, result.stdout + result.stderr


def test_add_rolls_back_everything_when_the_range_is_full(
    make_net: Callable[[str], PodNetwork], node_ns: str, pod_prefix: str
) -> None:
    net = make_net("10.244.1.0/29")  # 5 addresses
    for i in range(5):
        net.allocator.allocate(Owner(f"other-{i}", "eth0"))
    before_files = ip_files(net.conf)
    with pytest.raises(SandboxError, match=r"pod-x \(uid-x\): allocate IP: no free address"):
        net.add(spec("x"))
    assert netns.list_names(pod_prefix) == []
    # The bridge is shared node infrastructure and stays (as with the CNI bridge plugin).
    assert node_links(node_ns) == ["kbr0", "lo"]
    assert ip_files(net.conf) == before_files


def test_add_rolls_back_when_the_last_step_fails(
    net: PodNetwork, node_ns: str, pod_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    net.add(spec("warm"))  # the bridge exists; it is shared and must survive the rollback
    before_links, before_files = node_links(node_ns), ip_files(net.conf)

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("injected route failure")

    monkeypatch.setattr(routes, "ensure_default_route", broken)
    with pytest.raises(SandboxError, match="add default route: injected route failure"):
        net.add(spec("x"))
    assert netns.list_names(pod_prefix) == [net.netns_name(spec("warm"))]
    assert node_links(node_ns) == before_links
    assert ip_files(net.conf) == before_files


def test_add_refuses_an_existing_netns_and_leaves_it_alone(net: PodNetwork) -> None:
    name = net.netns_name(spec("x"))
    netns.create(name)
    with pytest.raises(SandboxError, match=r"create pod netns.*File exists"):
        net.add(spec("x"))
    assert netns.exists(name)  # not ours to remove
    assert ip_files(net.conf) == []


def test_add_twice_fails_and_keeps_the_first_sandbox(net: PodNetwork) -> None:
    first = net.add(spec("a"))
    with pytest.raises(SandboxError, match=r"create pod netns.*File exists"):
        net.add(spec("a"))
    assert net.check(spec("a"), first) == []


def test_delete_is_idempotent_and_tolerates_missing_pieces(
    net: PodNetwork, node_ns: str, pod_prefix: str
) -> None:
    baseline_links = None
    net.add(spec("warm"))
    net.delete(spec("warm"))
    baseline_links = node_links(node_ns)

    net.delete(spec("never-added"))  # nothing at all: fine

    r = net.add(spec("a"))
    net.delete(spec("a"))
    net.delete(spec("a"))  # DEL twice
    assert not netns.exists(r.netns) and ip_files(net.conf) == []

    r = net.add(spec("b"))
    netns.remove(r.netns)  # the namespace vanished (e.g. reboot wiped /run/netns)
    net.delete(spec("b"))
    assert ip_files(net.conf) == []  # the address is still released
    assert node_links(node_ns) == baseline_links
    assert netns.list_names(pod_prefix) == []


def test_check_reports_drift(net: PodNetwork, node_ns: str) -> None:
    r = net.add(spec("a"))
    assert net.check(spec("a"), r) == []

    with open_session(r.netns) as pod:
        addrs.delete_addr(pod, "eth0", r.interface)  # also drops the default route
    problems = net.check(spec("a"), r)
    assert any(f"eth0 lacks address {r.interface}" in p for p in problems), problems
    assert any(f"no default route via {GATEWAY}" in p for p in problems), problems

    (net.conf.ipam_dir / str(r.ip)).unlink()
    assert any("IPAM: no reservation" in p for p in net.check(spec("a"), r))

    with open_session(node_ns) as node:
        links.set_hairpin(node, r.host_veth, False)
    assert any("hairpin mode is off" in p for p in net.check(spec("a"), r))

    with open_session(node_ns) as node:
        links.delete_link(node, r.host_veth)
    assert any(f"host veth {r.host_veth} is missing" in p for p in net.check(spec("a"), r))

    netns.remove(r.netns)
    assert any(f"netns {r.netns} is missing" in p for p in net.check(spec("a"), r))


def test_long_and_unusual_pod_names_and_uids(net: PodNetwork) -> None:
    odd = SandboxSpec(pod_uid="U" * 300 + " ✓ / : weird", pod_name="x" * 253)
    r = net.add(odd)
    assert len(r.host_veth) <= IFNAME_MAX
    assert net.check(odd, r) == []
    net.delete(odd)
    assert not netns.exists(r.netns)
    with pytest.raises(ValueError, match="pod UID"):
        SandboxSpec(pod_uid="")
    with pytest.raises(ValueError, match="pod UID"):
        SandboxSpec(pod_uid="line\nbreak")


def test_concurrent_adds_from_threads_get_distinct_addresses(net: PodNetwork) -> None:
    results: dict[int, SandboxResult] = {}
    errors: list[BaseException] = []

    def worker(ids: range) -> None:
        try:
            for i in ids:
                results[i] = net.add(spec(i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(range(k, 24, 4),)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.ip for r in results.values()}) == 24
    assert all(net.check(spec(i), r) == [] for i, r in results.items())


def test_churn_of_200_cycles_leaks_nothing(net: PodNetwork, node_ns: str, pod_prefix: str) -> None:
    net.add(spec("warm"))
    net.delete(spec("warm"))
    links_before = node_links(node_ns)
    assert netns.list_names(pod_prefix) == [] and ip_files(net.conf) == []
    seen: set[IPv4Address] = set()
    for i in range(200):
        r = net.add(spec(i))
        seen.add(r.ip)
        net.delete(spec(i))
    assert netns.list_names(pod_prefix) == []
    assert node_links(node_ns) == links_before
    assert ip_files(net.conf) == []
    assert len(seen) > 200 - 253  # round-robin walked the range rather than reusing one IP
    assert len(seen) == 200
