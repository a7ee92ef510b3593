"""The per-pod records on disk: checkpoints round-trip, run records are found, odd UIDs are safe."""

from __future__ import annotations

import json
from ipaddress import IPv4Address
from pathlib import Path

from kubelet_lite.network.conf import SandboxResult
from kubelet_lite.status.checkpoint import PodCheckpoint, StateStore, dir_name

SANDBOX = SandboxResult(
    netns="kl-abc",
    netns_path="/run/netns/kl-abc",
    ifname="eth0",
    ip=IPv4Address("10.244.1.5"),
    prefixlen=24,
    gateway=IPv4Address("10.244.1.1"),
    host_veth="kv0123456789",
    mac="aa:bb:cc:dd:ee:ff",
)


def test_checkpoint_round_trip_keeps_unknown_fields(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    pd = store.pod("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    cp = PodCheckpoint("1b4e28ba-2fa1-11d2-883f-0016d3cca427", "default", "web", "ready", SANDBOX)
    cp.start_time = "2024-01-01T00:00:00Z"
    cp.extra = {"futureField": 1}
    pd.save(cp)
    loaded = pd.load()
    assert loaded == cp
    assert json.loads(pd.checkpoint_path.read_text())["futureField"] == 1
    assert [(p.uid, c) for p, c in store.all()] == [(cp.uid, cp)]


def test_odd_uids_get_hashed_directory_names(tmp_path: Path) -> None:
    assert dir_name("abc-123") == "abc-123"
    for uid in ("../../etc", "a/b", ".", "x" * 300, "spaces here"):
        name = dir_name(uid)
        assert name.startswith("h-") and "/" not in name and len(name) <= 40
    pd = StateStore(tmp_path).pod("../escape")
    pd.save(PodCheckpoint("../escape", "default", "p"))
    assert pd.path.parent == tmp_path and pd.load() is not None


def test_attempts_read_from_run_records(tmp_path: Path) -> None:
    pd = StateStore(tmp_path).pod("u1")
    pd.save(PodCheckpoint("u1", "default", "p"))
    pd.pid_file("web", 0).write_text(json.dumps({"pid": 10, "startTicks": 5, "startedAt": "t0"}))
    pd.exit_file("web", 0).write_text(
        json.dumps({"pid": 10, "exitCode": 1, "signal": None, "finishedAt": "t1"})
    )
    pd.pid_file("web", 1).write_text(json.dumps({"pid": 11, "startTicks": 6, "startedAt": "t2"}))
    (pd.run_dir / "web.2.pid.tmp123").write_text("torn")  # an unfinished write is ignored
    (pd.run_dir / "sidecar.0.pid").write_text("not json")
    runs = pd.attempts()
    assert [a.number for a in runs["web"]] == [0, 1]
    assert runs["web"][0].exit is not None and runs["web"][0].exit.exit_code == 1
    assert runs["web"][1].process is not None and runs["web"][1].exit is None
    assert runs["sidecar"][0].process is None


def test_unreadable_checkpoint_and_removal(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    pd = store.pod("u2")
    pd.save(PodCheckpoint("u2", "default", "p"))
    pd.checkpoint_path.write_text("{torn")
    assert pd.load() is None
    assert [c for _, c in store.all()] == [None]
    pd.remove()
    assert not pd.exists() and list(store.all()) == []


def test_a_uid_with_a_trailing_newline_is_not_a_safe_directory_name() -> None:
    assert dir_name("abc") == "abc"
    hashed = dir_name("abc\n")
    assert hashed.startswith("h-") and "\n" not in hashed
