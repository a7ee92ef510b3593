"""knet.netlink against the real kernel, inside scratch namespaces only."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from knet.netlink import addrs, links, netns, routes, sysctl
from knet.netlink.errors import NetlinkError
from knet.netlink.session import SessionCache, open_session

pytestmark = pytest.mark.root


def _ns_inode(path: str) -> int:
    return os.stat(path).st_ino


@pytest.fixture
def other_ns(tag: str) -> Iterator[str]:
    name = f"kt-other-{tag}"
    netns.create(name)
    try:
        yield name
    finally:
        netns.remove(name)


def test_namespaces_are_named_listed_and_removed_idempotently(tag: str) -> None:
    name = f"kt-nstest-{tag}"
    assert not netns.exists(name)
    assert netns.ensure(name) is True
    try:
        assert netns.exists(name)
        assert netns.ensure(name) is False
        assert name in netns.list_names("kt-nstest-")
        assert netns.path(name) == f"/run/netns/{name}"
        if shutil.which("ip"):  # read-only: iproute2 sees it too
            listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
            assert name in listed.stdout
        with pytest.raises(NetlinkError, match=f"create netns in netns {name}: File exists"):
            netns.create(name)
    finally:
        assert netns.remove(name) is True
    assert netns.remove(name) is False
    assert not netns.exists(name)


def test_the_calling_thread_never_changes_namespace(node_ns: str, tag: str) -> None:
    before = (_ns_inode("/proc/self/ns/net"), _ns_inode("/proc/thread-self/ns/net"))
    with open_session(node_ns) as s:
        links.ensure_bridge(s, "kbr0")
    with open_session(f"kt-fresh-{tag}", create=True):
        pass
    netns.remove(f"kt-fresh-{tag}")
    sysctl.read(node_ns, [sysctl.IP_FORWARD])
    after = (_ns_inode("/proc/self/ns/net"), _ns_inode("/proc/thread-self/ns/net"))
    assert before == after


def test_sessions_refuse_missing_namespaces_and_cross_thread_use(node_ns: str) -> None:
    with (
        pytest.raises(NetlinkError, match="netns kt-does-not-exist") as err,
        open_session("kt-does-not-exist"),
    ):
        pass
    assert err.value.errno == 2
    assert not netns.exists("kt-does-not-exist")  # opening never creates
    seen: list[BaseException] = []
    with open_session(node_ns) as s:
        t = threading.Thread(target=lambda: _capture(seen, lambda: links.list_links(s)))
        t.start()
        t.join()
    assert seen and "another thread" in str(seen[0])


def _capture(into: list[BaseException], fn: Callable[[], object]) -> None:
    try:
        fn()
    except BaseException as exc:
        into.append(exc)


def test_bridge_veth_port_and_hairpin(node_ns: str, other_ns: str) -> None:
    with open_session(node_ns) as node, open_session(other_ns) as other:
        br = links.ensure_bridge(node, "kbr0")
        assert (br.kind, br.up) == ("bridge", True)
        assert links.ensure_bridge(node, "kbr0").index == br.index  # idempotent

        host = links.create_veth(node, "kvtest000001", "eth0", other_ns, mtu=1400)
        assert (host.kind, host.mtu, host.master, host.hairpin) == ("veth", 1400, None, None)
        peer = links.get_link(other, "eth0")
        assert peer is not None and peer.kind == "veth" and peer.mtu == 1400
        assert links.get_link(node, "eth0") is None  # born in the other namespace

        with pytest.raises(
            NetlinkError,
            match=rf"create veth kvtest000001 \(peer eth1 in netns {other_ns}\) "
            rf"in netns {node_ns}: File exists",
        ):
            links.create_veth(node, "kvtest000001", "eth1", other_ns)
        info, created = links.ensure_veth(node, "kvtest000001", "eth0", other_ns)
        assert (info.index, created) == (host.index, False)
        with pytest.raises(NetlinkError, match="exists but is a bridge"):
            links.ensure_veth(node, "kbr0", "x", other_ns)
        with pytest.raises(NetlinkError, match="exists but is a veth"):
            links.ensure_bridge(node, "kvtest000001")
        with pytest.raises(NetlinkError, match="is not a bridge port"):
            links.set_hairpin(node, "kvtest000001")

        links.set_master(node, "kvtest000001", "kbr0")
        links.set_hairpin(node, "kvtest000001", True)
        links.set_up(node, "kvtest000001")
        port = links.require_link(node, "kvtest000001", "test")
        assert (port.master, port.hairpin, port.up) == (br.index, True, True)
        links.set_hairpin(node, "kvtest000001", False)
        assert links.require_link(node, "kvtest000001", "test").hairpin is False

        links.set_nomaster(node, "kvtest000001")
        links.set_nomaster(node, "kvtest000001")  # already detached: fine
        assert links.require_link(node, "kvtest000001", "test").master is None

        assert links.delete_link(node, "kvtest000001") is True
        assert links.delete_link(node, "kvtest000001") is False
        assert links.get_link(other, "eth0") is None  # the peer went with it


def test_addresses_and_routes_in_a_node_namespace(node_ns: str) -> None:
    with open_session(node_ns) as s:
        links.ensure_bridge(s, "kbr0")
        gw = IPv4Interface("10.244.1.1/24")
        assert addrs.ensure_addr(s, "kbr0", gw) is True
        assert addrs.ensure_addr(s, "kbr0", gw) is False
        assert addrs.list_addrs(s, "kbr0") == [gw]

        # A route to another node's podCIDR via that node's IP, as the cluster will need.
        other_cidr = IPv4Network("10.244.2.0/24")
        routes.ensure_route(s, other_cidr, IPv4Address("10.244.1.9"))
        routes.ensure_route(s, other_cidr, IPv4Address("10.244.1.9"))  # idempotent
        table = routes.list_routes(s)
        assert [r.gateway for r in table if r.dst == other_cidr] == [IPv4Address("10.244.1.9")]
        routes.ensure_route(s, other_cidr, IPv4Address("10.244.1.10"))  # converges: replaced
        table = routes.list_routes(s)
        assert [r.gateway for r in table if r.dst == other_cidr] == [IPv4Address("10.244.1.10")]
        routes.ensure_default_route(s, IPv4Address("10.244.1.254"), "kbr0")
        assert any(r.dst == routes.DEFAULT for r in routes.list_routes(s))

        assert routes.delete_route(s, other_cidr) is True
        assert routes.delete_route(s, other_cidr) is False
        assert addrs.delete_addr(s, "kbr0", gw) is True
        assert addrs.delete_addr(s, "kbr0", gw) is False
        assert addrs.delete_addr(s, "nolink0", gw) is False
        with pytest.raises(NetlinkError, match="link nolink0 does not exist"):
            addrs.ensure_addr(s, "nolink0", gw)
        with pytest.raises(
            NetlinkError, match=r"ensure route 10\.9\.0\.0/16 via 10\.244\.1\.1"
        ) as err:
            routes.ensure_route(s, IPv4Network("10.9.0.0/16"), IPv4Address("10.244.1.1"))
        # The errno and, after it, the kernel's own explanation (extended ACK).
        assert err.value.errno == errno.ENETUNREACH
        assert err.value.reason.startswith("Network is unreachable (ENETUNREACH): ")
        assert "gateway" in err.value.reason.lower()


def test_sysctls_are_per_namespace_and_never_for_the_root(node_ns: str) -> None:
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        root_before = f.read().strip()
    sysctl.write(node_ns, {sysctl.IP_FORWARD: 0})
    assert sysctl.read(node_ns, [sysctl.IP_FORWARD]) == {sysctl.IP_FORWARD: "0"}
    sysctl.ensure_ip_forward(node_ns)
    assert sysctl.read(node_ns, [sysctl.IP_FORWARD]) == {sysctl.IP_FORWARD: "1"}
    if os.path.exists("/proc/sys/net/bridge"):  # br_netfilter loaded
        sysctl.ensure_bridge_nf_call_iptables(node_ns)
        got = sysctl.read(node_ns, [sysctl.BRIDGE_NF_CALL_IPTABLES])
        assert got == {sysctl.BRIDGE_NF_CALL_IPTABLES: "1"}
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read().strip() == root_before

    with pytest.raises(ValueError, match="root network namespace"):
        sysctl.ensure_ip_forward(None)
    with pytest.raises(ValueError, match="not a per-namespace net"):
        sysctl.write(node_ns, {"kernel.hostname": "x"})
    with pytest.raises(ValueError, match="not a per-namespace net"):
        sysctl.read(node_ns, ["net/../../kernel/hostname"])
    with pytest.raises(NetlinkError, match="namespace does not exist"):
        sysctl.read("kt-does-not-exist", [sysctl.IP_FORWARD])
    with pytest.raises(NetlinkError, match=r"net\.ipv4\.no_such_knob"):
        sysctl.write(node_ns, {"net.ipv4.no_such_knob": 1})


def test_session_cache_reopens_when_the_namespace_is_replaced(tag: str) -> None:
    name = f"kt-cache-{tag}"
    netns.create(name)
    cache = SessionCache(name)
    try:
        s1 = cache.get()
        assert cache.get() is s1
        links.ensure_bridge(s1, "kbr0")
        netns.remove(name)
        with pytest.raises(NetlinkError, match="namespace does not exist"):
            cache.get()
        netns.create(name)  # same name, new namespace: no bridge in it
        s2 = cache.get()
        assert s2 is not s1 and s1.closed
        assert links.get_link(s2, "kbr0") is None
    finally:
        cache.close()
        netns.remove(name)
