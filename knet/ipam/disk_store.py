"""IPAM state on disk, with CNI host-local's layout and semantics.

One directory per network::

    lock                  flock(2)ed for every operation (across threads and processes); its
                          first 8 bytes count the changes made through a DiskStore
    last_reserved_ip.<r>  the last address handed out from range <r>
    10.244.1.2            one file per reserved address: "<owner id>\\r\\n<ifname>"

A reservation is the O_EXCL creation of the address's file, so two allocators can never both
own an address, even without the lock; the lock only keeps round-robin and releases coherent.
Files outlive a crash of the allocating process, so an address is not handed out again after a
restart; records whose owner is gone are freed by the allocator's gc().

Reading every record costs a file read per address, and an allocation needs them all (an owner
may hold one address only). So, under the lock, a store keeps what it read and reuses it while
nothing changed: every change through a DiskStore, in any process, bumps the change counter in
the lock file, and a change by anything else (a person, another tool) moves the directory's
mtime, which the store compares too. Without the lock nothing is cached.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from ipaddress import AddressValueError, IPv4Address
from pathlib import Path

from knet.ipam.store import Owner

LOCK_FILE = "lock"
LAST_RESERVED_PREFIX = "last_reserved_ip."
LINE_BREAK = "\r\n"


_Key = tuple[int, int]  # (change counter, directory mtime in ns)


class DiskStore:
    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._held = threading.local()
        # Records as last read under the lock, and the key they were valid for. Only the
        # thread holding the lock touches these.
        self._cache: dict[IPv4Address, Owner | None] = {}
        self._cache_key: _Key | None = None

    # -- locking -----------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        if getattr(self._held, "depth", 0):
            raise RuntimeError(f"IPAM store {self.directory} lock is not re-entrant")
        # A fresh open file description per acquisition: flock then excludes other threads of
        # this process as well as other processes.
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._held.depth, self._held.fd, self._held.key = 1, fd, None
            try:
                yield
            finally:
                if self._held.key is None:  # changed, or never checked: do not trust it later
                    self._cache_key = None
                self._held.depth, self._held.fd, self._held.key = 0, None, None
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _key(self) -> _Key:
        """The store's state key, read under the lock."""
        raw = os.pread(self._held.fd, 8, 0)
        changes = int.from_bytes(raw, "little") if len(raw) == 8 else 0
        return changes, os.stat(self.directory).st_mtime_ns

    def _changed(self) -> None:
        """Count a change we made (under the lock), keeping our cache valid if it was."""
        fd = self._held.fd
        raw = os.pread(fd, 8, 0)
        changes = (int.from_bytes(raw, "little") if len(raw) == 8 else 0) + 1
        os.pwrite(fd, changes.to_bytes(8, "little"), 0)
        if self._held.key is not None:
            self._held.key = self._cache_key = self._key()

    def _records(self) -> dict[IPv4Address, Owner | None]:
        """Every record: under the lock from the cache when nothing changed, else read."""
        if not getattr(self._held, "depth", 0):
            return self._scan()
        if self._held.key is None:
            key = self._key()
            if key != self._cache_key:
                self._cache = self._scan()
                self._cache_key = key
            self._held.key = key
        return self._cache

    def lock(self) -> AbstractContextManager[None]:
        return self._locked()

    def _check_locked(self, op: str) -> None:
        if not getattr(self._held, "depth", 0):
            raise RuntimeError(f"IPAM store {op} called without holding the store lock")

    # -- records -----------------------------------------------------------------------------
    def _ip_path(self, ip: IPv4Address) -> Path:
        return self.directory / str(IPv4Address(ip))

    def reserve(self, owner: Owner, ip: IPv4Address, range_id: str) -> bool:
        self._check_locked("reserve")
        ip = IPv4Address(ip)
        path = self._ip_path(ip)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        try:
            os.write(fd, f"{owner.id}{LINE_BREAK}{owner.ifname}".encode())
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(fd)
        if self._held.key is not None:
            self._cache[ip] = owner
        self._write_last_reserved(ip, range_id)
        self._changed()
        return True

    def _write_last_reserved(self, ip: IPv4Address, range_id: str) -> None:
        # Rewritten in place (host-local does the same): it is only where round-robin goes on
        # from. Torn by a crash, it reads as garbage or another address, and then allocation
        # starts elsewhere; it can never hand out a reserved address (reservation is O_EXCL).
        # Overwritten, then cut to length (not truncated first): the file keeps its block,
        # where truncating to nothing would free it and the write allocate another.
        data = str(ip).encode()
        fd = os.open(
            self.directory / f"{LAST_RESERVED_PREFIX}{range_id}",
            os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC,
            0o600,
        )
        try:
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)

    def last_reserved(self, range_id: str) -> IPv4Address | None:
        try:
            text = (self.directory / f"{LAST_RESERVED_PREFIX}{range_id}").read_text().strip()
            return IPv4Address(text)
        except (FileNotFoundError, AddressValueError):
            return None

    def release(self, ip: IPv4Address) -> bool:
        self._check_locked("release")
        ip = IPv4Address(ip)
        try:
            self._ip_path(ip).unlink()
        except FileNotFoundError:
            return False
        finally:
            if self._held.key is not None:
                self._cache.pop(ip, None)
        self._changed()
        return True

    def release_by_owner(self, owner: Owner) -> list[IPv4Address]:
        self._check_locked("release_by_owner")
        freed = []
        for ip in self.get_by_owner(owner):
            if self.release(ip):
                freed.append(ip)
        return freed

    def get_by_owner(self, owner: Owner) -> list[IPv4Address]:
        return sorted(ip for ip, o in self._records().items() if _same_owner(o, owner))

    def allocations(self) -> dict[IPv4Address, Owner | None]:
        return dict(self._records())

    def _scan(self) -> dict[IPv4Address, Owner | None]:
        out: dict[IPv4Address, Owner | None] = {}
        for entry in os.scandir(self.directory):
            try:
                ip = IPv4Address(entry.name)  # skips lock, last_reserved_ip.*, temp files
            except AddressValueError:
                continue
            try:
                content = _read_small(entry.path)
            except FileNotFoundError:  # released while we were listing
                continue
            except IsADirectoryError:
                continue
            out[ip] = parse_record(content)
        return out


def _read_small(path: str) -> str:
    # Records are tiny; raw os calls keep a scan of a few hundred of them cheap.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 4096).decode(errors="replace")
    finally:
        os.close(fd)


def parse_record(content: str) -> Owner | None:
    """Owner from a record's content; legacy records hold only the id. None if unreadable."""
    parts = content.strip().split(LINE_BREAK)
    try:
        if len(parts) == 2:
            return Owner(parts[0], parts[1])
        if len(parts) == 1 and parts[0]:
            return Owner(parts[0], "*")  # "*" = any interface (pre-ifname host-local records)
    except ValueError:
        return None
    return None


def _same_owner(recorded: Owner | None, owner: Owner) -> bool:
    if recorded is None:
        return False
    return recorded.id == owner.id and recorded.ifname in (owner.ifname, "*")
