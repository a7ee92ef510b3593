"""The local cluster, end to end, with the real kubectl (and, where kubectl cannot show it, a
small SPDY client): `kubectl logs`, `exec`, `port-forward` and `cp` reach pods on another node
through the API server, which dials the kubelets from the underlay namespace; no kubelet API
listens in the root namespace. One two-node cluster for the whole module."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_harness import AGNHOST, Cluster, running_cluster, wait_for
from spdy_client import forward_once

SCRIPT = "echo hello from $HOSTNAME; echo to stderr >&2; sleep 3600"


def root_listeners() -> str:
    done = subprocess.run(["ss", "-Htln"], capture_output=True, text=True, timeout=10)
    return done.stdout


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("stream"), 2) as c:
        yield c


def apply(c: Cluster, doc: dict[str, object]) -> None:
    r = c.kubectl("apply", "-f", "-", stdin=json.dumps(doc))
    assert r.returncode == 0, r.stderr


def running(c: Cluster, name: str) -> None:
    def phase() -> bool | None:
        r = c.kubectl("get", "pod", name, "-o", "jsonpath={.status.phase}")
        return True if r.stdout == "Running" else None

    wait_for(f"pod {name} running", phase, timeout=90)


def test_logs_and_exec_across_nodes(cluster: Cluster) -> None:
    c = cluster
    node2 = c.topo.nodes[1].name
    pod = {"name": "main", "image": "busybox", "command": ["sh", "-c", SCRIPT]}
    apply(
        c,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "talker"},
            "spec": {"nodeName": node2, "containers": [pod]},
        },
    )

    def logged() -> str | None:
        r = c.kubectl("logs", "talker")
        return r.stdout if r.returncode == 0 and "stderr" in r.stdout else None

    out = wait_for("the pod's logs through kubectl", logged, timeout=90)
    assert out.splitlines() == ["hello from talker", "to stderr"]
    r = c.kubectl("exec", "talker", "--", "sh", "-c", "hostname; exit 3")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert r.stdout.strip() == "talker"
    r = c.kubectl("logs", "talker", "-c", "nope")
    assert r.returncode != 0 and "container nope is not valid for pod talker" in r.stderr
    assert ":10250 " not in root_listeners()


# Reads a connection to its end, then answers: only works if the client's half-close arrives.
UNTIL_EOF = (
    "import socket\n"
    "s = socket.create_server(('0.0.0.0', 7070))\n"
    "while True:\n"
    "    c, _ = s.accept()\n"
    "    n = 0\n"
    "    while d := c.recv(65536):\n"
    "        n += len(d)\n"
    "    c.sendall(b'read %d bytes' % n)\n"
    "    c.close()\n"
)


def web_pod(node: str) -> dict[str, object]:
    """Two HTTP servers (8080, 9090) and an answer-after-EOF server (7070) in one pod; nothing
    listens on 9999."""
    containers = [
        {
            "name": f"http{port}",
            "image": AGNHOST,
            "args": ["netexec", f"--http-port={port}", f"--udp-port={port + 1}"],
        }
        for port in (8080, 9090)
    ] + [{"name": "eof", "image": "busybox", "command": ["/usr/bin/python3", "-c", UNTIL_EOF]}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"nodeName": node, "containers": containers},
    }


def start_port_forward(c: Cluster, *ports: str) -> tuple[subprocess.Popen[str], dict[int, int]]:
    """`kubectl port-forward pod/web` on random local ports; (process, remote → local)."""
    proc = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(c.kubeconfig), "port-forward", "pod/web"]
        + [f":{p}" for p in ports],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    local: dict[int, int] = {}
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while len(local) < len(ports) and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", line)
        if m:
            local[int(m.group(2))] = int(m.group(1))
    if len(local) < len(ports):
        proc.kill()
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"kubectl port-forward did not start: {err}")
    return proc, local


def get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return str(r.read().decode())


def test_kubectl_port_forward_several_ports_and_connections(cluster: Cluster) -> None:
    c = cluster
    apply(c, web_pod(c.topo.nodes[1].name))
    running(c, "web")
    proc, local = start_port_forward(c, "8080", "9090", "7070")
    try:
        answers: list[str] = []
        failures: list[BaseException] = []

        def fetch(port: int) -> None:
            try:
                answers.append(get(port, "/hostname"))
            except BaseException as exc:  # collected and reported below
                failures.append(exc)

        threads = [
            threading.Thread(target=fetch, args=(local[p],)) for p in (8080, 9090) for _ in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert failures == []
        assert answers == ["web"] * 12
        # A bigger answer than one frame: netexec echoes what it is given.
        big = "x" * 60_000
        assert get(local[8080], f"/echo?msg={big}") == big
        # kubectl's half-close reaches the pod: the server answers only after EOF.
        with socket.create_connection(("127.0.0.1", local[7070]), timeout=10) as s:
            s.sendall(b"z" * 100_000)
            s.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        assert answer == b"read 100000 bytes"
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def test_kubectl_port_forward_closed_port_reports_error(cluster: Cluster) -> None:
    c = cluster
    running(c, "web")
    proc, local = start_port_forward(c, "9999")
    try:
        with pytest.raises(OSError):
            get(local[9999], "/")
        # kubectl 1.32 ends port-forward after a connection's error; it prints ours first.
        _, err = proc.communicate(timeout=20)
        assert "error forwarding port 9999 to pod web" in err
        assert "connection refused" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def test_tunnel_stays_up_after_a_refused_connection(cluster: Cluster) -> None:
    """The server side of kubectl's protocol, with several connections on one tunnel: a
    refused one reports on its error stream, and the next ones still work."""
    c = cluster
    running(c, "web")
    results = forward_once(c.kubeconfig, "default", "web", [9999, 8080, 9090])
    refused, first, second = results
    assert "connect: connection refused" in refused.error
    assert first.error == "" and first.data.endswith(b"web")
    assert second.error == "" and second.data.endswith(b"web")


def sleepers(marker: str) -> list[int]:
    """Pids of processes whose command line is exactly `sleep <marker>`."""
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "cmdline").read_bytes() == f"sleep\0{marker}\0".encode():
                    found.append(int(d.name))
            except OSError:
                continue
    return found


def test_exec_runs_as_the_container_in_its_cgroup_and_dies_with_the_pod(cluster: Cluster) -> None:
    c = cluster
    privileges = "grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status"
    script = f"cat /proc/self/cgroup; {privileges}; id -u; sleep 3600"
    locked = {"capabilities": {"drop": ["ALL"]}, "allowPrivilegeEscalation": False}
    apply(
        c,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "runner"},
            "spec": {
                "nodeName": c.topo.nodes[1].name,
                "terminationGracePeriodSeconds": 1,
                "securityContext": {"runAsUser": 1000, "runAsGroup": 1000},
                "containers": [
                    {
                        "name": "main",
                        "image": "busybox",
                        "command": ["sh", "-c", script],
                        "securityContext": locked,
                    }
                ],
            },
        },
    )
    running(c, "runner")

    def own_view() -> str | None:
        out = c.kubectl("logs", "runner").stdout
        return out if out.endswith("1000\n") else None

    logged = wait_for("the container's own cgroup and uid in its log", own_view)
    r = c.kubectl("exec", "runner", "--", "sh", "-c", f"cat /proc/self/cgroup; {privileges}; id -u")
    assert r.returncode == 0, r.stderr
    assert r.stdout == logged
    assert "CapBnd:\t0000000000000000" in logged and "NoNewPrivs:\t1" in logged
    # A command still running when the pod goes is killed with it.
    marker = str(6000 + os.getpid() % 1000)
    proc = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(c.kubeconfig), "exec", "runner", "--", "sleep", marker],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for("the exec'd sleep", lambda: sleepers(marker) or None, timeout=20)
        r = c.kubectl("delete", "pod", "runner", "--wait=true", timeout=60)
        assert r.returncode == 0, r.stderr
        wait_for("the exec'd sleep to die with its pod", lambda: not sleepers(marker) or None)
        assert proc.wait(timeout=20) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_kubectl_cp_both_ways(cluster: Cluster, tmp_path: Path) -> None:
    """tar through exec: into a volume and /tmp (the root is the node's, read-only) and back."""
    c = cluster
    box = {
        "name": "main",
        "image": "busybox",
        "command": ["sh", "-c", "sleep 3600"],
        "volumeMounts": [{"name": "scratch", "mountPath": "/mnt"}],
    }
    apply(
        c,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "box"},
            "spec": {
                "nodeName": c.topo.nodes[1].name,
                "containers": [box],
                "volumes": [{"name": "scratch", "emptyDir": {}}],
            },
        },
    )
    running(c, "box")
    up = tmp_path / "up"
    (up / "sub").mkdir(parents=True)
    (up / "a.txt").write_text("hello\n")
    (up / "sub" / "b.bin").write_bytes(os.urandom(300_000))
    r = c.kubectl("cp", str(up), "box:/mnt/up")
    assert r.returncode == 0, r.stderr
    r = c.kubectl("exec", "box", "--", "sh", "-c", "cat /mnt/up/a.txt; wc -c < /mnt/up/sub/b.bin")
    assert r.stdout.split() == ["hello", "300000"], r.stderr
    r = c.kubectl("cp", str(up / "a.txt"), "box:/tmp/a.txt")
    assert r.returncode == 0, r.stderr
    down = tmp_path / "down"
    r = c.kubectl("cp", "box:/mnt/up", str(down))
    assert r.returncode == 0, r.stderr
    assert (down / "a.txt").read_text() == "hello\n"
    assert (down / "sub" / "b.bin").read_bytes() == (up / "sub" / "b.bin").read_bytes()
    r = c.kubectl("cp", "box:/tmp/a.txt", str(tmp_path / "back.txt"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "back.txt").read_text() == "hello\n"
    # The node's root stays read-only: a clear error, not a hang.
    r = c.kubectl("cp", str(up / "a.txt"), "box:/a.txt")
    assert r.returncode != 0


def test_kubectl_top_nodes_and_pods(cluster: Cluster) -> None:
    """metrics.k8s.io from the kubelets' summaries: real figures for nodes and containers."""
    c = cluster
    apply(c, web_pod(c.topo.nodes[1].name))  # unchanged if there already
    running(c, "web")
    r = c.kubectl("top", "nodes", "--no-headers")
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()}
    assert set(rows) == {n.name for n in c.topo.nodes}
    for cells in rows.values():
        assert re.fullmatch(r"\d+m", cells[1]) and re.fullmatch(r"[1-9]\d*Mi", cells[3]), cells
    r = c.kubectl("top", "pods", "web", "--containers", "--no-headers")
    assert r.returncode == 0, r.stderr
    mine = {line.split()[1]: line.split() for line in r.stdout.splitlines()}
    assert set(mine) == {"http8080", "http9090", "eof"}  # the pod's containers, not its sandbox
    for cells in mine.values():
        assert re.fullmatch(r"\d+m", cells[2]) and re.fullmatch(r"[1-9]\d*Mi", cells[3]), cells
    r = c.kubectl("top", "pod", "nope")
    assert r.returncode != 0
    assert 'podmetrics.metrics.k8s.io "default/nope" not found' in r.stderr
    r = c.kubectl("top", "node", "nope")
    assert r.returncode != 0
    assert 'nodemetrics.metrics.k8s.io "nope" not found' in r.stderr


