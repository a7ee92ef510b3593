"""Machines' layout, provisioning arguments and nspawn command line: pure, and checked against
the Vagrantfile so the two cannot drift apart."""

from __future__ import annotations

import re
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from knet.machines import layout, nspawn, provision

VAGRANTFILE = (Path(__file__).resolve().parents[3] / "vagrant" / "Vagrantfile").read_text()


def _ruby_const(name: str) -> str:
    m = re.search(rf'^{name} = "?([^"\n]+)"?$', VAGRANTFILE, re.M)
    assert m, name
    return m.group(1)


def test_layout_has_the_vagrantfile_machines() -> None:
    lay = layout.build("knet", 3, Path("/tmp/x"))
    vms = re.findall(r'name: "([^"]+)", ip: (API_IP|"[0-9.]+"), pod_cidr: "([^"]+)"', VAGRANTFILE)
    want = [
        (name, _ruby_const("API_IP") if ip == "API_IP" else ip.strip('"'), cidr)
        for name, ip, cidr in vms
    ]
    got = [(m.name, str(m.address), str(m.pod_cidr)) for m in lay.machines]
    assert got == want
    assert lay.api_url == f"http://{_ruby_const('API_IP')}:{_ruby_const('API_PORT')}"


def test_provisioning_args_are_the_vagrantfiles() -> None:
    lay = layout.build("knet", 3, Path("/tmp/x"))
    assert provision.control_plane_args(lay) == [
        _ruby_const("API_IP"),
        _ruby_const("API_PORT"),
        _ruby_const("CLUSTER_CIDR"),
        _ruby_const("SERVICE_CIDR"),
    ]
    w1 = lay.machine("knet-w1")
    assert provision.node_args(lay, w1) == [
        "knet-w1",
        "192.168.56.11",
        "10.244.2.0/24",
        _ruby_const("CLUSTER_CIDR"),
        "http://192.168.56.10:6443",
    ]
    steps = [what for what, _ in provision.steps(lay, lay.control_plane, "/w.whl")]
    assert steps == ["install knet", "control-plane.sh", "node.sh"]
    assert [w for w, _ in provision.steps(lay, w1, "/w.whl")] == ["install knet", "node.sh"]


def test_names_are_prefixed_distinct_and_fit() -> None:
    a = layout.build("a", 8, Path("/s"))
    b = layout.build("a1", 8, Path("/s"))
    ports = [m.underlay_port for m in a.machines + b.machines]
    assert len(set(ports)) == len(ports)
    assert all(len(p) <= 15 for p in ports)
    assert all(m.netns.startswith("km-a-") for m in a.machines)
    assert a.underlay_netns == "km-a-ul"
    assert len({m.ip for m in a.machines}) == 8
    assert all(m.ip.network == layout.UNDERLAY for m in a.machines)
    assert all(m.pod_cidr.subnet_of(IPv4Network("10.244.0.0/16")) for m in a.machines)
    assert a.directory == Path("/s/a")


@pytest.mark.parametrize("name", ["", "Knet", "a-b", "toolongname", "1a"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(layout.LayoutError):
        layout.build(name, 3)


@pytest.mark.parametrize("nodes", [0, -1, layout.MAX_NODES + 1])
def test_bad_sizes_are_refused(nodes: int) -> None:
    with pytest.raises(layout.LayoutError, match="--nodes"):
        layout.build("knet", nodes)


def test_unknown_machine_is_a_readable_error() -> None:
    with pytest.raises(layout.LayoutError, match="knet-cp"):
        layout.build("knet", 2).machine("knet-w9")


def test_nspawn_argv_needs_no_host_systemd_and_uses_our_namespace() -> None:
    argv = nspawn.nspawn_argv(Path("/r"), "km-k-knet-cp", "knet-cp", "km-k-knet-cp", "u")
    assert argv[0] == "systemd-nspawn" and "--boot" in argv
    assert {"--register=no", "--keep-unit", "--capability=CAP_NET_ADMIN"} <= set(argv)
    assert "--network-namespace-path=/run/netns/km-k-knet-cp" in argv
    assert "--hostname=knet-cp" in argv and "--machine=km-k-knet-cp" in argv
    assert nspawn.host_dirs("km-k-knet-cp")[0] == Path("/run/systemd/nspawn/propagate/km-k-knet-cp")


def test_in_machine_argv_enters_the_machine_with_a_clean_environment() -> None:
    argv = nspawn.in_machine_argv(42, ["systemctl", "status"])
    assert argv[:2] == ["nsenter", "--target=42"]
    assert {"--mount", "--net", "--pid", "--root"} <= set(argv)
    assert argv[argv.index("--") + 1 : argv.index("--") + 3] == ["env", "-i"]
    assert argv[-2:] == ["systemctl", "status"]
