"""Interface and namespace names: short, stable, distinct, valid for any pod UID."""

from __future__ import annotations

import pytest

from knet.netlink import names, sysctl
from knet.netlink.exec import netns_argv

ODD_UIDS = [
    "0b8f9c3e-1c1f-4c4e-9d2b-3a7f1e0c9b11",
    "x" * 1000,
    "pod with spaces/and/slashes",
    "ünïcødé-пад-🙂",
    "a",
    "\t-leading-tab",
]


@pytest.mark.parametrize("uid", ODD_UIDS, ids=range(len(ODD_UIDS)))
def test_veth_name_fits_ifnamsiz_and_is_valid(uid: str) -> None:
    name = names.veth_name(uid)
    assert len(name) <= names.IFNAME_MAX
    assert names.validate_ifname(name) == name
    assert name.startswith("kv")
    assert name == names.veth_name(uid)  # stable


@pytest.mark.parametrize("uid", ODD_UIDS, ids=range(len(ODD_UIDS)))
def test_netns_name_is_a_safe_file_name(uid: str) -> None:
    name = names.netns_name(uid, "kt-")
    assert names.validate_netns_name(name) == name
    assert name.startswith("kt-") and len(name) == 3 + names.NETNS_HASH_LEN


def test_names_are_distinct_across_many_uids() -> None:
    uids = [f"pod-{i}" for i in range(20000)]
    assert len({names.veth_name(u) for u in uids}) == len(uids)
    assert len({names.netns_name(u) for u in uids}) == len(uids)


def test_veth_name_depends_on_interface() -> None:
    assert names.veth_name("uid", "eth0") != names.veth_name("uid", "eth1")


def test_hash_parts_are_separated() -> None:
    # ("ab", "c") must not collide with ("a", "bc").
    assert names.veth_name("ab", "c") != names.veth_name("a", "bc")


def test_empty_uid_is_rejected() -> None:
    with pytest.raises(ValueError, match="UID"):
        names.veth_name("")
    with pytest.raises(ValueError, match="UID"):
        names.netns_name("")


@pytest.mark.parametrize("prefix", ["", "KV", "toolong", "1a", "a_b", "kv\n"])
def test_bad_veth_prefix_is_rejected(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        names.veth_name("uid", "eth0", prefix)


@pytest.mark.parametrize(
    "bad", ["", "a" * 16, "a/b", "a b", "a:b", ".", "..", "tab\there", "nul\x00"]
)
def test_validate_ifname_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="interface name"):
        names.validate_ifname(bad)


@pytest.mark.parametrize("good", ["eth0", "a" * 15, "kbr0", "kv0123456789", "br-x.1"])
def test_validate_ifname_accepts(good: str) -> None:
    assert names.validate_ifname(good) == good


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", ".hidden", "with space", "x" * 201, "ns\n"])
def test_validate_netns_name_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="namespace name"):
        names.validate_netns_name(bad)


def test_netns_argv_is_an_argv_not_a_shell_string() -> None:
    argv = netns_argv("kt-pod", ["ping", "-c1", "10.244.1.3; rm -rf /"])
    assert argv == [
        "nsenter",
        "--net=/run/netns/kt-pod",
        "--",
        "ping",
        "-c1",
        "10.244.1.3; rm -rf /",
    ]


def test_netns_argv_rejects_strings_empty_commands_and_bad_names() -> None:
    with pytest.raises(TypeError):
        netns_argv("kt-pod", "ping -c1 10.0.0.1")
    with pytest.raises(ValueError, match="empty"):
        netns_argv("kt-pod", [])
    with pytest.raises(ValueError, match="namespace name"):
        netns_argv("../../proc/1/ns/net", ["true"])


@pytest.mark.parametrize("bad", ["kernel.panic", "net", "net.ipv4.ip_forward\n", "net./x"])
def test_sysctl_keys_are_net_keys_only(bad: str) -> None:
    with pytest.raises(ValueError, match="sysctl key"):
        sysctl.key_path(bad)
    assert sysctl.key_path("net.ipv4.ip_forward") == "/proc/sys/net/ipv4/ip_forward"
