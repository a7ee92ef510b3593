#!/usr/bin/env python3
"""The long chaos run on an HA cluster: make one (`knet cluster up --control-planes 3`), put
writers and watchers on it, and in rounds kill -9 an etcd member (the leader, then a follower),
an API server, and the leading controller manager and scheduler, restarting each with
`knet cluster up`. Prints failover figures and the verdicts; removes the cluster at the end.
Needs root (the cluster's node lives in network namespaces). The short version is
tests/e2e/test_ha_chaos.py.

    sudo .venv/bin/python scripts/chaos_ha.py [--rounds 2] [--writers-per-key 5] [--keys 4]
        [--watchers 20] [--settle 8]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from knet.cluster import etcdmembers, ha, procs
from knet.testing.haload import Load, missed
from knet.testing.linearizability import check_history


class Run:
    def __init__(self, name: str, root: Path) -> None:
        self.name, self.root = name, root

    @property
    def directory(self) -> Path:
        return self.root / self.name

    def knet(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "knet.cli", *args, "--name", self.name]
        return subprocess.run(
            [*argv, "--state-dir", str(self.root)], capture_output=True, text=True, timeout=300
        )

    def up(self) -> float:
        t0 = time.monotonic()
        done = self.knet("cluster", "up", "--control-planes", "3", "--nodes", "1")
        if done.returncode != 0:
            raise SystemExit(f"cluster up failed: {done.stdout}{done.stderr}")
        return time.monotonic() - t0

    def state(self) -> dict[str, object]:
        return dict(json.loads((self.directory / "state.json").read_text()))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.state()['port']}"

    def kill9(self, role: str) -> None:
        for p in self.state()["processes"]:  # type: ignore[attr-defined]
            if p["role"] == role and procs.is_alive(p["pid"], p["start_ticks"]):
                os.kill(p["pid"], signal.SIGKILL)
                return
        raise SystemExit(f"{role} is not running")

    def holder(self, lease: str) -> str:
        url = f"{self.url}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{lease}"
        with urllib.request.urlopen(url, timeout=5) as r:
            return str(json.loads(r.read())["spec"]["holderIdentity"])

    def etcd_roles(self) -> tuple[int, int]:
        """(leader, a follower) member indexes."""
        layout = ha.load_layout(self.directory)
        assert layout is not None
        st = etcdmembers.endpoint_status(layout.members, ha.pki_of_dir(self.directory))
        leader = next(s.member.index for s in st if s.is_leader)
        follower = next(s.member.index for s in st if s.reachable and not s.is_leader)
        return leader, follower


def wait(what: str, fn: Callable[[], object], timeout: float = 60) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if fn():
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def fault_round(run: Run, load: Load, label: str, kill: Callable[[], None], settle: float) -> None:
    t = time.monotonic()
    kill()
    took = wait(f"writes after {label}", lambda: load.acknowledged_after(t) > 0)
    print(f"  {label}: writes acknowledged again after {took:.2f}s")
    time.sleep(settle)
    print(f"  restart (knet cluster up): {run.up():.1f}s")


def leaders_round(run: Run, settle: float) -> None:
    cm, sched = run.holder("kube-controller-manager"), run.holder("kube-scheduler")
    t = time.monotonic()
    run.kill9(f"controller-manager/{cm.rsplit('cp', 1)[1]}")
    run.kill9(f"scheduler/{sched.rsplit('cp', 1)[1]}")
    a = wait("a new controller-manager leader", lambda: run.holder("kube-controller-manager") != cm)
    wait("a new scheduler leader", lambda: run.holder("kube-scheduler") != sched)
    b = time.monotonic() - t
    print(f"  leaders killed: new controller manager after {a:.1f}s, scheduler after {b:.1f}s")
    time.sleep(settle)
    print(f"  restart (knet cluster up): {run.up():.1f}s")


def verdicts(load: Load) -> int:
    load.final_reads()
    bad = check_history(load.history.ops)
    writes = load.history.acknowledged_writes()
    unknown = sum(1 for op in load.history.ops if op.end is None)
    print(
        f"history: {len(load.history.ops)} operations, {len(writes)} writes acknowledged, "
        f"{unknown} of unknown outcome: {'linearizable' if not bad else 'NOT linearizable'}"
    )
    for v in bad[:5]:
        print(v.detail)
    problems = len(bad)
    for i, log in enumerate(load.logs):
        order, gaps = log.check_order(), missed(log, writes)
        problems += len(order) + len(gaps)
        if order or gaps:
            print(f"watcher {i}: {order[:3]} missed {[str(o) for o in gaps[:3]]}")
    events = [len(w.events) for w in load.logs]
    print(
        f"watchers: {len(load.logs)}, events seen min {min(events)} max {max(events)}, "
        f"reconnects {sum(w.reconnects for w in load.logs)}, relists "
        f"{sum(len(w.relists) for w in load.logs)}; problems: {problems}"
    )
    return 1 if problems else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--keys", type=int, default=4)
    p.add_argument("--writers-per-key", type=int, default=5)
    p.add_argument("--watchers", type=int, default=20)
    p.add_argument("--settle", type=float, default=8.0, help="seconds of load after each fault")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("chaos_ha.py: needs root (knet cluster up)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="kcha-") as tmp:
        run = Run(f"c{os.getpid() % 10000}", Path(tmp))
        try:
            print(f"cluster up (3 control planes, 1 node): {run.up():.1f}s")
            keys = tuple(f"chaos-{i}" for i in range(args.keys))
            load = Load(run.url, keys, args.writers_per_key, args.watchers)
            load.start()
            time.sleep(2)
            for r in range(args.rounds):
                print(f"round {r + 1}")
                leader, follower = run.etcd_roles()
                for label, role in (
                    ("etcd leader", f"etcd/{leader}"),
                    ("etcd follower", f"etcd/{follower}"),
                    ("API server 0", "apiserver/0"),
                ):
                    fault_round(run, load, label, functools.partial(run.kill9, role), args.settle)
                leaders_round(run, args.settle)
            load.stop()
            return verdicts(load)
        finally:
            print(run.knet("cluster", "down").stdout.strip())


if __name__ == "__main__":
    sys.exit(main())
