#!/usr/bin/env python3
"""Pod startup latency: N pods created at once on one node, from create to Running+Ready with
an IP (Kubernetes' pod startup SLO measures the same span; its bound is 5 s at p99).

A real `knet apiserver` and a real `kubelet-lite` process; the node is a scratch network
namespace (kt-node-<rand>), removed at the end with everything in it. Each pod's latency runs
from the moment its create request is sent to the moment a watch sees it Running, Ready and
with a podIP. Pods run agnhost netexec (the image Kubernetes' e2e tests use) unless --image says
otherwise.

Per run it also prints the CPU each part used from the first create until all were Ready (API
server, kubelet-lite, its sandbox workers, the runtime: zygote, log server, pause and the
containers themselves, this client), their sum, and what the whole machine spent meanwhile: on
a shared machine the difference is other work competing for the same CPUs, which the latencies
include. CPU per pod is the figure least moved by a busy machine.

With --breakdown, kubelet-lite logs at -v 4 and the steps of each pod's start are read from its
log: queued before its first sync, the network sandbox, pause, the pod's files, the container's
start by the runtime, the status write, and what is left (API server, watches, scheduling of
this client).

Run as root:  .venv/bin/python scripts/bench_pod_startup.py [--pods 50] [--runs 3] [--breakdown]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from knet.client import ApiClient
from knet.netlink import netns
from knet.testing.apiserver import running_apiserver
from kubelet_lite.gc import kill_process, kill_recorded
from kubelet_lite.runtime import cgroups, procfs
from kubelet_lite.status.checkpoint import StateStore

IMAGES: dict[str, dict[str, Any]] = {
    "agnhost": {
        "image": "registry.k8s.io/e2e-test-images/agnhost:2.47",
        "args": ["netexec", "--http-port=8080", "--udp-port=8081"],
    },
    "pause": {"image": "registry.k8s.io/pause:3.10"},
    "busybox": {"image": "busybox", "command": ["sleep", "3600"]},
}
NODE = "bench-node"
PR_SET_CHILD_SUBREAPER = 36


def pct(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1] * 1000


def ready(pod: dict[str, Any]) -> bool:
    st = pod.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    return st.get("phase") == "Running" and bool(st.get("podIP")) and conds.get("Ready") == "True"


def manifest(i: int, run: int, image: str, host_network: bool) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", **IMAGES[image]}
    if host_network and image == "agnhost":  # one port per pod on the shared node network
        container["args"] = ["netexec", f"--http-port={20000 + i}", "--udp-port=0"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"bench-{run}-{i}", "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 1,
            "hostNetwork": host_network,
            "containers": [container],
        },
    }


def cpu_seconds(pid: int) -> float:
    """user+system CPU of a process so far, all its threads (in 10 ms units: fine for the
    long-lived processes, whose CPU per run is a tenth of a second or more)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def task_cpu_seconds(pid: int) -> float:
    """CPU of a process's live threads, to the nanosecond (a container's start costs a few
    milliseconds, which /proc/PID/stat's 10 ms units would round to nothing)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
    except (OSError, ValueError):
        pass
    return total / 1e9


CPU_PIDS: dict[str, int] = {}
CREATE_CPU: list[dict[str, float]] = []
UIDS: dict[str, str] = {}  # pod uid -> name, to read kubelet-lite's log by
LATENCY: dict[str, float] = {}  # pod name -> seconds from create to Ready


ROOT: list[Path] = []


def zygote_and_containers_cpu() -> float:
    """CPU of the zygote(s), of the processes they have reaped, and of every live process they
    started (pause, the log server, containers and whatever those started)."""
    zdir = ROOT[0] / "runtime" / "zygotes" if ROOT else None
    if zdir is None or not zdir.exists():
        return 0.0
    total = 0.0
    tck = os.sysconf("SC_CLK_TCK")
    zygotes = {int(f.name) for f in zdir.iterdir() if f.name.isdigit()}
    for z in zygotes:
        try:
            f = Path(f"/proc/{z}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, and cutime, cstime: the reaped children's time
        total += sum(int(x) for x in f[11:15]) / tck
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = procfs.read_stat(int(entry))
            if st is not None:
                children.setdefault(st.ppid, []).append(st.pid)
    todo = [c for z in zygotes for c in children.get(z, [])]
    while todo:
        pid = todo.pop()
        total += task_cpu_seconds(pid)
        todo += children.get(pid, [])
    return total


def sandbox_workers_cpu() -> float:
    """CPU of kubelet-lite's sandbox worker processes (its children other than the zygote)."""
    kubelet = CPU_PIDS.get("kubelet-lite")
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = procfs.read_stat(int(entry))
            if st is not None and st.ppid == kubelet:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
                if b"zygote" not in cmd:
                    total += cpu_seconds(st.pid)
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine (every process, ours or not) has spent busy, all CPUs."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(x) for x in fields]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_now() -> dict[str, float]:
    out = {k: cpu_seconds(v) for k, v in CPU_PIDS.items()}
    out["sandbox workers"] = sandbox_workers_cpu()
    out["runtime"] = zygote_and_containers_cpu()
    t = os.times()
    out["bench client"] = t.user + t.system
    out["machine"] = machine_busy_seconds()
    return out


