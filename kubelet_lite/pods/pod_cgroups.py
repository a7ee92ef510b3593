"""A pod's cgroups as its sync uses them (runtime/cgroups.py is the driver): a container's
groups made with its limits before it starts (and the pod's pids limit on the pod's group),
the OOM killer's verdict read and the group removed after each run, the pod's groups removed
once its processes are gone."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging

from knet.api.base import to_wire
from knet.api.core import Container
from kubelet_lite.pods.container_spec import ContainerConfigError
from kubelet_lite.runtime import cgroups
from kubelet_lite.runtime.process import ExitRecord

log = logging.getLogger(__name__)

OOM_EXIT = 137


def container_cgroup(
    driver: cgroups.Cgroups | None,
    uid: str,
    c: Container,
    max_pids: int = -1,
    qos: str = "BestEffort",
) -> list[str]:
    """Make the container's cgroups with its limits, in the tier of the pod's QoS class; the
    files its process joins them by. Raises ContainerConfigError."""
    if driver is None:
        return []
    resources = to_wire(c.resources) if c.resources is not None else None
    try:
        limits = cgroups.limits_for(resources)
    except ValueError as exc:
        raise ContainerConfigError(f"container {c.name!r}: resources: {exc}") from None
    try:
        procs = driver.create(uid, c.name, limits, qos)
        if max_pids > 0:
            pod_pids_limit(driver, uid, max_pids)
    except OSError as exc:
        raise ContainerConfigError(f"container {c.name!r}: cgroup: {exc}") from None
    return procs


def pod_pids_limit(driver: cgroups.Cgroups, uid: str, max_pids: int) -> None:
    """--pod-max-pids, as the kubelet applies it: on the pod's group, so that all of its
    containers' processes together stay under it."""
    for d in driver.pod_dirs(uid):
        limit = d / "pids.max"
        if limit.exists() and limit.read_text().strip() != str(max_pids):
            limit.write_text(str(max_pids))


def after_exit(driver: cgroups.Cgroups | None, uid: str, name: str, rec: ExitRecord) -> ExitRecord:
    """Read the OOM killer's count, then remove the run's group (the next run gets a fresh
    one, with a fresh count)."""
    if driver is None:
        return rec
    if rec.exit_code == OOM_EXIT and driver.oom_kills(uid, name) > 0:
        rec = dataclasses.replace(rec, oom_killed=True)
    try:
        driver.remove_container(uid, name)
    except OSError as exc:
        log.warning("pod %s: cgroup of %s stays: %s", uid, name, exc)
    return rec


async def remove_pod_cgroups(driver: cgroups.Cgroups | None, uid: str, label: str) -> None:
    """The containers have ended; their last processes may still be being reaped (EBUSY)."""
    if driver is None:
        return
    for _ in range(200):
        try:
            driver.remove_pod(uid)
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                log.warning("pod %s: cgroups stay: %s", label, exc)
                return
        await asyncio.sleep(0.01)
    log.warning("pod %s: cgroups stay: still busy after 2s", label)
