"""`knet demo` end to end, as a user runs it: a 3-node cluster, real kubectl, real packets.

The first run leaves the cluster up with instructions; the second reuses it and, with --down,
removes it, leaving nothing with the cluster's prefix behind."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster_harness import Cluster, new_cluster

from knet.cluster import node_bootstrap

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.kubectl,
    pytest.mark.skipif(
        not node_bootstrap.module_available("kproxy"), reason="kproxy is not installed"
    ),
    pytest.mark.timeout(900),
]

DEMO_TIMEOUT = 400.0  # a guard against a hung demo, not a speed goal


def run_demo(c: Cluster, out: Path, *extra: str) -> tuple[int, str]:
    """Run `knet demo` for cluster ``c`` (its state under the test's tmp dir), noting the
    cluster's processes and namespaces while it runs, so that leftovers can be checked."""
    argv = [sys.executable, "-m", "knet.cli", "demo", "--name", c.name]
    argv += ["--state-dir", str(c.state_root), *extra]
    with open(out, "w") as f:
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + DEMO_TIMEOUT
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(OSError, ValueError):
                    c.remember()
                time.sleep(0.5)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    text = out.read_text()
    assert time.monotonic() < deadline, f"knet demo still running after {DEMO_TIMEOUT}s:\n{text}"
    return proc.returncode, text


def assert_shows_traffic(text: str) -> None:
    # A pod on node 1 pings a pod on another node.
    assert re.search(r"^3 packets transmitted, 3 received, 0% packet loss", text, re.M), text
    # Cluster DNS: the client's resolver is the kube-dns Service; web resolves to its
    # ClusterIP, the headless web-pods to the 3 pods.
    assert re.search(r"^nameserver 10\.96\.0\.10$", text, re.M), text
    assert re.search(r"^10\.\d+\.\d+\.\d+\s+web\.default\.svc\.cluster\.local$", text, re.M)
    headless = re.findall(r"^(10\.244\.\d+\.\d+)\s+STREAM\b", text, re.M)
    assert len(set(headless)) == 3, text
    # The Service by name: answers from at least 2 different pods, on at least 2 nodes.
    answers = re.findall(r"^\s*\d+\s+(web-[a-z0-9]+-[a-z0-9]+)\s+\(on (\S+)\)$", text, re.M)
    assert len(answers) >= 5, text
    assert len({pod for pod, _ in answers}) >= 2, answers
    assert len({node for _, node in answers}) >= 2, answers
    # The NodePort answers on each of the 3 node IPs.
    node_ports = re.findall(r"http://(172\.30\.0\.\d+):\d+/hostname\n(web-\S+)$", text, re.M)
    assert sorted(ip for ip, _ in node_ports) == ["172.30.0.1", "172.30.0.2", "172.30.0.3"]
    # kproxy's chains for the Service: KUBE-SERVICES -> KUBE-SVC -> 3 x KUBE-SEP -> DNAT.
    services = re.findall(
        r"^-A KUBE-SERVICES .*default/web:http cluster IP.* -j (KUBE-SVC-\w+)$", text, re.M
    )
    assert len(services) == 1, text
    seps = re.findall(rf"^-A {services[0]} .* -j (KUBE-SEP-\w+)$", text, re.M)
    assert len(set(seps)) == 3, text
    dnats = re.findall(
        r"^-A (KUBE-SEP-\w+) .* -j DNAT --to-destination (10\.244\.\d+\.\d+):8080$", text, re.M
    )
    assert {sep for sep, _ in dnats} == set(seps), text
    # kubectl's views.
    assert re.search(r"^web\s+NodePort\s+10\.\d+\.\d+\.\d+\s+<none>\s+80:\d+/TCP", text, re.M)
    assert re.search(r"^web-\w+\s+IPv4\s+8080\s+10\.244\.", text, re.M), text


def test_demo_leaves_the_cluster_up_then_reuses_it_and_removes_it_with_down(
    tmp_path: Path, cluster_factory: list[Cluster]
) -> None:
    c = new_cluster(tmp_path)
    cluster_factory.append(c)  # `cluster down` and a leftovers check in the fixture's finally

    code, first = run_demo(c, tmp_path / "first.out")
    assert code == 0, first
    assert_shows_traffic(first)
    # Left up, with the way in.
    assert f"export KUBECONFIG={c.kubeconfig}" in first
    assert f"cluster down --name {c.name}" in first
    nodes = c.kubectl("get", "nodes", "-o", "name")
    assert nodes.returncode == 0 and len(nodes.stdout.split()) == 3, nodes.stdout + nodes.stderr

    code, second = run_demo(c, tmp_path / "second.out", "--down")
    assert code == 0, second
    assert_shows_traffic(second)
    # The healthy cluster was reused (same control plane), then removed.
    assert "starting the control plane" not in second
    assert "deployment.apps/web unchanged" in second
    assert "pod/client unchanged" in second
    assert f"cluster {c.name} removed" in second
    assert not c.directory.exists()
    assert c.leftovers() == {"namespaces": [], "processes": [], "files": []}