async def one_run(
    client: ApiClient, run: int, pods: int, image: str, host_network: bool
) -> list[float]:
    sent: dict[str, float] = {}
    done: dict[str, float] = {}
    _, rv = await client.list("Pod", "default")
    all_ready = asyncio.Event()

    async def watch() -> None:
        async for ev in client.watch("Pod", "default", resource_version=rv):
            name = ev.object["metadata"]["name"]
            if name in sent and name not in done and ready(ev.object):
                done[name] = time.perf_counter()
                if len(done) == pods:
                    all_ready.set()
                    return

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.1)  # the watch is open before the first create

    async def create(i: int) -> None:
        m = manifest(i, run, image, host_network)
        sent[m["metadata"]["name"]] = time.perf_counter()
        made = await client.create(m, "default")
        UIDS[made["metadata"]["uid"]] = m["metadata"]["name"]

    start_cpu = cpu_now()
    t0 = time.perf_counter()
    await asyncio.gather(*(create(i) for i in range(pods)))
    try:
        await asyncio.wait_for(all_ready.wait(), 120)
    finally:
        watcher.cancel()
    end_cpu = cpu_now()
    used = {k: end_cpu[k] - start_cpu[k] for k in end_cpu}
    used["wall"] = time.perf_counter() - t0
    CREATE_CPU.append(used)
    LATENCY.update({n: done[n] - sent[n] for n in sent})
    latencies = [done[n] - sent[n] for n in sent]
    names = list(sent)
    await asyncio.gather(*(client.delete("Pod", n, "default") for n in names))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        items, _ = await client.list("Pod", "default")
        if not items:
            break
        await asyncio.sleep(0.1)
    return latencies


def print_cpu(pods: int) -> None:
    """Each run's CPU, in seconds and per pod."""
    for i, c in enumerate(CREATE_CPU):
        wall = c.pop("wall")
        machine = c.pop("machine")
        ours = sum(c.values())
        print(
            f"run {i}, create until all Ready ({wall * 1000:.0f} ms): CPU "
            + ", ".join(f"{k} {v:.2f}s" for k, v in c.items())
            + f"; ours {ours:.2f}s, whole machine {machine:.2f}s"
            f" ({machine / wall / (os.cpu_count() or 1):.0%} of {os.cpu_count()} CPUs)"
        )
        print(
            f"run {i}, CPU per pod: "
            + ", ".join(f"{k} {v / pods * 1000:.1f}" for k, v in c.items())
            + f"; ours {ours / pods * 1000:.1f} ms"
        )


