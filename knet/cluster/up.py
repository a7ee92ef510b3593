"""``knet cluster up``: make (or finish making) a local cluster; running it again is harmless.

Order: the control plane (root namespace: 127.0.0.1 for kubectl, a unix socket in the state
directory for the node agents) → the underlay namespace and its bridge → per node a namespace
with eth0 on the bridge, the node set-up (node_bootstrap.prepare) and its agents, each started
inside the node namespace through nsenter → wait until every Node is Ready.

Each thing is recorded in the state file before it is made; each step checks what exists and
makes only what is missing, so a second `up` after a crash finishes the job. Nothing here
touches the root network namespace: links, addresses and sysctls are made only in namespaces
this cluster created, through sessions opened inside them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knet import kubeconfig
from knet.cluster import addons, node_bootstrap, procs, topology
from knet.cluster.state import ClusterState, ProcessRecord, check_socket_path, cluster_dir
from knet.cluster.topology import NodeTopology, Topology
from knet.netlink import addrs, links, netns
from knet.netlink.exec import NSENTER, netns_argv
from knet.netlink.session import open_session

Printer = Callable[[str], None]
REQUIRED_TOOLS = ("nsenter", "iptables", "iptables-restore")
BRIDGE_NF_DIR = Path("/proc/sys/net/bridge")


class UpError(Exception):
    """`up` cannot go on; the message is one line saying why and what to do."""


@dataclass(frozen=True)
class UpOptions:
    name: str = topology.DEFAULT_NAME
    nodes: int = 3
    proxy_mode: str = "iptables"
    state_root: Path = Path("/var/lib/knet/clusters")
    port: int = 0  # 0: pick a free one
    timeout: float = 120.0  # for the API server and for the nodes to become Ready
    python: str = field(default=sys.executable)
    control_planes: int = 1  # 1: SQLite in one process; 3, 5, 7: etcd members (cluster/ha.py)


def preflight(which: Callable[[str], str | None] = shutil.which) -> None:
    """Raise UpError (one line) when we are not root or a dependency is missing."""
    if os.geteuid() != 0:
        raise UpError("knet cluster up must run as root (it creates network namespaces)")
    missing = [tool for tool in REQUIRED_TOOLS if which(tool) is None]
    if missing:
        raise UpError(
            f"missing {', '.join(missing)}: install them (Debian: apt-get install util-linux "
            "iptables)"
        )
    if not BRIDGE_NF_DIR.is_dir():
        raise UpError(
            "the br_netfilter kernel module is not loaded (kube-proxy's rules need bridged "
            "traffic to pass iptables): run `modprobe br_netfilter`"
        )
    if not node_bootstrap.module_available("kubelet_lite"):
        raise UpError("kubelet-lite is not installed (python -m kubelet_lite does not exist)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def locked(
    directory: Path,
    who: str = "knet cluster up/down",
    error: Callable[[str], Exception] = UpError,
) -> Iterator[None]:
    """One `up` or `down` of a cluster (or of ``who``) at a time: ``error`` if another holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise error(f"another {who} is working on {directory}") from None
        yield
    finally:
        os.close(fd)


def log_path(state: ClusterState, role: str) -> Path:
    return state.logs_dir / (role.replace("/", "-") + ".log")


def spawn(state: ClusterState, role: str, argv: Sequence[str]) -> ProcessRecord:
    """Start ``argv`` detached (its own session, outliving `up`), logging to the role's log, in
    the cluster directory. The intent is recorded first, so a process spawned just before a
    crash is adopted by the next `up` (found by directory and exact command line) and found
    by `down`."""
    log = log_path(state, role)
    log.parent.mkdir(parents=True, exist_ok=True)
    state.set_process(ProcessRecord(role=role, argv=list(argv), log=str(log)))
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=state.directory,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
    record = ProcessRecord(
        role=role,
        argv=list(argv),
        log=str(log),
        pid=proc.pid,
        start_ticks=procs.start_ticks(proc.pid),
    )
    state.set_process(record)
    return record


def _command_lines(argv: Sequence[str]) -> list[list[str]]:
    """How a spawned argv can look in /proc: as spawned, or, once nsenter has exec'd the
    command, without the nsenter prefix."""
    forms = [list(argv)]
    if argv and argv[0] == NSENTER and "--" in argv:
        forms.append(list(argv[list(argv).index("--") + 1 :]))
    return forms


def running(state: ClusterState, role: str) -> ProcessRecord | None:
    """The live process of ``role``, adopting one whose spawn was not recorded."""
    rec = state.process(role)
    if rec is None:
        return None
    if rec.pid is None:
        found = procs.find_started(state.directory, _command_lines(rec.argv))
        if found is None:
            return None
        rec.pid, rec.start_ticks = found
        state.set_process(rec)
    if procs.is_alive(rec.pid, rec.start_ticks):
        return rec
    return None


def tail(path: str | Path, lines: int = 5) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(text.strip().splitlines()[-lines:])


# ---------------------------------------------------------------------------- control plane


