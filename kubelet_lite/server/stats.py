"""``/stats/summary``: CPU and memory of the node and of each running container, in the shape of
the kubelet's Summary API (the subset the API server's ``metrics.k8s.io`` reads).

Containers are read from their cgroups (``cpu.stat``/``memory.current`` on v2, ``cpuacct`` and
``memory`` on v1) and, where there are none, from their main process in ``/proc``. The node is
the machine (``/proc/stat``, ``/proc/meminfo``), as a kubelet reads its root cgroup. CPU is a
counter; its rate (``usageNanoCores``) comes from the previous reading of the same thing, and a
request that finds no recent one reads twice, ``FIRST_WINDOW`` apart.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from kubelet_lite.runtime import cgroups
from kubelet_lite.server.view import VIEW, container_names

FIRST_WINDOW = 0.5  # seconds between two readings when there is no earlier one
STALE = 60.0  # seconds after which an earlier reading is too old to rate against
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Reading:
    cpu_ns: int  # cumulative CPU time
    memory: int  # bytes in use (working set)


def parse_proc_stat(text: str) -> int:
    """Busy CPU time of the machine in ns, from the ``cpu`` line of /proc/stat."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            f = [int(x) for x in line.split()[1:]]
            busy = sum(f[:3]) + sum(f[5:8])  # user nice system, irq softirq steal
            return busy * 1_000_000_000 // CLK_TCK
    raise ValueError("no cpu line in /proc/stat")


def parse_meminfo(text: str) -> int:
    """Memory in use (total less available), bytes."""
    kb = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in text.splitlines())}
    return (kb["MemTotal"] - kb.get("MemAvailable", kb.get("MemFree", 0))) * 1024


def parse_pid_stat(stat: str, statm: str) -> Reading:
    """A process's own and reaped children's CPU time and its resident memory."""
    fields = stat.rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return Reading(ticks * 1_000_000_000 // CLK_TCK, int(statm.split()[1]) * PAGE)


def machine() -> Reading:
    with open("/proc/stat") as s, open("/proc/meminfo") as m:
        return Reading(parse_proc_stat(s.read()), parse_meminfo(m.read()))


def container(driver: cgroups.Cgroups | None, uid: str, name: str, pid: int) -> Reading | None:
    if driver is not None:
        cpu, mem = driver.usage(uid, name)
        if cpu is not None and mem is not None:
            return Reading(int(cpu * 1_000_000_000), mem)
    try:
        with open(f"/proc/{pid}/stat") as s, open(f"/proc/{pid}/statm") as m:
            return parse_pid_stat(s.read(), m.read())
    except (OSError, ValueError, IndexError):
        return None


class Rates:
    """CPU rates from successive readings of the same key."""

    def __init__(self) -> None:
        self.last: dict[str, tuple[float, int]] = {}

    def fresh(self, key: str, now: float) -> bool:
        prev = self.last.get(key)
        return prev is not None and now - prev[0] < STALE

    def rate(self, key: str, now: float, cpu_ns: int) -> int:
        prev = self.last.get(key)
        self.last[key] = (now, cpu_ns)
        if prev is None or now <= prev[0]:
            return 0
        return max(0, int((cpu_ns - prev[1]) / (now - prev[0])))


RATES = web.AppKey("stats_rates", Rates)


def running(request: web.Request) -> list[tuple[dict[str, Any], str, int]]:
    """(pod, container name, main pid) of every running container of the node (the pod's own
    containers: not its sandbox)."""
    view = request.app[VIEW]
    found = []
    for pod in view.pods():
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        names = set(container_names(pod))
        for name, attempts in view.pod_dir(uid).attempts().items():
            if name not in names:
                continue
            last = attempts[-1] if attempts else None
            if last is not None and last.process is not None and last.exit is None:
                found.append((pod, name, last.process.pid))
    return found


def read_all(request: web.Request, driver: cgroups.Cgroups | None) -> dict[str, Reading]:
    out = {"": machine()}
    for pod, name, pid in running(request):
        uid = str(pod["metadata"].get("uid") or "")
        r = container(driver, uid, name, pid)
        if r is not None:
            out[f"{uid}/{name}"] = r
    return out


def usage(rate: int, r: Reading, stamp: str) -> tuple[dict[str, Any], dict[str, Any]]:
    cpu = {"time": stamp, "usageNanoCores": rate, "usageCoreNanoSeconds": r.cpu_ns}
    mem = {"time": stamp, "workingSetBytes": r.memory, "usageBytes": r.memory}
    return cpu, mem


def summary(request: web.Request, readings: dict[str, Reading], now: float) -> dict[str, Any]:
    rates, view = request.app[RATES], request.app[VIEW]
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    node_cpu, node_mem = usage(rates.rate("", now, readings[""].cpu_ns), readings[""], stamp)
    pods: dict[str, dict[str, Any]] = {}
    for pod, name, _ in running(request):
        meta = pod["metadata"]
        key = f"{meta.get('uid')}/{name}"
        if key not in readings:
            continue
        entry = pods.setdefault(
            str(meta.get("uid")),
            {
                "podRef": {k: meta.get(k) for k in ("name", "namespace", "uid")},
                "containers": [],
            },
        )
        cpu, mem = usage(rates.rate(key, now, readings[key].cpu_ns), readings[key], stamp)
        entry["containers"].append({"name": name, "cpu": cpu, "memory": mem})
    return {
        "node": {"nodeName": view.node_name, "cpu": node_cpu, "memory": node_mem},
        "pods": list(pods.values()),
    }


async def stats_summary(request: web.Request) -> web.Response:
    driver = cgroups.detect()
    rates = request.app[RATES]
    readings = read_all(request, driver)  # a few small /proc and cgroup files
    now = time.monotonic()
    if not all(rates.fresh(k, now) for k in readings):
        for key, r in readings.items():
            rates.rate(key, now, r.cpu_ns)
        await asyncio.sleep(FIRST_WINDOW)
        readings = read_all(request, driver)
        now = time.monotonic()
    return web.json_response(summary(request, readings, now))
