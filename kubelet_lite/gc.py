"""Cleaning up after pods that no longer exist, by what the records say (never by name).

At start-up, every pod directory whose pod is not (any more) bound to this node is torn down:
its recorded processes killed (each checked against its recorded start time first), its
cgroups removed, its sandbox deleted (names derive from the pod UID), its IP released, its
directory removed. Then the IPAM store forgets any address whose owner has no directory left.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from kubelet_lite.network.conf import SandboxSpec
from kubelet_lite.network.pod_network import PodNetwork, SandboxError
from kubelet_lite.runtime import cgroups, procfs
from kubelet_lite.runtime.process import kill_session, marker
from kubelet_lite.status.checkpoint import PodDir, StateStore

log = logging.getLogger(__name__)


@dataclass
class GCReport:
    pods: list[str] = field(default_factory=list)
    killed: list[int] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def kill_process(pid: int, start_ticks: int, sig: int = signal.SIGKILL) -> bool:
    """Signal the process only if it is the recorded one (checked with a pidfd held)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        if not procfs.is_same_process(pid, start_ticks):
            return False
        signal.pidfd_send_signal(fd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(fd)


def kill_recorded(pd: PodDir, uid: str | None, timeout: float = 5.0) -> list[int]:
    """SIGKILL every recorded, still-live process of the pod (and what else runs in its
    sessions carrying the pod's mark); wait for them to be gone."""
    killed = []
    for attempts in pd.attempts().values():
        for a in attempts:
            rec = a.process
            if rec is None:
                continue
            if kill_process(rec.pid, rec.start_ticks):
                killed.append(rec.pid)
            if uid is not None:
                killed += kill_session(rec.pid, marker(uid))
    deadline = time.monotonic() + timeout
    while killed and time.monotonic() < deadline:
        alive = [p for p in killed if (st := procfs.read_stat(p)) is not None and st.state != "Z"]
        if not alive:
            break
        time.sleep(0.01)
    return killed


def teardown_pod(pd: PodDir, network: PodNetwork, uid: str | None) -> list[int]:
    """Kill, delete sandbox, remove records. Raises SandboxError if the sandbox stays."""
    killed = kill_recorded(pd, uid)
    if uid is not None:
        driver = cgroups.detect()
        if driver is not None:
            driver.remove_pod_waiting(uid)  # the processes are gone (or being reaped)
        network.delete(SandboxSpec(pod_uid=uid))
    pd.remove()
    return killed


def collect_orphans(store: StateStore, network: PodNetwork, live_uids: Iterable[str]) -> GCReport:
    """Blocking; run before the pod workers start."""
    live = set(live_uids)
    report = GCReport()
    for pd, cp in list(store.all()):
        uid = cp.uid if cp is not None else None
        if uid is not None and uid in live:
            continue
        label = f"{cp.namespace}/{cp.name} ({uid})" if cp is not None else str(pd.path)
        try:
            report.killed += teardown_pod(pd, network, uid)
            report.pods.append(label)
            log.info("gc: removed pod %s, which no longer exists", label)
        except (SandboxError, OSError) as exc:
            report.errors.append(f"{label}: {exc}")
            log.error("gc: could not remove pod %s: %s", label, exc)
    keep = [cp.uid for _, cp in store.all() if cp is not None]
    report.ips = [str(ip) for ip in network.allocator.gc(keep)]
    if report.ips:
        log.info("gc: released IPs without a pod: %s", ", ".join(report.ips))
    return report
