"""cgroups per pod and per container, under a ``knet`` group of the node's hierarchy.

Two drivers, chosen at start-up by what is mounted: cgroup v2 (one unified hierarchy: a
``cgroup.controllers`` file at the root) and v1 (one hierarchy per controller, as on hybrid
machines). Each container gets ``knet[/<qos tier>]/pod<uid>/<container>`` (the kubelet's
layout: Guaranteed pods at the top, ``burstable`` and ``besteffort`` tiers for the others); the
container's process joins it itself, before it becomes the container (launch.py writes "0",
itself, to each file ``create`` names), so nothing it starts escapes the limits. Limits are the
kubelet's translation of the container's resources (``limits_for``, pure). Groups are removed
by pod UID (never by a scan): after the container ends, when the pod goes, and by GC for the
recorded pods it removes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from knet.scheduler.resources import parse_quantity

ROOT = Path("/sys/fs/cgroup")
GROUP = "knet"
CFS_PERIOD_US = 100_000
MIN_SHARES, MAX_SHARES = 2, 262_144
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids")  # cpuacct: usage, no limits


@dataclass(frozen=True)
class Limits:
    cpu_quota_us: int | None = None  # per CFS_PERIOD_US
    cpu_shares: int | None = None
    memory_bytes: int | None = None
    pids: int | None = None


def _milli(value: Any) -> int:
    return int((parse_quantity(value) * 1000).to_integral_value(rounding="ROUND_CEILING"))


def limits_for(resources: Mapping[str, Any] | None, pids: int | None = None) -> Limits:
    """As the kubelet sets them: limits.cpu → CFS quota, requests.cpu (else limits.cpu) →
    shares, limits.memory → the memory limit. Raises ValueError for a bad quantity."""
    res = resources or {}
    limits, requests = res.get("limits") or {}, res.get("requests") or {}
    quota = shares = memory = None
    if "cpu" in limits:
        quota = max(_milli(limits["cpu"]) * CFS_PERIOD_US // 1000, 1000)
    req_cpu = requests.get("cpu", limits.get("cpu"))
    if req_cpu is not None:
        shares = min(max(_milli(req_cpu) * 1024 // 1000, MIN_SHARES), MAX_SHARES)
    if "memory" in limits:
        memory = int(parse_quantity(limits["memory"]).to_integral_value(rounding="ROUND_CEILING"))
    return Limits(quota, shares, memory, pids)


# As the kubelet lays pods out: Guaranteed pods at the top, the others in a tier of their own.
QOS_TIERS = {"Guaranteed": "", "Burstable": "burstable", "BestEffort": "besteffort"}


def tier(base: Path, qos: str) -> Path:
    name = QOS_TIERS.get(qos, "besteffort")
    return base / name if name else base


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _rmdir_tree(path: Path) -> None:
    """Remove a group and its children, deepest first (groups hold no files to unlink)."""
    if not path.is_dir():
        return
    for child in sorted((p for p in path.iterdir() if p.is_dir()), reverse=True):
        _rmdir_tree(child)
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(path)


class Cgroups:
    """The driver: v1 or v2 by ``version``."""

    def __init__(self, version: int, root: Path = ROOT) -> None:
        self.version = version
        self.root = root

    def _bases(self) -> list[tuple[str, Path]]:
        if self.version == 2:
            return [("", self.root / GROUP)]
        return [(c, self.root / c / GROUP) for c in V1_CONTROLLERS]

    def _pod_dir(self, base: Path, uid: str, qos: str | None = None) -> Path:
        """The pod's group under ``base``: in its QoS class's tier when given, else in the
        tier it was made in (Guaranteed's, the top, when none is there)."""
        if qos is not None:
            return tier(base, qos) / f"pod{uid}"
        for q in QOS_TIERS:
            d = tier(base, q) / f"pod{uid}"
            if d.is_dir():
                return d
        return base / f"pod{uid}"

    def pod_dirs(self, uid: str, qos: str | None = None) -> list[Path]:
        return [self._pod_dir(base, uid, qos) for _, base in self._bases()]

    def container_dirs(self, uid: str, name: str, qos: str | None = None) -> list[Path]:
        return [d / name for d in self.pod_dirs(uid, qos)]

    def create(self, uid: str, name: str, limits: Limits, qos: str = "Guaranteed") -> list[str]:
        """Make the container's groups with its limits, in its pod's group in the tier of the
        pod's QoS class; the files its process joins them by (writing "0": itself). On v1 that
        is ``tasks``: a thread that moves itself there skips the hierarchy-wide lock a
        ``cgroup.procs`` write takes, and so an RCU grace period (10-20 ms) per container
        start; the process is single-threaded when it joins, and all it starts inherit the
        groups. v2 moves whole processes only (``cgroup.procs``)."""
        if self.version == 2:
            self._enable_v2(uid, qos)
        procs = []
        dirs = self.container_dirs(uid, name, qos)
        for (ctrl, _), d in zip(self._bases(), dirs, strict=True):
            d.mkdir(parents=True, exist_ok=True)
            for file, value in self._settings(ctrl, limits):
                _write(d / file, value)
            procs.append(str(d / ("cgroup.procs" if self.version == 2 else "tasks")))
        return procs

    def _enable_v2(self, uid: str, qos: str) -> None:
        base = self.root / GROUP
        pod = self._pod_dir(base, uid, qos)
        pod.mkdir(parents=True, exist_ok=True)
        for d in dict.fromkeys((self.root, base, tier(base, qos), pod)):
            with contextlib.suppress(OSError):
                _write(d / "cgroup.subtree_control", "+cpu +memory +pids")

    def _settings(self, ctrl: str, lim: Limits) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.version == 2:
            if lim.cpu_quota_us is not None:
                out.append(("cpu.max", f"{lim.cpu_quota_us} {CFS_PERIOD_US}"))
            if lim.cpu_shares is not None:
                weight = 1 + ((lim.cpu_shares - 2) * 9999) // 262_142
                out.append(("cpu.weight", str(weight)))
            if lim.memory_bytes is not None:
                out.append(("memory.max", str(lim.memory_bytes)))
                out.append(("memory.swap.max", "0"))
            if lim.pids is not None:
                out.append(("pids.max", str(lim.pids)))
            return out
        if ctrl == "cpu":
            if lim.cpu_quota_us is not None:
                out.append(("cpu.cfs_period_us", str(CFS_PERIOD_US)))
                out.append(("cpu.cfs_quota_us", str(lim.cpu_quota_us)))
            if lim.cpu_shares is not None:
                out.append(("cpu.shares", str(lim.cpu_shares)))
        elif ctrl == "memory" and lim.memory_bytes is not None:
            out.append(("memory.limit_in_bytes", str(lim.memory_bytes)))
            out.append(("memory.swappiness", "0"))
        elif ctrl == "pids" and lim.pids is not None:
            out.append(("pids.max", str(lim.pids)))
        return out

    def oom_kills(self, uid: str, name: str) -> int:
        """How many processes the kernel's OOM killer took from the container's group."""
        for (ctrl, _), d in zip(self._bases(), self.container_dirs(uid, name), strict=True):
            if self.version == 1 and ctrl != "memory":
                continue
            file = d / ("memory.events" if self.version == 2 else "memory.oom_control")
            try:
                for line in file.read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
            except (OSError, ValueError):
                return 0
        return 0

    def usage(self, uid: str, name: str) -> tuple[Decimal | None, int | None]:
        """(CPU seconds used, memory bytes in use) of the container, where readable."""
        cpu: Decimal | None = None
        mem: int | None = None
        with contextlib.suppress(OSError, ValueError):
            if self.version == 2:
                [d] = self.container_dirs(uid, name)
                stat = dict(line.split() for line in (d / "cpu.stat").read_text().splitlines())
                cpu = Decimal(stat["usage_usec"]) / 1_000_000
                mem = int((d / "memory.current").read_text())
            else:
                _, acct, mem_dir, _ = self.container_dirs(uid, name)
                cpu = Decimal((acct / "cpuacct.usage").read_text().strip()) / 1_000_000_000
                mem = int((mem_dir / "memory.usage_in_bytes").read_text())
        return cpu, mem

    def remove_container(self, uid: str, name: str) -> None:
        for d in self.container_dirs(uid, name):
            with contextlib.suppress(FileNotFoundError):
                try:
                    os.rmdir(d)
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        raise

    def remove_pod(self, uid: str) -> None:
        """Remove the pod's groups (its processes must be gone). Raises OSError (EBUSY)."""
        for _, base in self._bases():
            for q in QOS_TIERS:
                _rmdir_tree(tier(base, q) / f"pod{uid}")

    def remove_pod_waiting(self, uid: str, timeout: float = 2.0) -> None:
        """remove_pod, retried while the last processes are still being reaped (EBUSY)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.remove_pod(uid)
                return
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
            time.sleep(0.01)

    def pod_exists(self, uid: str) -> bool:
        return any(
            (tier(base, q) / f"pod{uid}").exists() for _, base in self._bases() for q in QOS_TIERS
        )

    def remove_if_unused(self) -> None:
        """Remove knet's own group under each controller once no pod group is left in it (other
        kubelets on this machine may still use it: then it stays)."""
        for _ctrl, base in self._bases():
            for q in ("Burstable", "BestEffort"):
                with contextlib.suppress(OSError):  # ENOENT, or EBUSY/ENOTEMPTY: in use
                    os.rmdir(tier(base, q))
            with contextlib.suppress(OSError):
                os.rmdir(base)


def detect(root: Path = ROOT) -> Cgroups | None:
    """The node's cgroup driver, or None when neither v1 nor v2 controllers are there, or
    they are not ours to write (a container's read-only /sys/fs/cgroup, as in an nspawn
    machine on a v1 host)."""
    if (root / "cgroup.controllers").exists():
        return Cgroups(2, root) if os.access(root, os.W_OK) else None
    if all((root / c).is_dir() for c in V1_CONTROLLERS):
        writable = all(os.access(root / c, os.W_OK) for c in V1_CONTROLLERS)
        return Cgroups(1, root) if writable else None
    return None
