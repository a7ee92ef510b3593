"""The Vagrant cluster as booted machines: nodes Ready, pod-to-pod ping across machines, a
Service by ClusterIP and NodePort, a worker rebooted coming back by itself, and `down` leaving
nothing behind. One `up` serves every check (the module's fixture); teardown runs pass or fail.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from knet.cluster import procs
from knet.machines import layout, machine
from knet.machines.layout import Layout, Machine
from knet.machines.state import MachinesState
from knet.netlink import netns
from knet.netlink.exec import netns_argv

pytestmark = [pytest.mark.machines, pytest.mark.root, pytest.mark.slow, pytest.mark.timeout(1200)]
T = TypeVar("T")
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.47"


def knet(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "knet.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 90) -> T:
    """Poll ``fn`` until it returns something. A probe that itself timed out (a kubectl or
    nsenter stalled on this loaded box) counts as "not yet", not as the test's failure."""
    deadline = time.monotonic() + timeout
    stalled = ""
    while True:
        try:
            got = fn()
        except subprocess.TimeoutExpired as exc:
            got, stalled = None, f" (last probe stalled: {exc})"
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}{stalled}"
        time.sleep(0.5)


class Machines:
    def __init__(self, name: str) -> None:
        self.name = name
        self.layout: Layout = layout.build(name, 3)

    @property
    def state(self) -> MachinesState:
        st = MachinesState.load(self.layout.directory)
        assert st is not None
        return st

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", "--kubeconfig", str(self.state.kubeconfig_path), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def get(self, *args: str) -> Any:
        done = self.kubectl("get", *args, "-o", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def in_machine(self, m: Machine, *cmd: str) -> subprocess.CompletedProcess[str]:
        init = self.state.process(f"init/{m.name}")
        assert init is not None and init.pid is not None
        from knet.machines import nspawn

        return subprocess.run(
            nspawn.in_machine_argv(init.pid, list(cmd)),
            capture_output=True,
            text=True,
            timeout=60,
        )

    def pod_exec(self, m: Machine, pod: str, *cmd: str) -> subprocess.CompletedProcess[str]:
        """`knet exec` in its VM form, on the machine that runs the pod."""
        return self.in_machine(
            m,
            "/opt/knet/venv/bin/python",
            "-m",
            "knet.cli",
            "exec",
            "--kubeconfig",
            "/etc/knet/kubeconfig",
            "--root-dir",
            "/var/lib/knet/kubelet",
            pod,
            "--",
            *cmd,
        )

    def ready_nodes(self) -> set[str]:
        items = self.get("nodes").get("items") or []
        return {
            n["metadata"]["name"]
            for n in items
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n["status"].get("conditions") or []
            )
        }

    def running_pods(self, selector: str, want: int) -> list[dict[str, Any]] | None:
        items = self.get("pods", "-l", selector).get("items") or []
        up = [
            p for p in items if p["status"].get("phase") == "Running" and p["status"].get("podIP")
        ]
        return up if len(up) == want else None

    def pod_ip(self, name: str) -> str | None:
        st = self.get("pod", name)["status"]
        return st.get("podIP") if st.get("phase") == "Running" else None

    def leftovers(self) -> dict[str, list[str]]:
        prefix = self.layout.prefix
        mounts = [
            line.split()[4]
            for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if str(self.layout.directory) in line.split()[4]
        ]
        nspawn_dirs = [
            str(p)
            for m in self.layout.machines
            for p in machine.nspawn.host_dirs(machine.unit_name(self.layout, m))
            if p.exists()
        ]
        return {
            "namespaces": netns.list_names(prefix),
            "mounts": mounts,
            "files": ([str(self.layout.directory)] if self.layout.directory.exists() else [])
            + nspawn_dirs,
        }


def pod(name: str, node: str, labels: dict[str, str]) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels},
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
    )


def root_netns() -> str:
    """This machine's root network namespace as read-only commands print it (counters out)."""
    out = []
    for cmd in (["ip", "-o", "addr"], ["ip", "route"], ["ip", "-o", "link"], ["iptables-save"]):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        out += [
            " ".join(w for w in line.split() if not w.startswith("["))
            for line in done.stdout.splitlines()
            if not line.startswith("#")
        ]
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    return "\n".join(out) + f"\nip_forward={forward}"


ROOT_BEFORE: list[str] = []


