"""``knet cluster status``: the nodes, their namespaces and whether each component is alive.

Read-only: it looks at the record, /proc and /run/netns, and asks the API server (briefly) for
the Nodes' Ready condition.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knet.cluster import ha, ha_status, procs, topology
from knet.cluster.state import ClusterState, cluster_dir
from knet.netlink import netns

Printer = Callable[[str], None]
COMPONENTS = ("hostgw", "kubelet", "kproxy")


@dataclass(frozen=True)
class ComponentStatus:
    role: str
    pid: int | None
    alive: bool
    log: str

    def cell(self) -> str:
        if self.pid is None:
            return "-"
        return f"{self.pid} {'up' if self.alive else 'DEAD'}"


def component(state: ClusterState, role: str) -> ComponentStatus | None:
    rec = state.process(role)
    if rec is None:
        return None
    alive = rec.pid is not None and procs.is_alive(rec.pid, rec.start_ticks)
    return ComponentStatus(role, rec.pid, alive, rec.log)


def api_nodes(url: str) -> dict[str, dict[str, Any]] | None:
    try:
        with urllib.request.urlopen(url + "/api/v1/nodes", timeout=2) as r:
            items = json.loads(r.read()).get("items") or []
    except (urllib.error.URLError, OSError, TimeoutError, ValueError):
        return None
    return {n["metadata"]["name"]: n for n in items}


def ready_text(nodes: dict[str, dict[str, Any]] | None, name: str) -> str:
    if nodes is None:
        return "unknown"  # the API server did not answer
    node = nodes.get(name)
    if node is None:
        return "absent"
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return "Ready" if cond.get("status") == "True" else "NotReady"
    return "Unknown"


def render(state: ClusterState, nodes: dict[str, dict[str, Any]] | None) -> tuple[list[str], bool]:
    """The report's lines, and whether everything recorded is alive."""
    topo = topology.build(state.name, state.nodes)
    healthy = True
    lines = [
        f"cluster {state.name}: {state.nodes} nodes, proxy mode {state.proxy_mode}",
        f"  state dir:  {state.directory}",
        f"  kubeconfig: {state.kubeconfig_path}",
    ]
    layout = ha.load_layout(state.directory)
    if layout is not None:
        ha_lines, healthy = ha_status.render(state, layout)
        lines += ha_lines
    else:
        server = component(state, "apiserver")
        if server is None or not server.alive:
            healthy = False
        api = "unreachable" if nodes is None else "answering"
        lines.append(f"  apiserver:  {server.cell() if server else '-'} ({state.api_url}, {api})")
    header = f"  {'NODE':<16} {'IP':<12} {'POD CIDR':<15} {'NETNS':<14} {'API':<9}"
    lines.append(header + "".join(f" {c.upper():<10}" for c in COMPONENTS))
    for n in topo.nodes:
        ns = n.netns if netns.exists(n.netns) else "(missing)"
        if ns == "(missing)":
            healthy = False
        row = f"  {n.name:<16} {n.ip.ip!s:<12} {n.pod_cidr!s:<15} {ns:<14} "
        row += f"{ready_text(nodes, n.name):<9}"
        for c in COMPONENTS:
            st = component(state, f"{c}/{n.name}")
            if st is not None and not st.alive:
                healthy = False
            row += f" {st.cell() if st else '-':<10}"
        lines.append(row)
    if not netns.exists(topo.underlay_netns):
        healthy = False
        lines.append(f"  switch namespace {topo.underlay_netns} is missing")
    lines.append(f"  logs: {state.logs_dir}")
    return lines, healthy


def status(name: str, state_root: Path, out: Printer = print) -> int:
    """Print the status; 0 when everything recorded runs, 1 otherwise (or no such cluster)."""
    state = ClusterState.load(cluster_dir(state_root, name))
    if state is None:
        out(f"no cluster named {name} (run: knet cluster up --name {name})")
        return 1
    lines, healthy = render(state, api_nodes(state.api_url))
    for line in lines:
        out(line)
    return 0 if healthy else 1
