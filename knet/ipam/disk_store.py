"""IPAM state on disk, with CNI host-local's layout and semantics.

One directory per network::

    lock                  flock(2)ed for every operation (across threads and processes)
    last_reserved_ip.<r>  the last address handed out from range <r>
    10.244.1.2            one file per reserved address: "<owner id>\\r\\n<ifname>"

A reservation is the O_EXCL creation of the address's file, so two allocators can never both
own an address, even without the lock; the lock only keeps round-robin and releases coherent.
Files outlive a crash of the allocating process, so an address is not handed out again after a
restart; records whose owner is gone are freed by the allocator's gc().
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


class DiskStore:
    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._held = threading.local()

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
            self._held.depth = 1
            try:
                yield
            finally:
                self._held.depth = 0
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

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
        self._write_last_reserved(ip, range_id)
        return True

    def _write_last_reserved(self, ip: IPv4Address, range_id: str) -> None:
        # Write-then-rename so a crash never leaves a torn last_reserved file.
        final = self.directory / f"{LAST_RESERVED_PREFIX}{range_id}"
        tmp = final.with_name(f".{final.name}.tmp")
        tmp.write_text(str(ip))
        os.replace(tmp, final)

    def last_reserved(self, range_id: str) -> IPv4Address | None:
        try:
            text = (self.directory / f"{LAST_RESERVED_PREFIX}{range_id}").read_text().strip()
            return IPv4Address(text)
        except (FileNotFoundError, AddressValueError):
            return None

    def release(self, ip: IPv4Address) -> bool:
        self._check_locked("release")
        try:
            self._ip_path(ip).unlink()
        except FileNotFoundError:
            return False
        return True

    def release_by_owner(self, owner: Owner) -> list[IPv4Address]:
        self._check_locked("release_by_owner")
        freed = []
        for ip in self.get_by_owner(owner):
            if self.release(ip):
                freed.append(ip)
        return freed

    def get_by_owner(self, owner: Owner) -> list[IPv4Address]:
        return sorted(ip for ip, o in self.allocations().items() if _same_owner(o, owner))

    def allocations(self) -> dict[IPv4Address, Owner | None]:
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
