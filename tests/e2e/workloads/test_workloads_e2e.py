"""The workload controllers on the local cluster with the real kubectl, one cluster for the
module: a DaemonSet pod on every node, a Job that completes, a CronJob that fires, a
StatefulSet's pods with stable names and hostnames, and `kubectl rollout undo`."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cluster_harness import Cluster, running_cluster, wait_for

SLEEPER = {"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 3600"]}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A 2-node cluster shared by this module's tests; down (and checked clean) at the end."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    for tool in ("nsenter", "iptables", "kubectl"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    if not Path("/proc/sys/net/bridge").is_dir():
        pytest.skip("needs the br_netfilter module")
    with running_cluster(tmp_path_factory.mktemp("wl"), 2) as c:
        yield c


def apply(c: Cluster, obj: dict[str, Any]) -> None:
    done = c.kubectl("apply", "-f", "-", stdin=json.dumps(obj))
    assert done.returncode == 0, done.stderr


def ok(c: Cluster, *args: str, timeout: float = 120) -> str:
    done = c.kubectl(*args, timeout=timeout)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def test_daemonset_runs_a_pod_on_every_node(cluster: Cluster) -> None:
    labels = {"app": "agent"}
    apply(
        cluster,
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [SLEEPER]}},
            },
        },
    )
    out = ok(cluster, "rollout", "status", "ds/agent", "--timeout=120s", timeout=130)
    assert 'daemon set "agent" successfully rolled out' in out
    pods = cluster.kubectl_json("get", "pods", "-l", "app=agent")["items"]
    nodes = cluster.kubectl_json("get", "nodes")["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(
        n["metadata"]["name"] for n in nodes
    )
    table = ok(cluster, "get", "ds", "agent").splitlines()
    assert table[0].split()[:6] == [
        "NAME",
        "DESIRED",
        "CURRENT",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
    ]
    assert table[1].split()[1:6] == ["2", "2", "2", "2", "2"]


def test_job_completes(cluster: Cluster) -> None:
    ok(
        cluster,
        "create",
        "job",
        "answer",
        "--image=busybox:1.36",
        "--",
        "sh",
        "-c",
        "echo $((6*7))",
    )
    ok(
        cluster,
        "wait",
        "--for=condition=complete",
        "job/answer",
        "--timeout=120s",
        timeout=130,
    )
    assert ok(cluster, "logs", "job/answer").strip() == "42"
    row = ok(cluster, "get", "job", "answer").splitlines()[1].split()
    assert row[1:3] == ["Complete", "1/1"]


def test_cronjob_fires(cluster: Cluster) -> None:
    ok(
        cluster,
        "create",
        "cronjob",
        "tick",
        "--image=busybox:1.36",
        "--schedule=*/1 * * * *",
        "--",
        "sh",
        "-c",
        "echo tick",
    )
    # As if the CronJob had missed its last runs: its next start time is due now.
    back = (datetime.now(UTC) - timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ok(
        cluster,
        "patch",
        "cronjob",
        "tick",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"lastScheduleTime": back}}),
    )

    def fired() -> dict[str, Any] | None:
        cj = cluster.kubectl_json("get", "cronjob", "tick")
        return cj if (cj.get("status") or {}).get("lastSuccessfulTime") else None

    wait_for("the CronJob's Job to succeed", fired, timeout=120)
    jobs = cluster.kubectl_json("get", "jobs")["items"]
    mine = [j for j in jobs if j["metadata"]["name"].startswith("tick-")]
    assert len(mine) == 1
    assert mine[0]["metadata"]["ownerReferences"][0]["kind"] == "CronJob"


def test_statefulset_pods_have_stable_names(cluster: Cluster) -> None:
    labels = {"app": "db"}
    apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "db"},
            "spec": {"clusterIP": "None", "selector": labels, "ports": [{"port": 80}]},
        },
    )
    apply(
        cluster,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": {
                "serviceName": "db",
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [SLEEPER]}},
            },
        },
    )
    out = ok(cluster, "rollout", "status", "sts/db", "--timeout=120s", timeout=130)
    assert "roll out complete" in out
    pods = cluster.kubectl_json("get", "pods", "-l", "app=db")["items"]
    assert sorted(p["metadata"]["name"] for p in pods) == ["db-0", "db-1"]
    assert ok(cluster, "exec", "db-0", "--", "hostname").strip() == "db-0"
    hosts = ok(cluster, "exec", "db-1", "--", "cat", "/etc/hosts")
    assert "db-1.db.default.svc.cluster.local" in hosts
    ok(cluster, "delete", "pod", "db-0", "--wait=false")

    def back() -> str | None:
        pod = cluster.kubectl("get", "pod", "db-0", "-o", "json")
        if pod.returncode != 0:
            return None
        obj = json.loads(pod.stdout)
        if obj["metadata"].get("deletionTimestamp") or obj["status"].get("phase") != "Running":
            return None
        return str(obj["metadata"]["uid"])

    wait_for("db-0 to come back under its name", back, timeout=120)


def test_rollout_undo_deployment(cluster: Cluster) -> None:
    labels = {"app": "web"}
    apply(
        cluster,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [SLEEPER]}},
            },
        },
    )
    ok(cluster, "rollout", "status", "deploy/web", "--timeout=120s", timeout=130)
    ok(cluster, "set", "image", "deploy/web", "main=busybox:1.37")
    ok(cluster, "rollout", "status", "deploy/web", "--timeout=120s", timeout=130)
    before = {
        r["metadata"]["name"] for r in cluster.kubectl_json("get", "rs", "-l", "app=web")["items"]
    }
    assert "rolled back" in ok(cluster, "rollout", "undo", "deployment/web")
    ok(cluster, "rollout", "status", "deploy/web", "--timeout=120s", timeout=130)
    rss = cluster.kubectl_json("get", "rs", "-l", "app=web")["items"]
    assert {r["metadata"]["name"] for r in rss} == before
    live = [r for r in rss if r["spec"]["replicas"]]
    assert [r["spec"]["template"]["spec"]["containers"][0]["image"] for r in live] == [
        "busybox:1.36"
    ]
