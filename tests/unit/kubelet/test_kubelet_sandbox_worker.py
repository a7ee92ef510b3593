"""The sandbox worker's side (no root): the checkpoint records each step, add()'s own rollback is
the only one, and the control socket carries one reply per request line."""

from __future__ import annotations

import json
import socket
import threading
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, cast

import pytest

from kubelet_lite.network import worker
from kubelet_lite.network.conf import SandboxResult, SandboxSpec
from kubelet_lite.network.pod_network import PodNetwork, SandboxError
from kubelet_lite.status.checkpoint import PodCheckpoint, PodDir

RESULT = SandboxResult(
    netns="kl-x",
    netns_path="/run/netns/kl-x",
    ifname="eth0",
    ip=IPv4Address("10.244.1.2"),
    prefixlen=24,
    gateway=IPv4Address("10.244.1.1"),
    host_veth="kvx",
    mac="02:00:00:00:00:01",
)


class FakeNetwork:
    """Stands in for PodNetwork: logs the calls; add() fails as told, as a real add() would
    after undoing its own steps."""

    def __init__(self, fail: SandboxError | None = None) -> None:
        self.calls: list[str] = []
        self.fail = fail

    def add(self, spec: SandboxSpec) -> SandboxResult:
        self.calls.append("add")
        if self.fail is not None:
            raise self.fail
        return RESULT

    def delete(self, spec: SandboxSpec) -> None:
        self.calls.append("delete")


def run_create(
    tmp_path: Path, fake: FakeNetwork, state: str = "none"
) -> tuple[PodDir, PodCheckpoint]:
    cp = PodCheckpoint("uid-a", "default", "a", sandbox_state=state)  # type: ignore[arg-type]
    pd = PodDir(tmp_path, cp.uid)
    worker.create(cast(PodNetwork, fake), pd, cp, SandboxSpec(cp.uid, "default/a"))
    return pd, cp


def test_create_records_ready_with_the_result(tmp_path: Path) -> None:
    fake = FakeNetwork()
    pd, cp = run_create(tmp_path, fake)
    assert fake.calls == ["add"]
    record = pd.load()
    assert record is not None and record.sandbox_state == "ready" and record.sandbox == RESULT
    assert cp.sandbox == RESULT


def test_a_failed_add_that_rolled_back_is_not_deleted_again(tmp_path: Path) -> None:
    fake = FakeNetwork(SandboxError("add sandbox for pod a: add default route: boom"))
    with pytest.raises(SandboxError, match="boom"):
        run_create(tmp_path, fake)
    assert fake.calls == ["add"]  # add() undid its own steps; nobody deletes a second time
    record = PodDir(tmp_path, "uid-a").load()
    assert record is not None and record.sandbox_state == "none"


def test_a_failed_add_with_an_incomplete_rollback_stays_recorded_as_creating(
    tmp_path: Path,
) -> None:
    failure = SandboxError("add: x; rollback incomplete: delete veth", rolled_back=False)
    with pytest.raises(SandboxError, match="rollback incomplete"):
        run_create(tmp_path, FakeNetwork(failure))
    record = PodDir(tmp_path, "uid-a").load()
    assert record is not None and record.sandbox_state == "creating"
    # ... so the next create removes the remains before it adds.
    again = FakeNetwork()
    run_create(tmp_path, again, state=record.sandbox_state)
    assert again.calls == ["delete", "add"]


def test_delete_records_none_and_keeps_the_last_result(tmp_path: Path) -> None:
    fake = FakeNetwork()
    cp = PodCheckpoint("uid-a", "default", "a", sandbox_state="ready", sandbox=RESULT)
    pd = PodDir(tmp_path, cp.uid)
    worker.delete(cast(PodNetwork, fake), pd, cp, SandboxSpec(cp.uid))
    assert fake.calls == ["delete"]
    record = pd.load()
    assert record is not None and record.sandbox_state == "none" and record.sandbox == RESULT


def test_one_reply_per_request_line(tmp_path: Path) -> None:
    fake = FakeNetwork()
    ours, theirs = socket.socketpair()
    server = threading.Thread(target=worker.serve, args=(theirs, fake), daemon=True)
    server.start()
    cp = PodCheckpoint("uid-a", "default", "a")
    request: dict[str, Any] = {
        "op": "create",
        "podsDir": str(tmp_path),
        "checkpoint": cp.to_dict(),
        "spec": SandboxSpec(cp.uid).to_dict(),
    }
    lines = [b"not json\n", json.dumps({**request, "op": "rename"}).encode() + b"\n"]
    lines.append(json.dumps(request).encode() + b"\n")
    with ours, ours.makefile("rb") as replies:
        assert json.loads(replies.readline())["ready"] is True
        got = []
        for line in lines:
            ours.sendall(line)
            got.append(json.loads(replies.readline()))
        ours.shutdown(socket.SHUT_WR)
        server.join(5)
    theirs.close()
    assert not server.is_alive()  # EOF ends it
    assert got[0]["error"].startswith("bad request:")
    assert "unknown op 'rename'" in got[1]["error"]
    assert got[2]["checkpoint"]["sandboxState"] == "ready"
    assert fake.calls == ["add"]
