"""`knet cluster status` of an HA control plane: etcd members (health, leader, revision), the
API servers' /readyz, the load balancer, and who holds the controller manager's and the
scheduler's Lease. Read-only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from knet.cluster import etcdmembers, procs
from knet.cluster.etcdmembers import MemberStatus
from knet.cluster.ha import HaLayout, pki_of
from knet.cluster.state import ClusterState

LEASES = ("kube-controller-manager", "kube-scheduler")


def _cell(state: ClusterState, role: str) -> tuple[str, bool]:
    rec = state.process(role)
    if rec is None or rec.pid is None:
        return "-", False
    alive = procs.is_alive(rec.pid, rec.start_ticks)
    return f"{rec.pid} {'up' if alive else 'DEAD'}", alive


def readyz(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3) as r:
            return "ok" if r.status == 200 else f"HTTP {r.status}"
    except urllib.error.HTTPError as e:
        return f"failing (HTTP {e.code})"
    except (urllib.error.URLError, OSError, TimeoutError):
        return "unreachable"


def lease_holder(api_url: str, name: str) -> str:
    url = f"{api_url}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}"
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            lease: dict[str, Any] = json.loads(r.read())
    except urllib.error.HTTPError as e:
        return "none yet" if e.code == 404 else f"unknown (HTTP {e.code})"
    except (urllib.error.URLError, OSError, TimeoutError, ValueError):
        return "unknown (API unreachable)"
    return str((lease.get("spec") or {}).get("holderIdentity") or "none")


def member_row(state: ClusterState, st: MemberStatus) -> tuple[str, bool]:
    m = st.member
    cell, alive = _cell(state, f"etcd/{m.index}")
    if st.reachable:
        health = "leader" if st.is_leader else "follower"
        extra = f"rev {st.revision}, term {st.raft_term}, db {st.db_size // 1024} KiB"
    else:
        health, extra = "unreachable", ""
    return (
        f"  {m.name:<20} {m.client_url:<26} {cell:<12} {health:<11} {extra}",
        alive and st.reachable,
    )


def render(state: ClusterState, layout: HaLayout) -> tuple[list[str], bool]:
    """The HA lines of the report, and whether every part is alive and answering."""
    healthy = True
    statuses = etcdmembers.endpoint_status(layout.members, pki_of(state))
    lines = [f"  control planes: {layout.control_planes} (etcd members behind haproxy)"]
    lines.append(f"  {'ETCD MEMBER':<20} {'CLIENT URL':<26} {'PID':<12} {'STATE':<11}")
    for st in statuses:
        row, ok = member_row(state, st)
        healthy = healthy and ok
        lines.append(row)
    if not any(st.is_leader for st in statuses):
        healthy = False
        lines.append("  etcd has no leader (no quorum?)")
    lines.append(f"  {'API SERVER':<20} {'ADDRESS':<26} {'PID':<12} {'READYZ':<11}")
    for i, port in enumerate(layout.apiserver_ports):
        cell, alive = _cell(state, f"apiserver/{i}")
        ready = readyz(port)
        healthy = healthy and alive and ready == "ok"
        lines.append(f"  {f'apiserver/{i}':<20} {f'127.0.0.1:{port}':<26} {cell:<12} {ready}")
    cell, alive = _cell(state, "haproxy")
    healthy = healthy and alive
    lines.append(f"  {'haproxy':<20} {state.api_url:<26} {cell:<12}")
    for i in range(layout.control_planes):
        for role in (f"controller-manager/{i}", f"scheduler/{i}"):
            cell, alive = _cell(state, role)
            healthy = healthy and alive
            lines.append(f"  {role:<20} {'':<26} {cell:<12}")
    holders = [f"{name}: {lease_holder(state.api_url, name)}" for name in LEASES]
    lines.append("  leaders: " + ", ".join(holders))
    return [line.rstrip() for line in lines], healthy
