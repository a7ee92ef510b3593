"""The on-disk store: host-local's files, exclusive creation, persistence across instances."""

from __future__ import annotations

import os
import stat
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from knet.ipam.allocator import DuplicateAllocation, IPAllocator
from knet.ipam.disk_store import DiskStore
from knet.ipam.ranges import Range
from knet.ipam.store import Owner

A = IPv4Address
POD = Owner("0b8f9c3e-pod", "eth0")


def test_reserve_writes_one_exclusive_file_per_ip(tmp_path: Path) -> None:
    store = DiskStore(tmp_path / "net")
    with store.lock():
        assert store.reserve(POD, A("10.244.1.2"), "0")
        assert not store.reserve(Owner("other", "eth0"), A("10.244.1.2"), "0")
    path = tmp_path / "net" / "10.244.1.2"
    assert path.read_bytes() == b"0b8f9c3e-pod\r\neth0"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (tmp_path / "net" / "last_reserved_ip.0").read_text() == "10.244.1.2"
    assert (tmp_path / "net" / "lock").exists()


def test_a_file_left_by_anyone_blocks_the_address(tmp_path: Path) -> None:
    (tmp_path / "10.244.1.2").write_bytes(b"someone-else\r\neth0")
    store = DiskStore(tmp_path)
    with store.lock():
        assert not store.reserve(POD, A("10.244.1.2"), "0")
    assert (tmp_path / "10.244.1.2").read_bytes() == b"someone-else\r\neth0"


def test_allocations_parse_records_and_skip_other_files(tmp_path: Path) -> None:
    (tmp_path / "10.0.0.2").write_bytes(b"a\r\neth0")
    (tmp_path / "10.0.0.3").write_bytes(b"legacy-id-only")
    (tmp_path / "10.0.0.4").write_bytes(b"")  # torn by a crash between create and write
    (tmp_path / "last_reserved_ip.0").write_text("10.0.0.4")
    (tmp_path / "lock").write_text("")
    (tmp_path / "notes.txt").write_text("ignored")
    got = DiskStore(tmp_path).allocations()
    assert got == {
        A("10.0.0.2"): Owner("a", "eth0"),
        A("10.0.0.3"): Owner("legacy-id-only", "*"),
        A("10.0.0.4"): None,
    }


def test_release_by_owner_matches_id_and_ifname_and_legacy_records(tmp_path: Path) -> None:
    (tmp_path / "10.0.0.2").write_bytes(b"a\r\neth0")
    (tmp_path / "10.0.0.3").write_bytes(b"a\r\neth1")
    (tmp_path / "10.0.0.4").write_bytes(b"a")  # legacy: any interface of "a"
    (tmp_path / "10.0.0.5").write_bytes(b"b\r\neth0")
    store = DiskStore(tmp_path)
    with store.lock():
        assert store.release_by_owner(Owner("a", "eth0")) == [A("10.0.0.2"), A("10.0.0.4")]
        assert store.release_by_owner(Owner("a", "eth0")) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name[0].isdigit()) == [
        "10.0.0.3",
        "10.0.0.5",
    ]


def test_last_reserved_survives_a_new_instance_and_bad_content(tmp_path: Path) -> None:
    rng = Range.from_subnet("10.0.0.0/29")
    first = IPAllocator(rng, DiskStore(tmp_path))
    assert [first.allocate(Owner(f"p{i}", "eth0")).ip for i in range(2)] == [
        A("10.0.0.2"),
        A("10.0.0.3"),
    ]
    first.release(Owner("p0", "eth0"))
    # A restarted allocator continues after the last reserved, and skips held addresses.
    again = IPAllocator(rng, DiskStore(tmp_path))
    assert again.allocate(Owner("p2", "eth0")).ip == A("10.0.0.4")
    (tmp_path / "last_reserved_ip.0").write_text("garbage")
    assert DiskStore(tmp_path).last_reserved("0") is None


def test_mutations_need_the_lock_and_the_lock_is_not_reentrant(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    with pytest.raises(RuntimeError, match="without holding the store lock"):
        store.reserve(POD, A("10.0.0.2"), "0")
    with pytest.raises(RuntimeError, match="without holding the store lock"):
        store.release_by_owner(POD)
    with store.lock(), pytest.raises(RuntimeError, match="not re-entrant"), store.lock():
        pass


def test_gc_frees_dead_owners_and_torn_records_on_disk(tmp_path: Path) -> None:
    rng = Range.from_subnet("10.0.0.0/29")
    alloc = IPAllocator(rng, DiskStore(tmp_path))
    for i in range(3):
        alloc.allocate(Owner(f"p{i}", "eth0"))
    (tmp_path / "10.0.0.6").write_bytes(b"")
    assert alloc.gc({"p1"}) == [A("10.0.0.2"), A("10.0.0.4"), A("10.0.0.6")]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["10.0.0.3", "last_reserved_ip.0", "lock"]


def test_store_directory_is_created_private(tmp_path: Path) -> None:
    DiskStore(tmp_path / "a" / "b")
    assert stat.S_IMODE(os.stat(tmp_path / "a" / "b").st_mode) == 0o700


def test_cached_records_see_changes_by_other_stores_and_by_hand(tmp_path: Path) -> None:
    rng = Range.from_subnet("10.0.0.0/28")
    mine = IPAllocator(rng, DiskStore(tmp_path))
    other = IPAllocator(rng, DiskStore(tmp_path))  # as another process would have it
    assert mine.allocate(Owner("a", "eth0")).ip == A("10.0.0.2")  # mine has read and cached
    assert other.allocate(Owner("b", "eth0")).ip == A("10.0.0.3")
    # The other store's reservation is seen: "b" already holds an address.
    with pytest.raises(DuplicateAllocation, match=r"b/eth0 already holds 10\.0\.0\.3"):
        mine.allocate(Owner("b", "eth0"))
    other.release(Owner("a", "eth0"))
    with mine.store.lock():
        assert mine.store.get_by_owner(Owner("a", "eth0")) == []
    # By hand: a record written and one removed, outside any DiskStore.
    (tmp_path / "10.0.0.9").write_bytes(b"c\r\neth0")
    (tmp_path / "10.0.0.3").unlink()
    with mine.store.lock():
        assert mine.store.allocations() == {A("10.0.0.9"): Owner("c", "eth0")}
    with pytest.raises(DuplicateAllocation, match=r"c/eth0 already holds 10\.0\.0\.9"):
        mine.allocate(Owner("c", "eth0"))


def test_the_change_counter_lives_in_the_lock_file(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    with store.lock():
        store.reserve(POD, A("10.0.0.2"), "0")
        store.release(A("10.0.0.2"))
        assert not store.release(A("10.0.0.2"))  # nothing there: not a change
    assert int.from_bytes((tmp_path / "lock").read_bytes()[:8], "little") == 2
