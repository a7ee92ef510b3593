"""The cgroup drivers over a scratch directory tree, and the kubelet's resource translation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from knet.api.base import from_wire
from knet.api.core import Container
from kubelet_lite.pods.pod_cgroups import container_cgroup
from kubelet_lite.runtime import cgroups
from kubelet_lite.runtime.cgroups import Limits, limits_for


def test_limits_as_the_kubelet_sets_them() -> None:
    assert limits_for(None) == Limits()
    assert limits_for({"limits": {"cpu": "250m", "memory": "64Mi"}}) == Limits(
        cpu_quota_us=25_000, cpu_shares=256, memory_bytes=64 * 2**20
    )
    assert limits_for({"requests": {"cpu": "1"}}) == Limits(cpu_shares=1024)
    # The CFS quota has a 1 ms floor, shares a floor of 2.
    assert limits_for({"limits": {"cpu": "1m"}}) == Limits(cpu_quota_us=1000, cpu_shares=2)
    assert limits_for({}, pids=100).pids == 100
    with pytest.raises(ValueError):
        limits_for({"limits": {"memory": "lots"}})


def fake_root(tmp_path: Path, version: int) -> Path:
    if version == 2:
        (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    else:
        for c in cgroups.V1_CONTROLLERS:
            (tmp_path / c).mkdir()
    return tmp_path


@pytest.mark.parametrize("version", [1, 2])
def test_driver_writes_limits_and_removes_by_uid(tmp_path: Path, version: int) -> None:
    driver = cgroups.detect(fake_root(tmp_path, version))
    assert driver is not None and driver.version == version
    procs = driver.create("u1", "web", Limits(10_000, 102, 2**20, 50))
    join_file = "tasks" if version == 1 else "cgroup.procs"  # v1: the thread moves itself
    assert len(procs) == (4 if version == 1 else 1)
    assert all(p.endswith(f"/knet/podu1/web/{join_file}") for p in procs)
    if version == 1:
        web = tmp_path / "cpu" / "knet" / "podu1" / "web"
        assert (web / "cpu.cfs_quota_us").read_text() == "10000"
        assert (web / "cpu.shares").read_text() == "102"
        mem = tmp_path / "memory" / "knet" / "podu1" / "web"
        assert (mem / "memory.limit_in_bytes").read_text() == str(2**20)
        assert (tmp_path / "pids" / "knet" / "podu1" / "web" / "pids.max").read_text() == "50"
        (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    else:
        web = tmp_path / "knet" / "podu1" / "web"
        assert (web / "cpu.max").read_text() == "10000 100000"
        assert (web / "memory.max").read_text() == str(2**20)
        assert (tmp_path / "knet" / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
        (web / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert driver.oom_kills("u1", "web") == 1
    assert driver.oom_kills("u1", "other") == 0
    # A real group holds no files; the fake's must go for rmdir to work.
    for d in [*driver.container_dirs("u1", "web"), *driver.pod_dirs("u1")]:
        for f in d.iterdir():
            if f.is_file():
                f.unlink()
    driver.remove_pod("u1")
    assert not driver.pod_exists("u1")
    driver.remove_pod("u1")  # idempotent


def test_no_controllers(tmp_path: Path) -> None:
    assert cgroups.detect(tmp_path) is None


@pytest.mark.parametrize("version", [1, 2])
def test_a_cgroup_tree_we_may_not_write_gives_no_driver(
    tmp_path: Path, version: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An nspawn machine on a v1 host sees /sys/fs/cgroup read-only (EROFS for access(W_OK)).
    root = fake_root(tmp_path, version)
    assert cgroups.detect(root) is not None
    monkeypatch.setattr(cgroups.os, "access", lambda path, mode: mode != os.W_OK)
    assert cgroups.detect(root) is None


@pytest.mark.parametrize("version", [1, 2])
def test_pod_max_pids_is_the_pods(tmp_path: Path, version: int) -> None:
    driver = cgroups.detect(fake_root(tmp_path, version))
    assert driver is not None
    pids_pod = driver.pod_dirs("u1")[-1]  # the pids controller's (v1) or the one group (v2)
    pids_pod.mkdir(parents=True)
    (pids_pod / "pids.max").write_text("max")  # as the kernel makes it
    c = from_wire(Container, {"name": "web", "image": "busybox"})
    container_cgroup(driver, "u1", c, 42)
    assert (pids_pod / "pids.max").read_text() == "42"
    assert not (driver.container_dirs("u1", "web")[-1] / "pids.max").exists()


@pytest.mark.parametrize("version", [1, 2])
def test_pods_in_their_qos_tier(tmp_path: Path, version: int) -> None:
    driver = cgroups.detect(fake_root(tmp_path, version))
    assert driver is not None
    procs = driver.create("u1", "web", Limits(), "Burstable")
    join = "cgroup.procs" if version == 2 else "tasks"  # v1: a thread joins by tasks
    assert all(p.endswith(f"/knet/burstable/podu1/web/{join}") for p in procs)
    driver.create("u2", "db", Limits(), "Guaranteed")
    # Found by UID alone, in the tier it was made in.
    assert all(d.parent.name == "burstable" for d in driver.pod_dirs("u1"))
    assert all(d.parent.name == "knet" for d in driver.pod_dirs("u2"))
    if version == 2:
        tier = tmp_path / "knet" / "burstable" / "cgroup.subtree_control"
        assert tier.read_text() == "+cpu +memory +pids"
    for root, _dirs, files in os.walk(tmp_path / ("knet" if version == 2 else "")):
        for f in files:
            if root != str(tmp_path):
                os.unlink(os.path.join(root, f))
    driver.remove_pod("u1")
    driver.remove_pod("u2")
    assert not driver.pod_exists("u1") and not driver.pod_exists("u2")
    driver.remove_if_unused()
    bases = (
        [tmp_path / "knet"] if version == 2 else [tmp_path / c / "knet" for c in ["cpu", "memory"]]
    )
    assert not any(base.exists() for base in bases)