STEP_RE = re.compile(r"pod (\S+): step (\S+) ([\d.]+) ms")
STARTED_RE = re.compile(
    r"pod \S+?/(\S+): started (\d+) ms after it was seen \(waited (\d+), sandbox (\d+), "
    r"containers (\d+)\)"
)
STATUS_RE = re.compile(r"status of \S+?/(\S+) \(Running\) written in (\d+) ms")


def breakdown(log: str) -> dict[str, dict[str, float]]:
    """Per step, per pod: milliseconds, from kubelet-lite's -v 4 log (its first start only)."""
    steps: dict[str, dict[str, float]] = {}

    def put(step: str, pod: str, ms: float) -> None:
        if pod in LATENCY:
            steps.setdefault(step, {}).setdefault(pod, ms)

    for line in log.splitlines():
        if m := STEP_RE.search(line):
            put(m[2], UIDS.get(m[1], m[1]), float(m[3]))
        elif m := STARTED_RE.search(line):
            pod, started, waited, sandbox = m[1], float(m[2]), float(m[3]), float(m[4])
            put("queued", pod, waited)
            put("seen->started", pod, started)
            put("sandbox+pause+files", pod, sandbox)
        elif m := STATUS_RE.search(line):
            put("status write", m[1], float(m[2]))
    own = ("seen->started", "status write")
    for pod, total in LATENCY.items():
        if all(pod in steps.get(s, {}) for s in own):
            rest = total * 1000 - sum(steps[s][pod] for s in own)
            put("the rest (API, watch, client)", pod, rest)
    net, pause, both = (
        steps.get("network", {}),
        steps.get("pause", {}),
        steps.pop("sandbox+pause+files", {}),
    )
    for pod, ms in both.items():
        if pod in net and pod in pause:
            put("pod files", pod, ms - net[pod] - pause[pod])
    return steps


def print_breakdown(log: str) -> None:
    steps = breakdown(log)
    if not steps:
        print("no per-step figures in kubelet-lite's log")
        return
    order = ["queued", "network", "pause", "pod files"]
    order += sorted(s for s in steps if s.startswith("container-"))
    order += ["seen->started", "status write", "the rest (API, watch, client)"]
    print(f"per step, all pods of all runs (ms)  {'p50':>7} {'p99':>7}")
    for step in order:
        values = list(steps.get(step, {}).values())
        if values:
            p50, p99 = pct([v / 1000 for v in values], 50), pct([v / 1000 for v in values], 99)
            print(f"  {step:<34} {p50:>7.0f} {p99:>7.0f}")