def test_kubectl_proxy_to_a_service_and_a_pod(cluster: Cluster) -> None:
    """services/proxy picks a ready endpoint from the EndpointSlices; pods/proxy goes to the
    pod's port; both through `kubectl proxy`, as a user would curl them."""
    c = cluster
    apply(c, web_pod(c.topo.nodes[1].name))
    running(c, "web")
    apply(
        c,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        },
    )
    proc = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(c.kubeconfig), "proxy", "--port=0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        m = re.search(r"127\.0\.0\.1:(\d+)", proc.stdout.readline())
        assert m, "kubectl proxy did not say where it listens"
        port = int(m.group(1))
        base = "/api/v1/namespaces/default"

        def through_service() -> str | None:
            try:
                return get(port, f"{base}/services/web:http/proxy/hostname")
            except OSError:
                return None  # the EndpointSlice may not be ready yet

        assert wait_for("the service through kubectl proxy", through_service) == "web"
        assert get(port, f"{base}/services/web:80/proxy/echo?msg=hi") == "hi"
        assert get(port, f"{base}/pods/web:9090/proxy/hostname") == "web"
        with pytest.raises(urllib.error.HTTPError) as e:
            get(port, f"{base}/services/web:81/proxy/")
        assert e.value.code == 503
        assert 'no service port 81 found for service \\"web\\"' in e.value.read().decode()
        with pytest.raises(urllib.error.HTTPError) as e:
            get(port, f"{base}/pods/web:9999/proxy/")
        assert e.value.code == 503
        assert "connection refused" in e.value.read().decode()
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def test_kubectl_run_i_rm_feeds_stdin_and_deletes_the_pod(cluster: Cluster) -> None:
    c = cluster
    script = "read x; echo got $x; exit 4"
    r = c.kubectl(
        "run", "once", "-i", "--rm", "--restart=Never", "--image=busybox",
        f"--overrides={json.dumps({'spec': {'nodeName': c.topo.nodes[1].name}})}",
        "--", "sh", "-c", script,
        stdin="hello\n",
        timeout=90,
    )  # fmt: skip
    assert r.returncode == 4, (r.stdout, r.stderr)
    assert "got hello" in r.stdout
    gone = c.kubectl("get", "pod", "once")
    assert gone.returncode != 0 and 'pods "once" not found' in gone.stderr