def server_argv(state: ClusterState, topo: Topology, python: str) -> list[str]:
    return [
        python,
        "-m",
        "knet.cli",
        "server",
        "--bind-address",
        "127.0.0.1",
        "--port",
        str(state.port),
        "--data-dir",
        str(state.directory / "apiserver"),
        "--unix-socket",
        str(state.socket_path),
        "--service-cluster-ip-range",
        str(topo.service_cidr),
        "--cluster-cidr",
        str(topo.cluster_cidr),
        # Kubelet APIs are dialed from the underlay, where every node address is (DESIGN §7).
        "--kubelet-netns",
        topo.underlay_netns,
        # Pods reach the API through the kubernetes Service: its endpoint is the switch's
        # address, a listener the API server opens inside the underlay (docs/dns.md).
        "--advertise-address",
        str(topo.switch_ip.ip),
        "--advertise-netns",
        topo.underlay_netns,
    ]


def _get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def api_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


def ensure_control_plane(
    state: ClusterState, topo: Topology, opts: UpOptions, out: Printer
) -> None:
    role = "apiserver"
    if running(state, role) is None:
        out(f"starting the control plane on {state.api_url} and {state.socket_path}")
        spawn(state, role, server_argv(state, topo, opts.python))
    rec = state.process(role)
    assert rec is not None and rec.pid is not None
    deadline = time.monotonic() + opts.timeout
    while not api_ready(state.api_url):
        if not procs.is_alive(rec.pid, rec.start_ticks):
            raise UpError(f"the API server exited: {tail(rec.log)} (log: {rec.log})")
        if time.monotonic() > deadline:
            raise UpError(f"the API server is not ready after {opts.timeout:.0f}s (log: {rec.log})")
        time.sleep(0.1)
    state.add_file(state.kubeconfig_path)
    kubeconfig.write(state.kubeconfig_path, state.api_url, name=f"knet-{state.name}")
    state.add_file(state.node_kubeconfig_path)
    kubeconfig.write(
        state.node_kubeconfig_path, f"unix://{state.socket_path}", name=f"knet-{state.name}"
    )


# ---------------------------------------------------------------------------- network


def ensure_underlay(state: ClusterState, topo: Topology) -> None:
    state.add_namespace(topo.underlay_netns)
    netns.ensure(topo.underlay_netns)
    state.add_link(topo.underlay_netns, topo.underlay_bridge)
    with open_session(topo.underlay_netns) as s:
        links.set_up(s, "lo")
        links.ensure_bridge(s, topo.underlay_bridge)
        # Where the API server's sockets to the kubelets (made in this namespace) come from.
        addrs.ensure_addr(s, topo.underlay_bridge, topo.switch_ip)


def ensure_node_link(state: ClusterState, topo: Topology, node: NodeTopology) -> None:
    """The node's namespace, and its eth0 plugged into the switch with the node IP."""
    state.add_namespace(node.netns)
    netns.ensure(node.netns)
    state.add_link(topo.underlay_netns, node.underlay_port)
    state.add_link(node.netns, node.ifname)
    with open_session(topo.underlay_netns) as s:
        bridge = links.ensure_bridge(s, topo.underlay_bridge)
        port = links.get_link(s, node.underlay_port)
        if port is None:
            # The peer is born inside the node namespace as eth0: never in the root namespace.
            links.create_veth(
                s, node.underlay_port, node.ifname, peer_netns=node.netns, master=bridge, up=True
            )
        else:
            links.set_master(s, port, bridge)
            links.set_up(s, port)
    with open_session(node.netns) as s:
        addrs.ensure_addr(s, node.ifname, node.ip)
        links.set_up(s, node.ifname)


def node_config(
    state: ClusterState, topo: Topology, node: NodeTopology, python: str
) -> node_bootstrap.NodeConfig:
    return node_bootstrap.NodeConfig(
        node_name=node.name,
        node_ip=node.address,
        pod_cidr=node.pod_cidr,
        cluster_cidr=topo.cluster_cidr,
        kubeconfig=state.node_kubeconfig_path,
        root_dir=state.node_dir(node.name) / "kubelet",
        netns=node.netns,
        bridge=node.bridge,
        proxy_mode=state.proxy_mode,
        pod_netns_prefix=topo.pod_netns_prefix,
        python=python,
    )


def ensure_node(
    state: ClusterState, topo: Topology, node: NodeTopology, opts: UpOptions, out: Printer
) -> None:
    ensure_node_link(state, topo, node)
    cfg = node_config(state, topo, node, opts.python)
    state.add_link(node.netns, node.bridge)
    node_bootstrap.prepare(cfg)
    with_kproxy = node_bootstrap.module_available("kproxy")
    for component, argv in node_bootstrap.agent_argvs(cfg, kproxy=with_kproxy).items():
        role = f"{component}/{node.name}"
        if running(state, role) is None:
            spawn(state, role, netns_argv(node.netns, argv))
    if not with_kproxy:
        out(f"{node.name}: kproxy is not installed yet (no python -m kproxy); Services won't work")