@pytest.fixture(scope="module")
def machines() -> Iterator[Machines]:
    ms = Machines(f"t{secrets.token_hex(2)}")
    recorded: list[tuple[int, int | None]] = []
    ROOT_BEFORE[:] = [root_netns()]
    try:
        done = knet("machines", "up", "--name", ms.name, timeout=900)
        st = MachinesState.load(ms.layout.directory)
        if st is not None:
            recorded = [(p.pid, p.start_ticks) for p in st.processes if p.pid is not None]
        assert done.returncode == 0, done.stdout + done.stderr
        print(done.stdout)
        yield ms
    finally:
        st = MachinesState.load(ms.layout.directory) if ms.layout.directory.exists() else None
        if st is not None:
            recorded += [(p.pid, p.start_ticks) for p in st.processes if p.pid is not None]
        down = knet("machines", "down", "--name", ms.name, timeout=300)
        assert down.returncode == 0, down.stdout + down.stderr
        assert ms.leftovers() == {"namespaces": [], "mounts": [], "files": []}
        assert [p for p, t in recorded if procs.is_alive(p, t)] == []
        assert root_netns() == ROOT_BEFORE[0]


def test_nodes_are_ready_and_pods_on_two_machines_ping(machines: Machines) -> None:
    lay = machines.layout
    assert machines.ready_nodes() == set(lay.names())
    assert root_netns() == ROOT_BEFORE[0]  # the machines added nothing to the root namespace
    w1, w2 = lay.machine("knet-w1"), lay.machine("knet-w2")
    for name, m in (("a", w1), ("b", w2)):
        done = machines.kubectl("apply", "-f", "-", stdin=pod(name, m.name, {"app": "pair"}))
        assert done.returncode == 0, done.stderr
    pods = wait_for("pods a and b", lambda: machines.running_pods("app=pair", 2))
    ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in pods}
    ab = machines.pod_exec(w1, "a", "ping", "-c", "2", "-W", "2", ips["b"])
    assert ab.returncode == 0, ab.stdout + ab.stderr
    ba = machines.pod_exec(w2, "b", "ping", "-c", "2", "-W", "2", ips["a"])
    assert ba.returncode == 0, ba.stdout + ba.stderr


def test_kubectl_logs_and_exec_reach_pods_on_the_workers(machines: Machines) -> None:
    """The API server on knet-cp dials each worker's kubelet API (on its node IP, port 10250)."""
    pods = wait_for("pods a and b", lambda: machines.running_pods("app=pair", 2))
    for p in pods:
        name = p["metadata"]["name"]

        def started(pod: str = name) -> subprocess.CompletedProcess[str] | None:
            done = machines.kubectl("logs", pod)
            return done if "Started HTTP server on port 8080" in done.stdout else None

        wait_for(f"the logs of {name}", started)
        done = machines.kubectl("exec", name, "--", "sh", "-c", "hostname; exit 3")
        assert done.returncode == 3, done.stdout + done.stderr
        assert done.stdout.strip() == name


def test_service_by_clusterip_and_nodeport_on_every_machine(machines: Machines) -> None:
    lay = machines.layout
    for m in lay.machines:
        done = machines.kubectl(
            "apply", "-f", "-", stdin=pod(f"web-{m.name}", m.name, {"app": "web"})
        )
        assert done.returncode == 0, done.stderr
    pods = wait_for("3 web pods", lambda: machines.running_pods("app=web", 3))
    backends = {p["metadata"]["name"] for p in pods}
    done = machines.kubectl(
        "expose",
        "pod",
        "web-knet-cp",
        "--name",
        "web",
        "--port",
        "80",
        "--target-port",
        "8080",
        "--type",
        "NodePort",
        "--selector",
        "app=web",
    )
    assert done.returncode == 0, done.stderr
    svc = machines.get("svc", "web")
    cluster_ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]

    def curl(m: Machine, url: str) -> str | None:
        # From pod a (on knet-w1, made by the first test or here), as a client pod would.
        got = machines.pod_exec(m, "a", "curl", "-sS", "--max-time", "3", url)
        return got.stdout.strip() if got.returncode == 0 else None

    w1 = lay.machine("knet-w1")
    done = machines.kubectl("apply", "-f", "-", stdin=pod("a", w1.name, {"app": "pair"}))
    assert done.returncode == 0, done.stderr
    wait_for("pod a", lambda: machines.pod_ip("a"))
    seen = {wait_for("the ClusterIP", lambda: curl(w1, f"http://{cluster_ip}/hostname"))}
    for _ in range(30):
        seen.add(curl(w1, f"http://{cluster_ip}/hostname") or "")
        if backends <= seen:
            break
    assert backends <= seen
    # And from the machine itself (its default route lets the lookup reach kube-proxy's DNAT).
    node_curl = machines.in_machine(
        w1, "curl", "-sS", "--max-time", "3", f"http://{cluster_ip}/hostname"
    )
    assert node_curl.stdout.strip() in backends, node_curl.stdout + node_curl.stderr
    # By name: the control plane deployed the kube-dns add-on (kubectl exec runs in the pod's
    # mount namespace, so with its resolv.conf).
    wait_for("the kube-dns add-on ready", lambda: _dns_ready(machines), timeout=180)

    def curl_by_name() -> str:
        argv = ["curl", "-sS", "--max-time", "3", "http://web/hostname"]
        return machines.kubectl("exec", "a", "--", *argv).stdout.strip()

    by_name = wait_for("web by name", curl_by_name)
    assert by_name in backends, by_name
    # NodePort on each machine's address, asked from the underlay (the "host" side).
    for m in lay.machines:
        url = f"http://{m.address}:{node_port}/hostname"
        got = wait_for(f"NodePort on {m.name}", lambda u=url: _curl_underlay(lay, u))
        assert got in backends