def test_kubectl_run_i_ends_the_containers_stdin_with_its_own(cluster: Cluster) -> None:
    """kubectl run -i sets stdinOnce: when kubectl's stdin ends, the container reads EOF."""
    c = cluster
    r = c.kubectl(
        "run", "counter", "-i", "--rm", "--restart=Never", "--image=busybox",
        "--", "wc", "-l",
        stdin="a\nb\nc\n",
        timeout=90,
    )  # fmt: skip
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.split()[0] == "3", r.stdout


def test_kubectl_attach_i_writes_to_the_containers_stdin(cluster: Cluster) -> None:
    c = cluster
    loop = "while read l; do echo echo:$l; done"
    apply(
        c,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "echoer"},
            "spec": {
                "nodeName": c.topo.nodes[0].name,
                "containers": [
                    {"name": "main", "image": "busybox", "stdin": True,
                     "command": ["sh", "-c", loop]}
                ],
            },
        },
    )  # fmt: skip
    running(c, "echoer")
    proc = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(c.kubeconfig), "attach", "-i", "echoer"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("one\ntwo\n")
        proc.stdin.flush()
        seen = [proc.stdout.readline().strip() for _ in range(2)]
        assert seen == ["echo:one", "echo:two"]
    finally:
        proc.kill()
        proc.communicate(timeout=10)
    # The container outlived the attach; what it wrote is in its log too.
    r = c.kubectl("logs", "echoer")
    assert r.stdout.splitlines() == ["echo:one", "echo:two"]