async def wait_node_ready(client: ApiClient, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kubelet-lite exited with {proc.returncode}")
        try:
            node = await client.get("Node", NODE)
            conds = {c["type"]: c["status"] for c in node["status"]["conditions"]}
            if conds.get("Ready") == "True":
                await asyncio.sleep(0.5)  # informer synced, workers running
                return
        except Exception:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("node did not become Ready")


def cleanup(root: Path, tag: str, proc: subprocess.Popen[bytes] | None) -> None:
    """Everything the run made goes, killed by recorded pid only."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    killed: list[int] = []
    pods_dir = root / "pods"
    if pods_dir.exists():
        for pd, cp in StateStore(pods_dir).all():
            killed += kill_recorded(pd, cp.uid if cp is not None else None)
    zdir = root / "runtime" / "zygotes"
    if zdir.exists():
        for f in zdir.iterdir():
            try:
                pid = int(f.name)
            except ValueError:
                continue
            ticks = procfs.start_ticks(pid)
            if ticks is not None and kill_process(pid, ticks):
                killed.append(pid)
    for pid in killed:  # orphans that became ours (we are their subreaper)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    driver = cgroups.detect()
    if driver is not None and pods_dir.exists():
        for _, cp in StateStore(pods_dir).all():
            if cp is not None:
                with contextlib.suppress(OSError):
                    driver.remove_pod_waiting(cp.uid)
        driver.remove_if_unused()
    for name in netns.list_names(f"kt-b{tag}-"):
        netns.remove(name)
    netns.remove(f"kt-node-{tag}")


async def bench(args: argparse.Namespace, work: Path) -> list[list[float]]:
    tag = secrets.token_hex(3)
    root = work / "kubelet"
    ROOT.append(root)
    netns.create(f"kt-node-{tag}")
    proc = None
    try:
        with running_apiserver(work) as api:
            argv = [
                sys.executable,
                "-m",
                "kubelet_lite",
                "--kubeconfig",
                str(api.kubeconfig),
                "--hostname-override",
                NODE,
                "--node-ip",
                "10.0.0.1",
                "--pod-cidr",
                "10.244.0.0/22",
                "--node-netns",
                f"kt-node-{tag}",
                "--root-dir",
                str(root),
                "--pod-netns-prefix",
                f"kt-b{tag}-",
                *(["-v", "4"] if args.verbose or args.breakdown else []),
            ]
            with (work / "kubelet.log").open("wb") as log:
                proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
            async with ApiClient.from_url(api.url) as client:
                await wait_node_ready(client, proc)
                assert api.proc is not None
                pids = {"apiserver": api.proc.pid, "kubelet-lite": proc.pid}
                CPU_PIDS.update(pids)
                before = {k: cpu_seconds(v) for k, v in pids.items()}
                t0 = time.perf_counter()
                runs = [
                    await one_run(client, run, args.pods, args.image, args.host_network)
                    for run in range(args.runs)
                ]
                wall = time.perf_counter() - t0
                used = {k: cpu_seconds(v) - before[k] for k, v in pids.items()}
                print(
                    f"CPU over {wall:.1f}s of create+delete runs: "
                    + ", ".join(f"{k} {v:.2f}s" for k, v in used.items())
                )
                print_cpu(args.pods)
                return runs
    finally:
        cleanup(root, tag, proc)
        if args.breakdown and (work / "kubelet.log").exists():
            print_breakdown((work / "kubelet.log").read_text(errors="replace"))
        if args.keep_log:
            Path(args.keep_log).write_bytes((work / "kubelet.log").read_bytes())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pods", type=int, default=50)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--image", choices=sorted(IMAGES), default="agnhost")
    p.add_argument("--verbose", action="store_true", help="kubelet-lite logs at -v 4")
    p.add_argument(
        "--breakdown",
        action="store_true",
        help="time each step of a pod's start (kubelet-lite at -v 4)",
    )
    p.add_argument(
        "--host-network",
        action="store_true",
        help="hostNetwork pods: no sandbox (shows what the sandbox costs)",
    )
    p.add_argument("--keep-log", help="copy kubelet-lite's log here")
    args = p.parse_args()
    if args.pods < 1 or args.runs < 1:
        p.error("--pods and --runs must be at least 1")
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 1
    # SIGTERM (e.g. from `timeout`) unwinds like ^C, so the clean-up below still runs.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # A killed kubelet's zygote becomes our child, so the clean-up can reap it.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="kt-bench-") as d:
        runs = asyncio.run(bench(args, Path(d)))
    print(
        f"pod startup, {args.pods} pods created at once on one node, image {args.image}"
        f"{', hostNetwork' if args.host_network else ''}, {os.cpu_count()} CPUs, "
        "load average before: "
        + " ".join(f"{x:.2f}" for x in load_before)
        + ", after: "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    print(f"{'run':>4} {'p50':>9} {'p99':>9} {'max':>9} {'mean':>9}")
    for i, lat in enumerate(runs):
        print(
            f"{i:>4} {pct(lat, 50):>7.0f}ms {pct(lat, 99):>7.0f}ms {max(lat) * 1000:>7.0f}ms "
            f"{statistics.mean(lat) * 1000:>7.0f}ms"
        )
    every = [x for lat in runs for x in lat]
    p99 = pct(every, 99)
    print(f"all  {pct(every, 50):>7.0f}ms {p99:>7.0f}ms   (floor: p99 <= 500 ms; SLO 5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
