"""``knet cluster down``: remove everything a cluster made, by its record (and its prefix).

1. Stop the recorded processes, agents first and the control plane last (SIGTERM, then SIGKILL
   after a grace period; each checked against its recorded start time).
2. Stop whatever still lives in one of the cluster's namespaces (pods' containers, kubelet's
   zygotes) or was spawned in the cluster directory (one started just before `up` crashed).
3. Remove the namespaces: the recorded ones and every ``kn-<name>-`` one (pod namespaces that
   the kubelets made). Links live only inside those namespaces and go with them.
4. Remove the cluster directory: state, kubeconfigs, logs, the API server's data.

Works from any half-made state, and again after it succeeded (then it finds nothing).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from knet.cluster import cgroups, pod_mounts, procs, topology
from knet.cluster.state import ClusterState, StateError, cluster_dir
from knet.netlink import netns

Printer = Callable[[str], None]


@dataclass
class DownReport:
    processes: list[int] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    directory: Path | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def found_anything(self) -> bool:
        return bool(self.processes or self.namespaces or self.directory)


def cluster_namespaces(name: str, state: ClusterState | None) -> list[str]:
    """Recorded namespaces plus every namespace carrying the cluster's prefix."""
    found = set(netns.list_names(topology.prefix(name)))
    if state is not None:
        found.update(n for n in state.namespaces if netns.exists(n))
        for p in state.netns_prefixes:
            found.update(netns.list_names(p))
    return sorted(found)


def stop_processes(
    name: str, directory: Path, state: ClusterState | None, grace: float
) -> list[int]:
    stopped: list[int] = []
    if state is not None:
        # Reverse start order: the node agents before the API server they talk to.
        recorded = [(p.pid, p.start_ticks) for p in reversed(state.processes) if p.pid is not None]
        stopped += procs.stop(recorded, grace)
    inodes = [
        ino
        for ino in (procs.netns_inode(netns.path(n)) for n in cluster_namespaces(name, state))
        if ino is not None
    ]
    stragglers = set(procs.pids_in_netns(inodes))
    if directory.exists():
        stragglers.update(procs.pids_spawned_in(directory))
    stopped += procs.stop([(pid, procs.start_ticks(pid)) for pid in sorted(stragglers)], grace)
    return stopped


def down(name: str, state_root: Path, out: Printer = print, grace: float = 10.0) -> DownReport:
    topology.validate_name(name)
    directory = cluster_dir(state_root, name)
    report = DownReport()
    state: ClusterState | None = None
    try:
        state = ClusterState.load(directory)
    except StateError as e:
        # An unreadable record must not keep us from cleaning: the prefix and the directory
        # still find everything.
        report.problems.append(str(e))
    report.processes = stop_processes(name, directory, state, grace)
    for group in cgroups.remove_pod_cgroups(cgroups.pod_uids(directory)):
        report.problems.append(f"cannot remove cgroup {group} (still busy)")
    for mount in pod_mounts.unmount_pod_volumes(directory):
        report.problems.append(f"cannot unmount {mount}")
    for ns in cluster_namespaces(name, state):
        try:
            netns.remove(ns)
            report.namespaces.append(ns)
        except OSError as e:
            report.problems.append(f"cannot remove namespace {ns}: {e}")
        except Exception as e:  # NetlinkError: keep going, report at the end
            report.problems.append(str(e))
    if directory.exists():
        shutil.rmtree(directory, ignore_errors=True)
        report.directory = directory
        if directory.exists():
            report.problems.append(f"cannot remove {directory}")
    if report.found_anything:
        out(
            f"cluster {name} removed: {len(report.processes)} processes stopped, "
            f"{len(report.namespaces)} namespaces removed, {directory} deleted"
        )
    else:
        out(f"no cluster named {name} (nothing under {directory}, no {topology.prefix(name)}*)")
    for p in report.problems:
        out(f"warning: {p}")
    return report
