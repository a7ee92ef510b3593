"""The highly available control plane of `knet cluster up --control-planes N` (N odd, ≥ 3).

Per control plane ``i``: an etcd member (``etcd/i``), an API server on that member alone
(``apiserver/i``, as kubeadm's stacked topology), a controller manager and a scheduler
(``controller-manager/i``, ``scheduler/i``), both leader-elected through Leases in kube-system.
In front: haproxy (``haproxy``) on 127.0.0.1:<port> for kubectl and on the cluster's unix socket
for the node agents and the controllers, checking each API server's /readyz.

Every listener is on 127.0.0.1 (distinct ports, chosen once and kept in ``ha.json``) or the unix
socket; nothing is added to the root namespace. Processes are recorded in the cluster state as
every other component, so `knet cluster down` removes them, and a second `up` restarts the ones
that died (a killed etcd member rejoins with its data directory).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from ipaddress import IPv4Interface
from pathlib import Path
from typing import Any

from knet import kubeconfig
from knet.cluster import etcdmembers, loadbalancer, procs
from knet.cluster.etcdmembers import Member, Pki
from knet.cluster.state import ClusterState, cluster_dir
from knet.cluster.topology import Topology
from knet.cluster.up import (
    Printer,
    UpError,
    UpOptions,
    api_ready,
    free_port,
    running,
    spawn,
    tail,
)
from knet.cluster.up import up as up_cluster
from knet.netlink import addrs
from knet.netlink.session import open_session

LAYOUT_FILE = "ha.json"
MAX_CONTROL_PLANES = 7


@dataclass(frozen=True)
class HaLayout:
    members: tuple[Member, ...]
    apiserver_ports: tuple[int, ...]

    @property
    def control_planes(self) -> int:
        return len(self.members)

    def to_dict(self) -> dict[str, Any]:
        return {
            "members": [m.to_dict() for m in self.members],
            "apiserverPorts": list(self.apiserver_ports),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HaLayout:
        return cls(
            tuple(Member.from_dict(m) for m in d["members"]),
            tuple(int(p) for p in d["apiserverPorts"]),
        )


HA_TOOLS = {"etcd": "etcd-server", "etcdctl": "etcd-client", "haproxy": "haproxy"}


def check_tools(which: Callable[[str], str | None] = shutil.which) -> None:
    missing = [tool for tool in HA_TOOLS if which(tool) is None]
    if missing:
        packages = " ".join(sorted({HA_TOOLS[t] for t in missing}))
        raise UpError(
            f"--control-planes needs {', '.join(missing)}: apt-get install {packages} "
            "(scripts/setup installs them)"
        )


def check_count(control_planes: int) -> None:
    """An etcd cluster wants an odd size: an even one tolerates no more failures than the odd
    one below it and needs a larger quorum."""
    if control_planes == 1:
        return
    if not (3 <= control_planes <= MAX_CONTROL_PLANES) or control_planes % 2 == 0:
        raise UpError(
            f"--control-planes {control_planes}: use 1 (SQLite) or an odd number from 3 to "
            f"{MAX_CONTROL_PLANES} (etcd needs a majority of its members)"
        )


def plan(cluster: str, control_planes: int) -> HaLayout:
    members = tuple(
        Member(i, f"{cluster}-etcd-{i}", free_port(), free_port(), free_port())
        for i in range(control_planes)
    )
    return HaLayout(members, tuple(free_port() for _ in range(control_planes)))


def layout_path(directory: Path) -> Path:
    return directory / LAYOUT_FILE


def load_layout(directory: Path) -> HaLayout | None:
    try:
        return HaLayout.from_dict(json.loads(layout_path(directory).read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UpError(f"{layout_path(directory)} cannot be read: {e}") from None


def check_mode(directory: Path, control_planes: int) -> None:
    """A cluster keeps the number of control planes it was made with."""
    layout = load_layout(directory)
    have = 1 if layout is None else layout.control_planes
    if (directory / "state.json").exists() and have != control_planes:
        raise UpError(
            f"cluster {directory.name} exists with {have} control plane(s); run `knet cluster "
            f"down --name {directory.name}` first to change that"
        )


def up(opts: UpOptions, out: Printer = print) -> ClusterState:
    """`knet cluster up` for any number of control planes: 1 is up.py's own control plane;
    0 means as recorded (a new cluster: 1), so a plain `up` (as `knet demo` runs it) keeps an
    HA cluster HA."""
    if opts.control_planes == 0:
        layout = load_layout(cluster_dir(opts.state_root, opts.name))
        opts = replace(opts, control_planes=1 if layout is None else layout.control_planes)
    check_count(opts.control_planes)
    if opts.control_planes > 1:
        check_tools()
    check_mode(cluster_dir(opts.state_root, opts.name), opts.control_planes)
    if opts.control_planes == 1:
        return up_cluster(opts, out)
    return up_cluster(opts, out, control_plane=ensure_control_plane)


def pki_of(state: ClusterState) -> Pki:
    return pki_of_dir(state.directory)


def pki_of_dir(directory: Path) -> Pki:
    return Pki(directory / "pki")


def _layout(state: ClusterState, control_planes: int) -> HaLayout:
    layout = load_layout(state.directory)
    if layout is None:
        layout = plan(state.name, control_planes)
        state.add_file(layout_path(state.directory))
        layout_path(state.directory).write_text(json.dumps(layout.to_dict(), indent=1))
    return layout


def _wait(
    what: str, ready: Callable[[], bool], roles: list[str], state: ClusterState, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        for role in roles:
            rec = state.process(role)
            if (
                rec is not None
                and rec.pid is not None
                and not procs.is_alive(rec.pid, rec.start_ticks)
            ):
                raise UpError(f"{role} exited: {tail(rec.log)} (log: {rec.log})")
        if time.monotonic() > deadline:
            raise UpError(f"{what} not ready after {timeout:.0f}s (logs in {state.logs_dir})")
        time.sleep(0.1)


def ensure_etcd(state: ClusterState, layout: HaLayout, timeout: float, out: Printer) -> None:
    where = pki_of(state)
    etcdmembers.ensure_pki(where, layout.members)
    token = f"knet-{state.name}"
    roles = []
    for m in layout.members:
        role = f"etcd/{m.index}"
        roles.append(role)
        if running(state, role) is None:
            out(f"etcd member {m.name} on {m.client_url}")
            data = state.directory / "etcd" / m.name
            spawn(state, role, etcdmembers.member_argv(m, layout.members, where, data, token))
    # A member is healthy once the cluster has a leader, so wait for all after starting all.
    _wait(
        "etcd",
        lambda: all(etcdmembers.healthy(m) for m in layout.members),
        roles,
        state,
        timeout,
    )


def apiserver_argv(
    state: ClusterState, topo: Topology, layout: HaLayout, i: int, python: str
) -> list[str]:
    where = pki_of(state)
    return [
        python,
        "-m",
        "knet.cli",
        "apiserver",
        "--bind-address",
        "127.0.0.1",
        "--port",
        str(layout.apiserver_ports[i]),
        "--data-dir",
        str(state.directory / f"apiserver-{i}"),
        "--etcd-servers",
        layout.members[i].client_url,
        "--etcd-cafile",
        str(where.ca.cert),
        "--etcd-certfile",
        str(where.client.cert),
        "--etcd-keyfile",
        str(where.client.key),
        "--service-cluster-ip-range",
        str(topo.service_cidr),
        "--kubelet-netns",
        topo.underlay_netns,
        # Each API server has its own address on the switch, all on one port, as on separate
        # machines: the kubernetes Service lists them, and pods (kube-dns) reach them there.
        "--advertise-address",
        str(advertise_ip(topo, i).ip),
        "--advertise-netns",
        topo.underlay_netns,
        "--advertise-port",
        str(ADVERTISE_PORT),
    ]


ADVERTISE_PORT = 6443


def advertise_ip(topo: Topology, i: int) -> IPv4Interface:
    """API server ``i``'s address on the underlay: below the switch's own, counting down."""
    return IPv4Interface(f"{topo.switch_ip.ip - 1 - i}/{topo.switch_ip.network.prefixlen}")


def ensure_advertise_addresses(topo: Topology, count: int) -> None:
    with open_session(topo.underlay_netns) as s:
        for i in range(count):
            addrs.ensure_addr(s, topo.underlay_bridge, advertise_ip(topo, i))


def ensure_apiservers(
    state: ClusterState, topo: Topology, layout: HaLayout, opts: UpOptions, out: Printer
) -> None:
    ensure_advertise_addresses(topo, len(layout.apiserver_ports))
    roles = []
    for i, port in enumerate(layout.apiserver_ports):
        role = f"apiserver/{i}"
        roles.append(role)
        if running(state, role) is None:
            out(f"API server {i} on 127.0.0.1:{port} (etcd {layout.members[i].name})")
            spawn(state, role, apiserver_argv(state, topo, layout, i, opts.python))
    _wait(
        "the API servers",
        lambda: all(api_ready(f"http://127.0.0.1:{p}") for p in layout.apiserver_ports),
        roles,
        state,
        opts.timeout,
    )


def ensure_load_balancer(
    state: ClusterState, layout: HaLayout, opts: UpOptions, out: Printer
) -> None:
    cfg = state.directory / "haproxy.cfg"
    state.add_file(cfg)
    backends = [(f"apiserver-{i}", f"127.0.0.1:{p}") for i, p in enumerate(layout.apiserver_ports)]
    binds = loadbalancer.local_binds(state.port, state.socket_path)
    cfg.write_text(loadbalancer.config(binds, backends))
    checked = subprocess.run(loadbalancer.check_argv(cfg), capture_output=True, text=True)
    if checked.returncode != 0:
        raise UpError(f"haproxy rejects {cfg}: {checked.stderr.strip()[-300:]}")
    if running(state, "haproxy") is None:
        out(f"load balancer (haproxy) on {state.api_url} and {state.socket_path}")
        state.socket_path.unlink(missing_ok=True)  # a stale socket of a killed haproxy
        spawn(state, "haproxy", loadbalancer.argv(cfg))
    _wait("the load balancer", lambda: api_ready(state.api_url), ["haproxy"], state, opts.timeout)


def controller_argvs(
    state: ClusterState, topo: Topology, i: int, python: str
) -> dict[str, list[str]]:
    """The leader-elected controller manager and scheduler of control plane ``i``; they reach
    the API through the load balancer, so losing one API server does not cost the lease."""
    common = [
        "--kubeconfig",
        str(state.node_kubeconfig_path),
        "--leader-elect",
        "--leader-elect-identity",
        f"{state.name}-cp{i}",
    ]
    base = [python, "-m", "knet.cli"]
    return {
        f"controller-manager/{i}": [
            *base,
            "controller-manager",
            *common,
            "--cluster-cidr",
            str(topo.cluster_cidr),
        ],
        f"scheduler/{i}": [*base, "scheduler", *common],
    }


def ensure_control_plane(
    state: ClusterState, topo: Topology, opts: UpOptions, out: Printer
) -> HaLayout:
    """Everything of the HA control plane that is missing; the kubeconfigs point at haproxy."""
    layout = _layout(state, opts.control_planes)
    if layout.control_planes != opts.control_planes:
        raise UpError(f"cluster {state.name} has {layout.control_planes} control planes")
    ensure_etcd(state, layout, opts.timeout, out)
    ensure_apiservers(state, topo, layout, opts, out)
    ensure_load_balancer(state, layout, opts, out)
    state.add_file(state.kubeconfig_path)
    kubeconfig.write(state.kubeconfig_path, state.api_url, name=f"knet-{state.name}")
    state.add_file(state.node_kubeconfig_path)
    kubeconfig.write(
        state.node_kubeconfig_path, f"unix://{state.socket_path}", name=f"knet-{state.name}"
    )
    for i in range(layout.control_planes):
        for role, argv in controller_argvs(state, topo, i, opts.python).items():
            if running(state, role) is None:
                spawn(state, role, argv)
    return layout
