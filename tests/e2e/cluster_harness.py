"""Driving `knet cluster` as a user would (subprocesses, real kubectl), and listing exactly what a
cluster leaves behind: namespaces with its prefix, processes (recorded, in its namespaces or in
its directory), its state directory, and the root namespace's links, routes and iptables rules.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from knet.cluster import procs, topology
from knet.netlink import netns

T = TypeVar("T")
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.47"


def knet(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "knet.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 60, every: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            got = fn()
        except Exception as exc:  # keep polling through transient trouble
            last, got = exc, None
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last})")


def root_snapshot() -> dict[str, str]:
    """The root namespace as read-only commands print it (counters stripped)."""

    def run(argv: Sequence[str]) -> str:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
        return done.stdout + done.stderr

    def rules(text: str) -> str:
        # Drop comments (timestamps) and [packets:bytes] counters, which change by themselves.
        out = []
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            if line.startswith(":"):
                line = line.split(" [", 1)[0]
            out.append(line)
        return "\n".join(out)

    return {
        "links": run(["ip", "-o", "link", "show"]),
        "routes": run(["ip", "route", "show", "table", "all"]),
        "iptables-nft": rules(run(["iptables-nft-save"])),
        "iptables-legacy": rules(run(["iptables-legacy-save"])),
    }


def _strip_link_noise(text: str) -> list[str]:
    # Other tests (kt- names) may run at the same time; everything else must be unchanged.
    return [line for line in text.splitlines() if " kt-" not in line]


def root_diff(before: dict[str, str], after: dict[str, str]) -> dict[str, tuple[str, str]]:
    diff = {}
    for key in before:
        b, a = before[key], after[key]
        if key == "links":
            b, a = "\n".join(_strip_link_noise(b)), "\n".join(_strip_link_noise(a))
        if b != a:
            diff[key] = (b, a)
    return diff


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Processes `up` leaves running are reparented to us, so we can reap them after `down`
    (PID 1 in this environment does not reap)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1)


def reap_children() -> None:
    with contextlib.suppress(ChildProcessError):
        while True:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return


def describe(pid: int) -> str:
    """pid, state and command line, for a readable failure."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        cmd = "?"
    st = procs.read_stat(pid)
    return f"{pid} [{st.state if st else '?'}] {cmd.strip()[:200]}"


@dataclass
class Cluster:
    name: str
    state_root: Path
    nodes: int = 3
    seen_pids: set[tuple[int, int | None]] = field(default_factory=set)
    seen_netns_inodes: set[int] = field(default_factory=set)

    @property
    def directory(self) -> Path:
        return self.state_root / self.name

    @property
    def prefix(self) -> str:
        return topology.prefix(self.name)

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def topo(self) -> topology.Topology:
        return topology.build(self.name, self.nodes)

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return knet(
            *args, "--name", self.name, "--state-dir", str(self.state_root), timeout=timeout
        )

    def up(self, *extra: str) -> subprocess.CompletedProcess[str]:
        done = self.cli("cluster", "up", "--nodes", str(self.nodes), *extra)
        self.remember()
        return done

    def exec(self, pod: str, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return knet(
            "exec",
            "--name",
            self.name,
            "--state-dir",
            str(self.state_root),
            pod,
            "--",
            *cmd,
            timeout=timeout,
        )

    def kubectl(
        self, *args: str, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def kubectl_json(self, *args: str) -> Any:
        done = self.kubectl(*args, "-o", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.directory / "state.json").read_text()))

    def remember(self) -> None:
        """Note every process and namespace the cluster has now, to check after `down`."""
        with contextlib.suppress(OSError, ValueError):
            for p in self.state().get("processes", []):
                if p.get("pid") is not None:
                    self.seen_pids.add((p["pid"], p.get("start_ticks")))
        inodes = set()
        for name in netns.list_names(self.prefix):
            ino = procs.netns_inode(netns.path(name))
            if ino is not None:
                inodes.add(ino)
        self.seen_netns_inodes |= inodes
        for pid in procs.pids_in_netns(inodes):
            self.seen_pids.add((pid, procs.start_ticks(pid)))

    def leftovers(self) -> dict[str, list[str]]:
        """What is left of the cluster; every list empty when nothing is."""
        reap_children()
        alive = sorted(str(pid) for pid, ticks in self.seen_pids if procs.is_alive(pid, ticks))
        # Once a namespace is gone the kernel reuses its inode number; one that now names
        # another test's namespace is not ours (a leaked namespace of ours has no name left).
        others = {
            procs.netns_inode(netns.path(n))
            for n in netns.list_names()
            if not n.startswith(self.prefix)
        }
        in_ns = [str(p) for p in procs.pids_in_netns(self.seen_netns_inodes - others)]
        files = []
        if self.directory.exists():
            files = sorted(str(p) for p in self.directory.rglob("*"))[:20] or [str(self.directory)]
        return {
            "namespaces": netns.list_names(self.prefix),
            "processes": [describe(int(p)) for p in sorted(set(alive) | set(in_ns))],
            "files": files,
        }

    def force_cleanup(self) -> None:
        """Last resort when `down` failed, so that a broken `down` cannot leak into other tests."""
        targets = [(pid, t) for pid, t in self.seen_pids if procs.is_alive(pid, t)]
        targets += [(p, None) for p in procs.pids_in_netns(self.seen_netns_inodes)]
        procs.stop(targets, grace=2)
        for name in netns.list_names(self.prefix):
            netns.remove(name)
        reap_children()


def teardown(cluster: Cluster) -> None:
    """`knet cluster down`, then a check that nothing of the cluster is left (forced away if
    anything is, so that a broken `down` cannot leak into other tests)."""
    cluster.remember()
    done = cluster.cli("cluster", "down", timeout=120)
    left = cluster.leftovers()
    if any(left.values()):
        cluster.force_cleanup()
    reap_children()
    assert done.returncode == 0, f"cluster down failed: {done.stdout}{done.stderr}"
    assert left == {"namespaces": [], "processes": [], "files": []}


@contextlib.contextmanager
def running_cluster(tmp_path: Path, nodes: int = 3, *up_args: str) -> Iterator[Cluster]:
    """A new cluster, up (``knet cluster up *up_args``), torn down and checked clean after."""
    become_subreaper()
    c = new_cluster(tmp_path, nodes=nodes)
    try:
        done = c.up(*up_args)
        assert done.returncode == 0, f"cluster up failed: {done.stdout}{done.stderr}"
        yield c
    finally:
        teardown(c)


def new_cluster(tmp_path: Path, nodes: int = 3) -> Cluster:
    """A cluster with a unique name (t<hex4>); a short state root, since the API server's unix
    socket path must fit 107 bytes."""
    return Cluster(name=f"t{secrets.token_hex(2)}", state_root=tmp_path / "st", nodes=nodes)


def pod_manifest(name: str, node: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "netexec",
                    "image": AGNHOST,
                    "args": ["netexec", "--http-port=8080", "--udp-port=8081"],
                }
            ],
        },
    }


def deployment_manifest(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "netexec",
                            "image": AGNHOST,
                            "args": ["netexec", "--http-port=8080", "--udp-port=8081"],
                            "ports": [{"containerPort": 8080}],
                        }
                    ]
                },
            },
        },
    }
