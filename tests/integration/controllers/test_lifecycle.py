"""Namespace deletion, garbage collection (background, foreground, orphan) and leader-election
failover between two `knet controller-manager` processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from _fakecluster import Cluster, eventually
from test_workloads import deployment, live_pods, three_nodes

from knet.client import ApiClient, ApiError, is_not_found
from knet.testing.apiserver import ApiServerProcess

Obj = dict[str, Any]


async def gone(client: ApiClient, kind: str, name: str, namespace: str | None = None) -> bool:
    try:
        await client.get(kind, name, namespace)
    except ApiError as e:
        if is_not_found(e):
            return True
        raise
    return False


async def fill_namespace(cluster: Cluster, ns: str) -> None:
    client = cluster.client
    await client.create({"kind": "Namespace", "metadata": {"name": ns}})
    await client.create(deployment("web", 3), namespace=ns)
    await client.create(
        {"kind": "Service", "metadata": {"name": "web"},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
        namespace=ns,
    )  # fmt: skip

    async def running() -> bool:
        pods, _ = await client.list("Pod", ns)
        slices, _ = await client.list("EndpointSlice", ns)
        return len(pods) == 3 and bool(slices) and bool(slices[0]["endpoints"])

    await eventually(running)


async def test_namespace_deletion_removes_contents_then_namespace(cluster: Cluster) -> None:
    await three_nodes(cluster)
    client = cluster.client
    await fill_namespace(cluster, "kt-ns")
    ns = await client.delete("Namespace", "kt-ns")
    assert ns["status"]["phase"] == "Terminating"

    async def ns_gone() -> bool:
        return await gone(client, "Namespace", "kt-ns")

    await eventually(ns_gone, timeout=30)
    # Recreated empty: nothing of the old content came back or lingered.
    await client.create({"kind": "Namespace", "metadata": {"name": "kt-ns"}})
    for kind in ("Deployment", "ReplicaSet", "Pod", "Service", "EndpointSlice", "Endpoints"):
        items, _ = await client.list(kind, "kt-ns")
        assert items == [], kind


@pytest.mark.kubectl
async def test_kubectl_delete_namespace_returns(cluster: Cluster, tmp_path: Path) -> None:
    await three_nodes(cluster)
    await fill_namespace(cluster, "kt-gone")
    home = tmp_path / "home"
    home.mkdir()
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(cluster.server.kubeconfig),
        "--cache-dir", str(tmp_path / "cache"), "delete", "ns", "kt-gone", "--timeout=60s",
        env={**os.environ, "HOME": str(home)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, (out.decode(), err.decode())
    assert 'namespace "kt-gone" deleted' in out.decode()
    assert await gone(cluster.client, "Namespace", "kt-gone")


async def test_background_cascade_removes_replicasets_and_pods(cluster: Cluster) -> None:
    await three_nodes(cluster)
    client = cluster.client
    await client.create(deployment("web", 3))

    async def three() -> bool:
        return len(await live_pods(client, "web")) == 3

    await eventually(three)
    await client.delete("Deployment", "web", "default", propagation_policy="Background")
    assert await gone(client, "Deployment", "web", "default")  # at once: background

    async def all_gone() -> bool:
        rss, _ = await client.list("ReplicaSet", "default")
        pods, _ = await client.list("Pod", "default", label_selector={"app": "web"})
        return not rss and not pods

    await eventually(all_gone)


async def test_foreground_cascade_deletes_dependents_first(cluster: Cluster) -> None:
    await three_nodes(cluster)
    client = cluster.client
    await client.create(deployment("web", 3))

    async def three() -> bool:
        return len(await live_pods(client, "web")) == 3

    await eventually(three)
    await client.delete("Deployment", "web", "default", propagation_policy="Foreground")
    d = await client.get("Deployment", "web", "default")
    assert "foregroundDeletion" in d["metadata"]["finalizers"]
    assert d["metadata"]["deletionTimestamp"]
    while not await gone(client, "Deployment", "web", "default"):
        # While the Deployment is still there, its dependents may be; once it is gone, they
        # must already be gone.
        await asyncio.sleep(0.05)
    rss, _ = await client.list("ReplicaSet", "default")
    pods, _ = await client.list("Pod", "default", label_selector={"app": "web"})
    assert rss == [] and pods == []


async def test_orphan_policy_keeps_pods_without_owner_references(cluster: Cluster) -> None:
    await three_nodes(cluster)
    client = cluster.client
    rs = {
        "kind": "ReplicaSet",
        "apiVersion": "apps/v1",
        "metadata": {"name": "rs"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "rs"}},
            "template": {
                "metadata": {"labels": {"app": "rs"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }
    await client.create(rs)

    async def three() -> bool:
        return len(await live_pods(client, "rs")) == 3

    await eventually(three)
    before = {p["metadata"]["uid"] for p in await live_pods(client, "rs")}
    await client.delete("ReplicaSet", "rs", "default", propagation_policy="Orphan")

    async def rs_gone() -> bool:
        return await gone(client, "ReplicaSet", "rs", "default")

    await eventually(rs_gone)
    pods = await live_pods(client, "rs")
    assert {p["metadata"]["uid"] for p in pods} == before  # the same pods, kept
    assert all(not p["metadata"].get("ownerReferences") for p in pods)


# ---------------------------------------------------------------------------- leader election

LEASE = 3.0
RENEW = 2.0
RETRY = 0.5


def start_manager(server: ApiServerProcess, identity: str, log: Path) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable, "-m", "knet.cli", "controller-manager",
        "--kubeconfig", str(server.kubeconfig),
        "--leader-elect", "--leader-elect-identity", identity,
        "--leader-elect-lease-duration", f"{LEASE}s",
        "--leader-elect-renew-deadline", f"{RENEW}s",
        "--leader-elect-retry-period", f"{int(RETRY * 1000)}ms",
        "--controllers", "replicaset,deployment",
    ]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture
def managers(
    apiserver: ApiServerProcess, tmp_path: Path
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        yield procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def test_leader_failover(
    apiserver: ApiServerProcess, tmp_path: Path, managers: dict[str, subprocess.Popen[bytes]]
) -> None:
    client = ApiClient.from_url(apiserver.url)
    try:

        async def holder() -> str | None:
            try:
                lease = await client.get("Lease", "kube-controller-manager", "kube-system")
            except ApiError:
                return None
            value = lease["spec"].get("holderIdentity")
            return value if isinstance(value, str) else None

        managers["kt-a"] = start_manager(apiserver, "kt-a", tmp_path / "a.log")

        async def a_leads() -> bool:
            return await holder() == "kt-a"

        await eventually(a_leads)
        managers["kt-b"] = start_manager(apiserver, "kt-b", tmp_path / "b.log")
        await client.create(deployment("one", 0))

        async def rs_for(name: str) -> bool:
            rss, _ = await client.list("ReplicaSet", "default", label_selector={"app": name})
            return len(rss) == 1

        await eventually(lambda: rs_for("one"))
        assert await holder() == "kt-a"  # b stands by while a renews
        lease = await client.get("Lease", "kube-controller-manager", "kube-system")
        transitions = lease["spec"].get("leaseTransitions", 0)

        managers["kt-a"].send_signal(signal.SIGKILL)  # a crash: no release of the lease
        managers["kt-a"].wait()
        lease_before_kill = await client.get("Lease", "kube-controller-manager", "kube-system")
        last_renew = parse(lease_before_kill["spec"]["renewTime"])

        async def b_leads() -> bool:
            return await holder() == "kt-b"

        await eventually(b_leads, timeout=30)
        lease = await client.get("Lease", "kube-controller-manager", "kube-system")
        assert lease["spec"]["leaseTransitions"] == transitions + 1
        # The lease's own record: b acquired within one lease duration of a's last renewal
        # (plus b's polling: it looks every retry period, with jitter).
        gap = (parse(lease["spec"]["acquireTime"]) - last_renew).total_seconds()
        assert gap <= LEASE + 2 * RETRY * 1.2 + 1.0, gap
        # And b does the work now.
        await client.create(deployment("two", 0))
        await eventually(lambda: rs_for("two"))
    finally:
        await client.close()