# ---------------------------------------------------------------------------- readiness


def node_ready(node: dict[str, Any]) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def wait_nodes_ready(state: ClusterState, topo: Topology, timeout: float) -> list[str]:
    """Wait until every node is Ready; the names of those that are not when time runs out."""
    wanted = {n.name for n in topo.nodes}
    deadline = time.monotonic() + timeout
    not_ready = sorted(wanted)
    while True:
        with contextlib.suppress(urllib.error.URLError, OSError, TimeoutError, ValueError):
            items = _get_json(state.api_url + "/api/v1/nodes").get("items") or []
            ready = {n["metadata"]["name"] for n in items if node_ready(n)}
            not_ready = sorted(wanted - ready)
        if not not_ready or time.monotonic() > deadline:
            return not_ready
        for name in not_ready:
            rec = state.process(f"kubelet/{name}")
            if (
                rec is not None
                and rec.pid is not None
                and not procs.is_alive(rec.pid, rec.start_ticks)
            ):
                raise UpError(f"kubelet-lite of {name} exited: {tail(rec.log)} ({rec.log})")
        time.sleep(0.25)


def check_all_running(state: ClusterState) -> None:
    """Every recorded component still runs (one that exited at start-up, e.g. on a flag it
    does not accept, is reported with the end of its log)."""
    for rec in state.processes:
        if rec.pid is None or not procs.is_alive(rec.pid, rec.start_ticks):
            raise UpError(f"{rec.role} exited: {tail(rec.log, 2)} (log: {rec.log})")


# ---------------------------------------------------------------------------- up


def load_or_create(opts: UpOptions) -> ClusterState:
    directory = cluster_dir(opts.state_root, opts.name)
    state = ClusterState.load(directory)
    if state is None:
        state = ClusterState(
            directory=directory,
            name=opts.name,
            nodes=opts.nodes,
            proxy_mode=opts.proxy_mode,
            port=opts.port or free_port(),
        )
        state.save()
        return state
    if state.nodes != opts.nodes or state.proxy_mode != opts.proxy_mode:
        raise UpError(
            f"cluster {opts.name} exists with {state.nodes} nodes and proxy mode "
            f"{state.proxy_mode}; run `knet cluster down --name {opts.name}` first to change that"
        )
    return state


ControlPlane = Callable[[ClusterState, Topology, UpOptions, Printer], object]


def up(
    opts: UpOptions, out: Printer = print, control_plane: ControlPlane = ensure_control_plane
) -> ClusterState:
    """Bring the cluster up (finishing whatever is missing); raises UpError. ``control_plane``
    makes the API endpoint and writes the kubeconfigs (cluster/ha.py passes its own)."""
    preflight()
    if opts.proxy_mode not in node_bootstrap.PROXY_MODES:
        raise UpError(f"--proxy-mode must be one of {', '.join(node_bootstrap.PROXY_MODES)}")
    try:
        topo = topology.build(opts.name, opts.nodes)
    except topology.TopologyError as e:
        raise UpError(str(e)) from None
    directory = cluster_dir(opts.state_root, opts.name)
    check_socket_path(directory / "apiserver.sock")
    with locked(directory):
        state = load_or_create(opts)
        state.add_netns_prefix(topo.pod_netns_prefix)
        state.add_file(directory / "lock")
        # The underlay first: the API server listens on the switch's address in it.
        out(f"switch: namespace {topo.underlay_netns}, bridge {topo.underlay_bridge}")
        ensure_underlay(state, topo)
        control_plane(state, topo, opts, out)
        # The add-on's objects now: its pods are scheduled as soon as nodes become Ready. The
        # cluster has no way out (nothing routes beyond the underlay), so no forwarding.
        try:
            addons.ensure_dns(state.api_url, str(topo.service_cidr), out, forward=False)
        except addons.AddonError as e:
            raise UpError(str(e)) from None
        for node in topo.nodes:
            out(f"{node.name}: namespace {node.netns}, {node.ip.ip}, pods {node.pod_cidr}")
            ensure_node(state, topo, node, opts, out)
        out(f"waiting for {len(topo.nodes)} nodes to become Ready")
        late = wait_nodes_ready(state, topo, opts.timeout)
        if late:
            logs = ", ".join(log_path(state, f"kubelet/{n}").name for n in late)
            raise UpError(
                f"nodes not Ready after {opts.timeout:.0f}s: {', '.join(late)} "
                f"(logs in {state.logs_dir}: {logs})"
            )
        out("waiting for the kube-dns add-on to become ready")
        if not addons.wait_dns_ready(state.api_url, opts.timeout):
            raise UpError(
                f"the coredns pods are not ready after {opts.timeout:.0f}s: see kubectl -n "
                f"kube-system describe pods -l k8s-app=kube-dns (logs in {state.logs_dir})"
            )
        check_all_running(state)
    out(f"cluster {opts.name} is up: kubectl --kubeconfig {state.kubeconfig_path} get nodes")
    return state
