"""Allocators in separate processes share one directory and never hand out an address twice,
not even when one of them is killed mid-way."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from knet.ipam.allocator import IPAllocator
from knet.ipam.disk_store import DiskStore
from knet.ipam.ranges import Range
from knet.ipam.store import Owner

CTX = mp.get_context("spawn")  # fresh interpreters, as separate kubelet processes would be


def _allocate_many(directory: str, subnet: str, tag: str, n: int, start: Any) -> list[str]:
    alloc = IPAllocator(Range.from_subnet(subnet), DiskStore(directory))
    start.wait()
    return [str(alloc.allocate(Owner(f"{tag}-{i}", "eth0")).ip) for i in range(n)]


def _churn(directory: str, subnet: str, tag: str, rounds: int, start: Any) -> list[str]:
    """Allocate, check the record is ours, hold a few, release; return any violations."""
    alloc = IPAllocator(Range.from_subnet(subnet), DiskStore(directory))
    problems: list[str] = []
    held: list[Owner] = []
    start.wait()
    for i in range(rounds):
        me = Owner(f"{tag}-{i}", "eth0")
        ip = alloc.allocate(me).ip
        content = (Path(directory) / str(ip)).read_bytes()
        if content != f"{me.id}\r\neth0".encode():
            problems.append(f"{ip} handed to {me.id} but its record says {content!r}")
        held.append(me)
        if len(held) > 3:
            alloc.release(held.pop(0))
    for me in held:
        alloc.release(me)
    return problems


def _allocate_then_die(directory: str, subnet: str) -> None:
    alloc = IPAllocator(Range.from_subnet(subnet), DiskStore(directory))
    alloc.allocate(Owner("crashed-pod", "eth0"))
    os.kill(os.getpid(), signal.SIGKILL)


def _die_holding_the_lock(directory: str) -> None:
    store = DiskStore(directory)
    with store.lock():
        os.kill(os.getpid(), signal.SIGKILL)


def test_two_processes_allocating_200_addresses_never_collide(tmp_path: Path) -> None:
    subnet = "10.244.0.0/23"  # 509 addresses: room for both
    with CTX.Manager() as manager:
        start = manager.Event()
        with CTX.Pool(2) as pool:
            jobs = [
                pool.apply_async(_allocate_many, (str(tmp_path), subnet, tag, 100, start))
                for tag in ("a", "b")
            ]
            start.set()
            a, b = (job.get(timeout=120) for job in jobs)
    assert len(a) == len(b) == 100
    assert not set(a) & set(b)
    assert len(set(a) | set(b)) == 200
    files = {p.name for p in tmp_path.iterdir() if p.name[0].isdigit()}
    assert files == set(a) | set(b)


def test_concurrent_churn_in_a_small_range_never_double_books(tmp_path: Path) -> None:
    subnet = "10.244.1.0/28"  # 13 addresses, 2 x 4 held at most: heavy reuse
    with CTX.Manager() as manager:
        start = manager.Event()
        with CTX.Pool(2) as pool:
            jobs = [
                pool.apply_async(_churn, (str(tmp_path), subnet, tag, 150, start))
                for tag in ("a", "b")
            ]
            start.set()
            problems = [p for job in jobs for p in job.get(timeout=120)]
    assert problems == []
    assert not [p for p in tmp_path.iterdir() if p.name[0].isdigit()]


def test_a_killed_allocator_leaves_a_reservation_that_only_gc_frees(tmp_path: Path) -> None:
    subnet = "10.0.0.0/29"
    proc = CTX.Process(target=_allocate_then_die, args=(str(tmp_path), subnet))
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL
    assert (tmp_path / "10.0.0.2").read_bytes() == b"crashed-pod\r\neth0"

    alloc = IPAllocator(Range.from_subnet(subnet), DiskStore(tmp_path))
    # After the "restart" the crashed reservation is respected...
    assert alloc.allocate(Owner("new-pod", "eth0")).ip == IPv4Address("10.0.0.3")
    # ...until GC learns that its owner is gone.
    assert alloc.gc({"new-pod"}) == [IPv4Address("10.0.0.2")]
    assert not (tmp_path / "10.0.0.2").exists()


def test_a_process_killed_while_holding_the_lock_does_not_wedge_others(tmp_path: Path) -> None:
    proc = CTX.Process(target=_die_holding_the_lock, args=(str(tmp_path),))
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL
    alloc = IPAllocator(Range.from_subnet("10.0.0.0/29"), DiskStore(tmp_path))
    assert alloc.allocate(Owner("p", "eth0")).ip == IPv4Address("10.0.0.2")
