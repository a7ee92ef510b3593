"""A node for kubelet-lite tests: a scratch namespace playing the node, a real kubelet-lite
process against a real API server, and an exact account of what it leaves behind.

Everything is named ``kt-...``; ``Node.cleanup()`` removes it all, pass or fail: the kubelet,
the processes it recorded (checked against their start times), its zygotes, the pod namespaces
of this test's prefix, and the node namespace with its bridge and veths.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from knet.client import ApiClient, is_not_found
from knet.netlink import links, names, netns
from knet.netlink.exec import netns_argv
from knet.netlink.session import open_session
from kubelet_lite.gc import kill_process, kill_recorded
from kubelet_lite.runtime import cgroups, logs, procfs
from kubelet_lite.runtime.process import MARKER_ENV
from kubelet_lite.status.checkpoint import StateStore
from kubelet_lite.volumes import tmpfs

T = TypeVar("T")
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.47"
NETEXEC_ARGS = ["netexec", "--http-port=8080", "--udp-port=8081"]
NOTHING: dict[str, list[Any]] = {
    "namespaces": [],
    "links": [],
    "ip_files": [],
    "processes": [],
    "cgroups": [],
}


def new_node(tmp_path: Path, kubeconfig: Path, api_url: str, tag: str) -> Node:
    """A test node: its namespace made (the caller runs ``cleanup``), orphans ours to reap."""
    logs = tmp_path / "logs"
    logs.mkdir()
    n = Node(
        tag=tag, root=tmp_path / "kubelet", kubeconfig=kubeconfig, api_url=api_url, log_dir=logs
    )
    become_subreaper()
    netns.create(n.node_ns)
    return n


def container_output(path: Path) -> str:
    """What a container wrote, read back from its CRI log file: each whole line's text, stdout
    and stderr in the order written (a line still unfinished is left out)."""
    if not path.exists():
        return ""
    entries = [e for e in map(logs.parse_entry, path.read_bytes().splitlines()) if e is not None]
    return "".join(e.text.decode(errors="replace") + "\n" for e in logs.join_entries(entries))


async def wait_for(
    what: str, fn: Callable[[], Awaitable[T | None]], timeout: float = 30.0, every: float = 0.05
) -> T:
    """Poll ``fn`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            got = await fn()
        except Exception as exc:  # keep polling through transient API trouble
            last = exc
            got = None
        if got:
            return got
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last})")


def pod_manifest(
    name: str,
    node: str,
    containers: Sequence[Mapping[str, Any]],
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": node, "containers": list(containers), **spec},
    }


def netexec(name: str = "web", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": AGNHOST, "args": list(NETEXEC_ARGS), **extra}


def condition(pod: Mapping[str, Any], ctype: str) -> str | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return str(c.get("status"))
    return None


def is_running_ready(pod: Mapping[str, Any]) -> bool:
    st = pod.get("status") or {}
    return (
        st.get("phase") == "Running" and bool(st.get("podIP")) and condition(pod, "Ready") == "True"
    )


def container_status(pod: Mapping[str, Any], name: str) -> dict[str, Any]:
    for c in (pod.get("status") or {}).get("containerStatuses") or []:
        if c.get("name") == name:
            return dict(c)
    raise AssertionError(f"no status for container {name}: {pod.get('status')}")


def run_in(
    netns_name: str, argv: Sequence[str], timeout: float = 10
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        netns_argv(netns_name, list(argv)), capture_output=True, text=True, timeout=timeout
    )


def http_get(netns_name: str, url: str) -> str:
    """GET ``url`` from inside a namespace (curl); the body, or AssertionError."""
    r = run_in(netns_name, ["curl", "-sS", "--max-time", "5", url])
    assert r.returncode == 0, f"curl {url} from {netns_name}: {r.stderr}"
    return r.stdout


@dataclass
class Node:
    tag: str
    root: Path
    kubeconfig: Path
    api_url: str
    name: str = "kt-node-1"
    node_ip: str = "10.0.0.1"
    pod_cidr: str = "10.244.1.0/24"
    log_dir: Path = field(default_factory=Path)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    uids: set[str] = field(default_factory=set)
    zygote_pids: set[tuple[int, int]] = field(default_factory=set)
    log_server_pids: set[tuple[int, int]] = field(default_factory=set)

    @property
    def node_ns(self) -> str:
        return f"kt-node-{self.tag}"

    @property
    def pod_prefix(self) -> str:
        return f"kt-p{self.tag}-"

    @property
    def ipam_dir(self) -> Path:
        return self.root / "ipam"

    def pod_netns(self, uid: str) -> str:
        return names.netns_name(uid, self.pod_prefix)

    def argv(self, *extra: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "kubelet_lite",
            "--kubeconfig",
            str(self.kubeconfig),
            "--hostname-override",
            self.name,
            "--node-ip",
            self.node_ip,
            *(["--pod-cidr", self.pod_cidr] if self.pod_cidr else []),
            "--node-netns",
            self.node_ns,
            "--root-dir",
            str(self.root),
            "--pod-netns-prefix",
            self.pod_prefix,
            "--crash-loop-backoff-initial",
            "1s",
            "--crash-loop-backoff-max",
            "4s",
            "--node-status-update-frequency",
            "2s",
            *extra,
        ]

    def start_kubelet(
        self, *extra: str, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        log = (self.log_dir / f"kubelet-{n}.log").open("wb")
        proc = subprocess.Popen(
            self.argv(*extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        log.close()
        self.procs.append(proc)
        return proc

    def kubelet_log(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.log_dir.glob("kubelet-*.log")))

    def stop_kubelet(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    # ------------------------------------------------------------------ what exists

    def remember_zygotes(self) -> None:
        """The zygotes, and their log servers (``<zygote>.logs``: not a pod's process)."""
        zdir = self.root / "runtime" / "zygotes"
        if zdir.is_dir():
            for f in zdir.iterdir():
                if f.name.endswith(".logs"):
                    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                        doc = json.loads(f.read_text())
                        self.log_server_pids.add((int(doc["pid"]), int(doc["startTicks"])))
                    continue
                try:
                    pid = int(f.name)
                    ticks = procfs.start_ticks(pid)
                except ValueError:
                    continue
                if ticks is not None:
                    self.zygote_pids.add((pid, ticks))

    def pod_namespaces(self) -> list[str]:
        return netns.list_names(self.pod_prefix)

    def node_links(self) -> list[str]:
        """Links in the node namespace other than lo and the bridge (the pods' host veths)."""
        if not netns.exists(self.node_ns):
            return []
        with open_session(self.node_ns) as s:
            return sorted(
                link.name for link in links.list_links(s) if link.name not in ("lo", "kbr0")
            )

    def ip_files(self) -> list[str]:
        if not self.ipam_dir.exists():
            return []
        return sorted(p.name for p in self.ipam_dir.iterdir() if p.name[0].isdigit())

    def pod_processes(self) -> list[int]:
        """Live processes of any pod this test created: recorded container processes, their
        sessions, children of our zygotes, and anything carrying one of our pods' marks."""
        self.remember_zygotes()
        marks = {f"{MARKER_ENV}={uid}".encode() for uid in self.uids}
        sessions: set[int] = set()
        store_dir = self.root / "pods"
        if store_dir.exists():
            for pd, _ in StateStore(store_dir).all():
                for attempts in pd.attempts().values():
                    for a in attempts:
                        if a.process is not None:
                            sessions.add(a.process.pid)
                            if procfs.is_same_process(a.process.pid, a.process.start_ticks):
                                sessions.add(-a.process.pid)  # alive itself
        zygotes = {pid for pid, ticks in self.zygote_pids if procfs.is_same_process(pid, ticks)}
        servers = {p for p, ticks in self.log_server_pids if procfs.is_same_process(p, ticks)}
        found = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            st = procfs.read_stat(pid)
            if st is None or st.state in ("Z", "X") or pid in servers:
                continue
            if (
                -pid in sessions
                or st.session in sessions
                or st.ppid in zygotes
                or any(procfs.has_env(pid, m) for m in marks)
            ):
                found.add(pid)
        return sorted(found)

    def live_zygotes(self) -> list[int]:
        self.remember_zygotes()
        return sorted(pid for pid, t in self.zygote_pids if procfs.is_same_process(pid, t))

    def leftovers(self) -> dict[str, list[Any]]:
        """What pods left behind; all empty when nothing leaked."""
        return {
            "namespaces": self.pod_namespaces(),
            "links": self.node_links(),
            "ip_files": self.ip_files(),
            "processes": self.pod_processes(),
            "cgroups": self.pod_cgroups(),
        }

    def pod_cgroups(self) -> list[str]:
        """The pods of this test that still have a cgroup (kubelet-lite makes them by UID)."""
        driver = cgroups.detect()
        return sorted(u for u in self.uids if driver is not None and driver.pod_exists(u))

    async def aleftovers(self) -> dict[str, list[Any]]:
        # pyroute2's blocking API refuses to run inside an event loop's thread.
        return await asyncio.to_thread(self.leftovers)

    # ------------------------------------------------------------------ teardown

    def cleanup(self) -> None:
        """Remove everything, pass or fail (kill by recorded pid only)."""
        for proc in self.procs:
            self.stop_kubelet(proc, signal.SIGKILL)
        self.remember_zygotes()
        store_dir = self.root / "pods"
        recorded: set[int] = set()
        if store_dir.exists():
            for pd, cp in StateStore(store_dir).all():
                recorded.update(kill_recorded(pd, cp.uid if cp is not None else None))
        for pid in self.pod_processes():
            recorded.add(pid)
            os.kill(pid, signal.SIGKILL)
        for pid, ticks in self.zygote_pids | self.log_server_pids:
            kill_process(pid, ticks)
            recorded.add(pid)
        reap(recorded)
        tmpfs.unmount_under(self.root)  # memory-backed volumes, if the kubelet could not
        for name in netns.list_names(self.pod_prefix):
            netns.remove(name)
        netns.remove(self.node_ns)
        driver = cgroups.detect()
        if driver is not None:
            for uid in self.uids:
                driver.remove_pod(uid)  # the processes are gone: the groups are empty
            driver.remove_if_unused()


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Orphans of a killed kubelet-lite (its zygote) become our children, so that cleanup can
    reap them; PID 1 in this environment does not reap."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1)


def reap(pids: set[int], timeout: float = 5.0) -> None:
    """Collect the exit of those of ``pids`` that are (now) our children."""
    deadline = time.monotonic() + timeout
    left = set(pids)
    while left and time.monotonic() < deadline:
        for pid in list(left):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                st = procfs.read_stat(pid)
                if st is None or st.ppid != os.getpid():
                    left.discard(pid)  # not ours to reap (or already gone)
                continue
            if done:
                left.discard(pid)
        time.sleep(0.01)


async def get_pod(client: ApiClient, name: str) -> dict[str, Any] | None:
    try:
        return await client.get("Pod", name, "default")
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise


async def create_pod(client: ApiClient, node: Node, manifest: Mapping[str, Any]) -> dict[str, Any]:
    pod = await client.create(dict(manifest), "default")
    node.uids.add(pod["metadata"]["uid"])
    return pod


async def wait_running(client: ApiClient, name: str, timeout: float = 30.0) -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        pod = await get_pod(client, name)
        return pod if pod is not None and is_running_ready(pod) else None

    return await wait_for(f"pod {name} Running and Ready", ready, timeout)


async def wait_gone(client: ApiClient, name: str, timeout: float = 30.0) -> None:
    async def gone() -> bool:
        return await get_pod(client, name) is None

    await wait_for(f"pod {name} to be deleted", gone, timeout)