def _dns_ready(machines: Machines) -> bool:
    dep = machines.get("-n", "kube-system", "deployment", "coredns")
    return bool(dep["status"].get("readyReplicas") == dep["spec"]["replicas"])


def _curl_underlay(lay: Layout, url: str) -> str | None:
    done = subprocess.run(
        netns_argv(lay.underlay_netns, ["curl", "-sS", "--max-time", "3", url]),
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def _routes(machines: Machines, m: Machine) -> str:
    return machines.in_machine(m, "ip", "-4", "route").stdout


def test_a_rebooted_worker_comes_back_by_itself(machines: Machines) -> None:
    lay = machines.layout
    w2 = lay.machine("knet-w2")
    other = {str(o.pod_cidr) for o in lay.machines if o.name != w2.name}
    assert all(c in _routes(machines, w2) for c in other)
    before = machines.get("pod", "b")
    restarts = before["status"]["containerStatuses"][0].get("restartCount", 0)
    netns_before = procs.netns_inode(netns.path(w2.netns))
    done = knet("machines", "reboot", "--name", machines.name, w2.name, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    # A fresh namespace, as a rebooted kernel: nothing of the node's network state survives.
    assert procs.netns_inode(netns.path(w2.netns)) != netns_before
    wait_for(
        "ip_forward set again at boot",
        lambda: machines.in_machine(w2, "cat", "/proc/sys/net/ipv4/ip_forward").stdout == "1\n",
    )
    assert machines.in_machine(w2, "systemctl", "is-enabled", "kubelet-lite").returncode == 0
    wait_for("knet-w2 Ready", lambda: w2.name in machines.ready_nodes(), timeout=120)
    wait_for("routes rebuilt", lambda: all(c in _routes(machines, w2) for c in other))
    wait_for(
        "KUBE-SERVICES rebuilt",
        lambda: "KUBE-SERVICES" in machines.in_machine(w2, "iptables-save").stdout,
    )

    def restarted() -> dict[str, Any] | None:
        p = machines.get("pod", "b")
        statuses = p["status"].get("containerStatuses") or [{}]
        again = statuses[0].get("restartCount", 0) > restarts
        ok = again and p["status"].get("phase") == "Running" and p["status"].get("podIP")
        return p if ok else None

    after = wait_for("pod b restarted on the rebooted machine", restarted, timeout=120)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    a_ip = machines.get("pod", "a")["status"]["podIP"]
    ping = wait_for(
        "b pings a",
        lambda: (
            machines.pod_exec(w2, "b", "ping", "-c", "1", "-W", "2", a_ip).returncode == 0 or None
        ),
    )
    assert ping


def _node(machines: Machines, name: str) -> tuple[str, set[str]]:
    """The Node's Ready status and its taints as key:effect."""
    n = machines.get("node", name)
    ready = [c["status"] for c in n["status"].get("conditions") or [] if c["type"] == "Ready"]
    taints = {f"{t['key']}:{t['effect']}" for t in n["spec"].get("taints") or []}
    return (ready[0] if ready else "?"), taints


def _deleting(machines: Machines, name: str) -> bool:
    done = machines.kubectl("get", "pod", name, "-o", "json")
    if done.returncode != 0:
        assert "NotFound" in done.stderr, done.stderr
        return True
    return bool(json.loads(done.stdout)["metadata"].get("deletionTimestamp"))


def test_a_stopped_worker_turns_not_ready_its_pods_are_evicted_and_it_comes_back(
    machines: Machines,
) -> None:
    """Upstream's node lifecycle: no heartbeat for --node-monitor-grace-period (40 s) makes
    Ready Unknown and taints the node unreachable:NoExecute; a pod tolerating that for 5 s is
    evicted then, one with the default 300 s is not yet. Started again, the Node turns Ready."""
    w1 = machines.layout.machine("knet-w1")
    short = json.loads(pod("evictme", w1.name, {"app": "evict"}))
    short["spec"]["tolerations"] = [
        {"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 5}
        for k in ("not-ready", "unreachable")
    ]  # fmt: skip
    done = machines.kubectl("apply", "-f", "-", stdin=json.dumps(short))
    assert done.returncode == 0, done.stderr
    done = machines.kubectl("apply", "-f", "-", stdin=pod("a", w1.name, {"app": "pair"}))
    assert done.returncode == 0, done.stderr
    wait_for("evictme running", lambda: machines.pod_ip("evictme"), timeout=120)
    wait_for("a running", lambda: machines.pod_ip("a"), timeout=120)
    done = knet("machines", "stop", "--name", machines.name, w1.name, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    status = machines.kubectl("get", "nodes")  # the API still answers with a worker gone
    assert status.returncode == 0, status.stderr
    # 40 s grace + 5 s monitor period + 5 s toleration, with room for a loaded 2-core box.
    wait_for("knet-w1 NotReady", lambda: _node(machines, w1.name)[0] != "True", timeout=150)
    assert "node.kubernetes.io/unreachable:NoExecute" in _node(machines, w1.name)[1]
    wait_for("evictme evicted", lambda: _deleting(machines, "evictme") or None, timeout=90)
    assert not _deleting(machines, "a")  # the default 300 s toleration has not run out
    assert not _pod_ready(machines, "a")  # marked not Ready with its node
    # Start it again: Ready, taints gone, and the evicted pod finished by its kubelet.
    done = knet("machines", "start", "--name", machines.name, w1.name, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    wait_for("knet-w1 Ready again", lambda: w1.name in machines.ready_nodes(), timeout=150)
    wait_for(
        "unreachable/not-ready taints removed",
        lambda: not {t for t in _node(machines, w1.name)[1] if "reach" in t or "not-ready" in t},
        timeout=60,
    )
    wait_for("a Ready again on knet-w1", lambda: _pod_ready(machines, "a") or None, timeout=150)
    wait_for(
        "evictme removed by its kubelet",
        lambda: "NotFound" in machines.kubectl("get", "pod", "evictme").stderr or None,
        timeout=90,
    )


def _pod_ready(machines: Machines, name: str) -> bool:
    st = machines.get("pod", name)["status"]
    return any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or [])


def test_down_after_up_was_killed_while_booting_leaves_nothing() -> None:
    ms = Machines(f"t{secrets.token_hex(2)}")
    ms.layout = layout.build(ms.name, 1)
    argv = [sys.executable, "-m", "knet.cli", "machines", "up", "--name", ms.name, "--nodes", "1"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    recorded: list[tuple[int, int | None]] = []
    try:

        def booting() -> bool | None:
            st = MachinesState.load(ms.layout.directory) if ms.layout.directory.exists() else None
            rec = st.process("init/knet-cp") if st is not None else None
            return True if rec is not None and rec.pid else None

        wait_for("a machine booting", booting, timeout=120)
        proc.kill()  # `up` dies; the machine it started runs on
        proc.wait(timeout=10)
        st = ms.state
        recorded = [(p.pid, p.start_ticks) for p in st.processes if p.pid is not None]
        assert any(procs.is_alive(p, t) for p, t in recorded)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        down = knet("machines", "down", "--name", ms.name, timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    assert ms.leftovers() == {"namespaces": [], "mounts": [], "files": []}
    assert [p for p, t in recorded if procs.is_alive(p, t)] == []
