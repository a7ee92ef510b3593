"""The local cluster, end to end, with the real kubectl: `kubectl logs` and `kubectl exec` reach
a pod on another node through the API server, which dials the kubelets from the underlay
namespace; no kubelet API listens in the root namespace."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cluster_harness import Cluster, new_cluster, wait_for

SCRIPT = "echo hello from $HOSTNAME; echo to stderr >&2; sleep 3600"


def root_listeners() -> str:
    done = subprocess.run(["ss", "-Htln"], capture_output=True, text=True, timeout=10)
    return done.stdout


def test_logs_and_exec_across_nodes(tmp_path: Path, cluster_factory: list[Cluster]) -> None:
    c = new_cluster(tmp_path, nodes=2)
    cluster_factory.append(c)
    done = c.up()
    assert done.returncode == 0, done.stdout + done.stderr
    node2 = c.topo.nodes[1].name
    manifest = (
        '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"talker"},"spec":{"nodeName":"'
        + node2
        + '","containers":[{"name":"main","image":"busybox","command":["sh","-c","'
        + SCRIPT.replace('"', '\\"')
        + '"]}]}}'
    )
    r = c.kubectl("apply", "-f", "-", stdin=manifest)
    assert r.returncode == 0, r.stderr

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
