"""The sandbox worker pool (kubelet side): requests go to idle workers first come first served, a
worker's error comes back as SandboxError with the state its record holds, and a worker that dies
mid-request fails that request and is replaced.

The workers here are a stand-in program speaking the same protocol (no namespaces, no root): it
answers per a behaviour file, and logs what it was asked.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from kubelet_lite.network.conf import NetConf, SandboxSpec
from kubelet_lite.network.pod_network import SandboxError
from kubelet_lite.network.worker_pool import SandboxWorkers
from kubelet_lite.status.checkpoint import PodCheckpoint, PodDir

FAKE_WORKER = """\
#!{python}
# A stand-in sandbox worker. argv: -m kubelet_lite.network.worker --control-fd N ...
import json, os, socket, sys, time
fd = int(sys.argv[sys.argv.index("--control-fd") + 1])
here = os.path.dirname(os.path.abspath(__file__))
sock = socket.socket(fileno=fd)
sock.sendall(json.dumps({{"ready": True, "pid": os.getpid()}}).encode() + b"\\n")
for line in sock.makefile("rb"):
    req = json.loads(line)
    cp = req["checkpoint"]
    with open(os.path.join(here, "log"), "a") as f:
        f.write(f"{{os.getpid()}} {{req['op']}} {{cp['name']}}\\n")
    behaviour = open(os.path.join(here, "behaviour")).read().split()
    if "die-once" in behaviour and not os.path.exists(os.path.join(here, "died")):
        open(os.path.join(here, "died"), "w").close()
        os._exit(1)
    if "die-always" in behaviour:
        os._exit(1)
    if "slow" in behaviour:
        time.sleep(0.05)
    if "fail" in behaviour:
        reply = {{"error": "add sandbox: injected failure"}}
    else:
        cp["sandboxState"] = "ready" if req["op"] == "create" else "none"
        reply = {{"checkpoint": cp}}
    sock.sendall(json.dumps(reply).encode() + b"\\n")
"""


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "behaviour").write_text("ok")
    return tmp_path


def pool(fake: Path, workers: int) -> SandboxWorkers:
    conf = NetConf(ipam_dir=fake / "ipam")
    return SandboxWorkers(conf, fake / "pods", workers, python=str(fake / "fake_worker.py"))


def cp(name: str) -> PodCheckpoint:
    return PodCheckpoint(f"uid-{name}", "default", name)


def asked(fake: Path) -> list[tuple[int, str, str]]:
    lines = (fake / "log").read_text().split("\n") if (fake / "log").exists() else []
    return [(int(p), op, name) for p, op, name in (ln.split() for ln in lines if ln)]


async def test_requests_are_served_first_come_first_served(fake: Path) -> None:
    (fake / "behaviour").write_text("slow")
    sandboxes = pool(fake, 1)
    try:
        await sandboxes.warm()
        pods = [cp(f"p{i}") for i in range(4)]
        await asyncio.gather(
            *(sandboxes.request("create", c, SandboxSpec(c.uid, c.name)) for c in pods)
        )
        assert [c.sandbox_state for c in pods] == ["ready"] * 4
        assert [name for _, _, name in asked(fake)] == ["p0", "p1", "p2", "p3"]
        await sandboxes.request("delete", pods[0], SandboxSpec(pods[0].uid))
        assert pods[0].sandbox_state == "none"
    finally:
        sandboxes.close()


async def test_two_workers_share_the_requests(fake: Path) -> None:
    (fake / "behaviour").write_text("slow")
    sandboxes = pool(fake, 2)
    try:
        await sandboxes.warm()
        pods = [cp(f"p{i}") for i in range(6)]
        await asyncio.gather(
            *(sandboxes.request("create", c, SandboxSpec(c.uid, c.name)) for c in pods)
        )
        assert len({pid for pid, _, _ in asked(fake)}) == 2
    finally:
        sandboxes.close()


async def test_an_error_reply_is_a_sandbox_error_with_the_recorded_state(fake: Path) -> None:
    (fake / "behaviour").write_text("fail")
    sandboxes = pool(fake, 1)
    pod = cp("p")
    record = PodCheckpoint(pod.uid, pod.namespace, pod.name, sandbox_state="none")
    PodDir(fake / "pods", pod.uid).save(record)
    pod.sandbox_state = "ready"  # what we believed; the worker's record says otherwise
    try:
        with pytest.raises(SandboxError, match="injected failure"):
            await sandboxes.request("create", pod, SandboxSpec(pod.uid, pod.name))
        assert PodDir(fake / "pods", pod.uid).load() == record
        assert pod.sandbox_state == record.sandbox_state
    finally:
        sandboxes.close()


async def test_a_request_whose_worker_dies_goes_to_a_new_worker(fake: Path) -> None:
    (fake / "behaviour").write_text("die-once")
    sandboxes = pool(fake, 1)
    try:
        await sandboxes.warm()
        pod = cp("p")
        await asyncio.wait_for(sandboxes.request("create", pod, SandboxSpec(pod.uid, pod.name)), 30)
        assert pod.sandbox_state == "ready"
        (died, _, first), (served, _, again) = asked(fake)
        assert died != served and first == again == "p"  # a new process took it over
        assert sandboxes.live_workers == 1
    finally:
        sandboxes.close()


async def test_a_request_that_kills_every_worker_fails(fake: Path) -> None:
    (fake / "behaviour").write_text("die-always")
    sandboxes = pool(fake, 1)
    try:
        await sandboxes.warm()
        pod = cp("p")
        pod.sandbox_state = "creating"
        PodDir(fake / "pods", pod.uid).save(pod)
        with pytest.raises(SandboxError, match="sandbox worker died"):
            await asyncio.wait_for(
                sandboxes.request("create", pod, SandboxSpec(pod.uid, pod.name)), 30
            )
        assert [name for _, _, name in asked(fake)] == ["p", "p"]  # tried twice, then gave up
        assert pod.sandbox_state == "creating"  # as recorded
    finally:
        sandboxes.close()


async def test_a_worker_killed_while_idle_is_replaced(fake: Path) -> None:
    sandboxes = pool(fake, 1)
    try:
        await sandboxes.warm()
        pod = cp("a")
        await sandboxes.request("create", pod, SandboxSpec(pod.uid))
        [(pid, _, _)] = asked(fake)
        os.kill(pid, 9)  # a process this test started (through the pool)
        again = cp("b")
        await asyncio.wait_for(sandboxes.request("create", again, SandboxSpec(again.uid)), 30)
        assert again.sandbox_state == "ready"
        assert asked(fake)[-1][0] != pid
    finally:
        sandboxes.close()


async def test_closed_pool_refuses_work(fake: Path) -> None:
    sandboxes = pool(fake, 1)
    await sandboxes.warm()
    sandboxes.close()
    with pytest.raises(SandboxError, match="shut down"):
        await sandboxes.request("create", cp("x"), SandboxSpec("uid-x"))


def test_netconf_and_spec_cross_to_the_worker_intact(tmp_path: Path) -> None:
    conf = NetConf(
        ipam_dir=tmp_path,
        subnet="10.244.7.0/24",
        bridge="kbr9",
        node_netns="kt-node-x",
        mtu=1450,
        hairpin=False,
        node_sysctls=False,
        netns_prefix="kt-p-",
        veth_prefix="kw",
    )
    assert NetConf.from_dict(json.loads(json.dumps(conf.to_dict()))) == conf
    spec = SandboxSpec("uid ✓", "ns/name", "eth1")
    assert SandboxSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
