"""Mounts under a directory of ours, found in /proc/self/mountinfo, and a removal that never
descends into one (a crashed build can leave /proc or /dev mounted inside its root)."""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from pathlib import Path

from knet.netlink.nsthread import libc

MNT_DETACH = 2


def unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040 ...)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mount_points(mountinfo: str) -> list[str]:
    """The mount points (field 5) of a mountinfo text, in its order."""
    return [unescape(line.split()[4]) for line in mountinfo.splitlines() if line.strip()]


def mounts_under(path: Path, mountinfo: str | None = None) -> list[str]:
    """Mount points at or below ``path``, deepest first (the order to unmount them in)."""
    if mountinfo is None:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    base = str(path).rstrip("/")
    found = {m for m in parse_mount_points(mountinfo) if m == base or m.startswith(base + "/")}
    return sorted(found, key=lambda m: (-m.count("/"), m))


def unmount(point: str) -> None:
    """Lazily detach ``point``; one that is already gone is fine."""
    if libc().umount2(point.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise OSError(err, f"umount {point}: {os.strerror(err)}")


def mount_overlay(lower: Path, upper: Path, work: Path, target: Path) -> None:
    opts = f"lowerdir={lower},upperdir={upper},workdir={work}".encode()
    if libc().mount(b"overlay", str(target).encode(), b"overlay", 0, opts) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount overlay on {target}: {os.strerror(err)}")


def is_mount_point(path: Path) -> bool:
    return str(path).rstrip("/") in parse_mount_points(Path("/proc/self/mountinfo").read_text())


def remove_tree(path: Path) -> None:
    """Unmount whatever is mounted below ``path``, then delete it (gone already is fine)."""
    for point in mounts_under(path):
        unmount(point)
    if mounts_under(path):
        raise OSError(errno.EBUSY, f"{path} still has mounts below it; not removing it")
    if path.exists():
        shutil.rmtree(path)
