"""Chaos on an HA cluster (`knet cluster up --control-planes 3 --nodes 1`, one per module):
kill -9 an etcd member, an API server, the leading controller manager and scheduler, while
writers do creates and compare-and-swap updates through haproxy and watchers watch.

After each fault: no acknowledged write is lost and every key's history is linearizable
(knet.testing.linearizability), each watcher saw revisions strictly increasing with no gap,
writes were acknowledged again after the fault, and `knet cluster up` restarts what died.
Failover figures are printed (-s shows them); they are not asserted (the machine is shared).
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_harness import (
    Cluster,
    reap_children,
    running_cluster,
    wait_for,
)

from knet.cluster import etcdmembers, ha, procs
from knet.testing.haload import Load, configmap, missed
from knet.testing.linearizability import check_history

LOAD_BEFORE = 1.5  # seconds of load before the fault
LOAD_AFTER = 6.0  # and after it


@pytest.fixture(scope="module")
def hac(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    for tool in ("etcd", "etcdctl", "haproxy"):
        if not any(Path(d, tool).exists() for d in os.environ.get("PATH", "").split(":")):
            pytest.skip(f"needs {tool} (scripts/setup installs etcd-server, etcd-client, haproxy)")
    with running_cluster(tmp_path_factory.mktemp("ha"), 1, "--control-planes", "3") as c:
        yield c


def api_url(c: Cluster) -> str:
    return f"http://127.0.0.1:{c.state()['port']}"


def record(c: Cluster, role: str) -> dict[str, Any]:
    for p in c.state()["processes"]:
        if p["role"] == role:
            return dict(p)
    raise AssertionError(f"no process {role} recorded")


def kill9(c: Cluster, role: str) -> None:
    """kill -9 the recorded process of ``role`` (checked against its start time)."""
    p = record(c, role)
    assert procs.is_alive(p["pid"], p["start_ticks"]), f"{role} is not running"
    os.kill(p["pid"], signal.SIGKILL)
    wait_for(f"{role} to die", lambda: not procs.is_alive(p["pid"], p["start_ticks"]), 10)
    reap_children()


def lease_holder(c: Cluster, name: str) -> str:
    url = f"{api_url(c)}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}"
    with urllib.request.urlopen(url, timeout=5) as r:
        return str(json.loads(r.read())["spec"]["holderIdentity"])


def run_with_fault(c: Cluster, tag: str, fault: Any) -> Load:
    """Load, the fault, more load; then check the history and the watches."""
    load = Load(api_url(c), keys=(f"{tag}-a", f"{tag}-b"))
    load.start()
    time.sleep(LOAD_BEFORE)
    t_fault = time.monotonic()
    fault()
    first_ok = wait_for(
        "an acknowledged write after the fault",
        lambda: min(
            (op.end for op in load.history.acknowledged_writes() if op.start >= t_fault),
            default=None,
        ),
        timeout=30,
    )
    print(f"\n{tag}: first write acknowledged {first_ok - t_fault:.2f}s after the fault")
    time.sleep(LOAD_AFTER)
    load.stop()
    return load


def check(load: Load) -> None:
    load.final_reads()
    bad = check_history(load.history.ops)
    assert not bad, "\n".join(v.detail for v in bad)
    writes = load.history.acknowledged_writes()
    unknown = sum(1 for op in load.history.ops if op.end is None)
    print(
        f"{len(load.history.ops)} operations, {len(writes)} writes acknowledged, {unknown} "
        f"of unknown outcome; watchers saw {[len(w.events) for w in load.logs]} events, "
        f"reconnected {[w.reconnects for w in load.logs]} times, relisted "
        f"{[len(w.relists) for w in load.logs]}"
    )
    assert len(writes) > 10, f"too few acknowledged writes to mean anything: {len(writes)}"
    for log in load.logs:
        assert not log.check_order()
        gaps = missed(log, writes)
        assert not gaps, f"a watcher missed acknowledged writes: {[str(o) for o in gaps[:5]]}"
        assert log.events, "a watcher saw nothing"
        # Load.stop let the watchers drain: each reached the last acknowledged write.
        assert log.events[-1][0] >= max(op.version or 0 for op in writes)


def restart(c: Cluster) -> None:
    done = c.up("--control-planes", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    status = c.cli("cluster", "status")
    assert status.returncode == 0, status.stdout + status.stderr


def leading_member(c: Cluster) -> int:
    layout = ha.load_layout(c.directory)
    assert layout is not None
    statuses = etcdmembers.endpoint_status(layout.members, ha.pki_of_dir(c.directory))
    leaders = [s.member.index for s in statuses if s.is_leader]
    assert len(leaders) == 1, statuses
    return leaders[0]


def test_kill_the_etcd_leader(hac: Cluster) -> None:
    victim = leading_member(hac)
    load = run_with_fault(hac, "etcd", lambda: kill9(hac, f"etcd/{victim}"))
    check(load)
    assert leading_member(hac) != victim  # the other two elected one of themselves
    restart(hac)


def test_kill_an_api_server(hac: Cluster) -> None:
    load = run_with_fault(hac, "api", lambda: kill9(hac, "apiserver/0"))
    check(load)
    restart(hac)


def test_kill_the_leading_controller_manager_and_scheduler(hac: Cluster) -> None:
    cm, sched = (lease_holder(hac, n) for n in ("kube-controller-manager", "kube-scheduler"))
    t0 = time.monotonic()
    kill9(hac, f"controller-manager/{cm.rsplit('cp', 1)[1]}")
    kill9(hac, f"scheduler/{sched.rsplit('cp', 1)[1]}")
    new_cm = wait_for(
        "a new controller-manager leader",
        lambda: (h := lease_holder(hac, "kube-controller-manager")) != cm and h,
        timeout=45,
    )
    new_sched = wait_for(
        "a new scheduler leader",
        lambda: (h := lease_holder(hac, "kube-scheduler")) != sched and h,
        timeout=45,
    )
    print(f"\nnew leaders {new_cm}, {new_sched} after {time.monotonic() - t0:.1f}s")
    # The new leaders work: a Deployment gets a pod (controller manager), the pod a node
    # (scheduler).
    node = hac.topo.nodes[0].name
    hac.kubectl("create", "deployment", "after-failover", "--image=registry.k8s.io/pause:3.9")
    wait_for(
        "the deployment's pod to be scheduled",
        lambda: any(
            p["spec"].get("nodeName") == node
            for p in hac.kubectl_json("get", "pods", "-l", "app=after-failover")["items"]
        ),
        timeout=60,
    )
    restart(hac)


def test_losing_quorum_fails_writes_with_a_status_then_recovers(hac: Cluster) -> None:
    layout = ha.load_layout(hac.directory)
    assert layout is not None
    for m in layout.members[:2]:
        kill9(hac, f"etcd/{m.index}")
    body = json.dumps(configmap("no-quorum", "x")).encode()
    t0 = time.monotonic()
    req = urllib.request.Request(
        f"{api_url(hac)}/api/v1/namespaces/default/configmaps",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    took = time.monotonic() - t0
    status = json.loads(err.value.read())
    print(f"\nwithout quorum: HTTP {err.value.code} {status.get('reason')} after {took:.1f}s")
    assert err.value.code >= 500 and status["kind"] == "Status"
    restart(hac)
    done = hac.kubectl("create", "configmap", "after-quorum", "--from-literal=a=b")
    assert done.returncode == 0, done.stderr
