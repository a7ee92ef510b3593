"""A container's mount namespace, filled in by the container's own process.

Run by the container's process (PID 1 of its PID namespace) in the new mount namespace it has
just made, before it chdirs and execs. In order: propagation from here to the node is cut
(``MS_SLAVE``, recursively: the node's mounts still reach us, none of ours reach the node); the
bind sources are opened (``O_PATH``) while the node's paths are still visible; the whole tree
is made read-only (``mount_setattr``, recursive); private tmpfs go on ``/tmp`` and ``/run``
(``/var/run`` is a link to it), a minimal ``/dev`` is made; the kubelet's files and the
volumes are bind-mounted; and last, ``/proc`` of the container's own PID namespace.

Standard library only (ctypes for mount and mount_setattr).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SLAVE = 0x80000
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
SYS_MOUNT_SETATTR = 442  # x86_64 and arm64 alike (a syscall newer than the split tables)

# name -> (major, minor): what runc and containerd give every container.
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9)}
DEVICES_TTY = {"tty": (5, 0)}
DEV_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
    "ptmx": "pts/ptmx",
    "core": "/proc/kcore",
}


@dataclass(frozen=True)
class Bind:
    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class MountPlan:
    binds: tuple[Bind, ...] = ()
    read_only_root: bool = True
    tmpfs: tuple[str, ...] = ("/tmp", "/run")
    tmpfs_read_only: bool = False  # readOnlyRootFilesystem: the node's /tmp stays hidden

    def to_wire(self) -> dict[str, Any]:
        return {
            "binds": [[b.source, b.target, b.read_only] for b in self.binds],
            "readOnlyRoot": self.read_only_root,
            "tmpfs": list(self.tmpfs),
            "tmpfsReadOnly": self.tmpfs_read_only,
        }


def plan_from_wire(doc: Any) -> MountPlan | None:
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise ValueError("mounts must be an object")
    binds = []
    for item in doc.get("binds") or []:
        if not (isinstance(item, list) and len(item) == 3):
            raise ValueError("mounts.binds: each is [source, target, readOnly]")
        src, dst, ro = item
        if not (isinstance(src, str) and isinstance(dst, str) and dst.startswith("/")):
            raise ValueError("mounts.binds: source and an absolute target are strings")
        binds.append(Bind(src, dst, bool(ro)))
    tmpfs = doc.get("tmpfs", ["/tmp", "/run"])
    if not isinstance(tmpfs, list) or not all(isinstance(t, str) for t in tmpfs):
        raise ValueError("mounts.tmpfs must be a list of paths")
    return MountPlan(
        tuple(binds),
        bool(doc.get("readOnlyRoot", True)),
        tuple(tmpfs),
        bool(doc.get("tmpfsReadOnly")),
    )


def _libc() -> Any:
    from kubelet_lite.runtime.launch import libc

    return libc()


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    rc = _libc().mount(
        source.encode() if source is not None else None,
        target.encode(),
        fstype.encode() if fstype is not None else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    if rc != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount {fstype or source} on {target}: {os.strerror(code)}")


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def read_only_tree(path: str) -> None:
    """Every mount at and under ``path`` read-only, in one call (Linux 5.12+)."""
    attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    for _ in range(50):
        rc = _libc().syscall(
            SYS_MOUNT_SETATTR,
            -100,  # AT_FDCWD
            path.encode(),
            AT_RECURSIVE,
            ctypes.byref(attr),
            ctypes.sizeof(attr),
        )
        code = ctypes.get_errno() if rc != 0 else 0
        # EBUSY: a file is open for writing on one of the mounts (a passing write, by a
        # process sharing this namespace); it is over in a moment.
        if code != errno.EBUSY:
            break
        time.sleep(0.002)
    if rc != 0:
        raise OSError(code, f"making {path} read-only: {os.strerror(code)}")


def _make_dev() -> None:
    mount("tmpfs", "/dev", "tmpfs", MS_NOSUID, "mode=755,size=65536k")
    for name, (major, minor) in {**DEVICES, **DEVICES_TTY}.items():
        path = f"/dev/{name}"
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(path, 0o666)
    for d in ("pts", "shm", "mqueue"):
        os.mkdir(f"/dev/{d}", 0o755)
    mount(
        "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620"
    )
    mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k")
    mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name, target in DEV_LINKS.items():
        os.symlink(target, f"/dev/{name}")


def _ensure_target(path: str, is_dir: bool) -> str:
    """The mount point, made if missing (only possible on a writable mount: the tmpfs)."""
    real = os.path.realpath(path)
    if os.path.lexists(real):
        return real
    try:
        os.makedirs(os.path.dirname(real), exist_ok=True)
        if is_dir:
            os.mkdir(real, 0o755)
        else:
            os.close(os.open(real, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
    except OSError as exc:
        if exc.errno == errno.EROFS:
            raise OSError(
                exc.errno,
                f"mount point {path} does not exist, and the root filesystem (the node's, "
                "read-only) cannot have it made",
            ) from None
        raise
    return real


def _bind(fd: int, bind: Bind) -> None:
    is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
    target = _ensure_target(bind.target, is_dir)
    mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
    # The copy takes the source mount's flags, read-only by now (the whole tree is): set them.
    mount(None, target, None, MS_BIND | MS_REMOUNT | (MS_RDONLY if bind.read_only else 0))


def code_roots(tmpfs: Sequence[str], candidates: Sequence[str]) -> list[str]:
    """The outermost of ``candidates`` (directories) that a private tmpfs would hide; never a
    tmpfs's own path (that would give the container the node's whole /tmp back). Pure."""
    tops = [os.path.realpath(t).rstrip("/") + "/" for t in tmpfs]
    paths = {c.rstrip("/") for c in candidates}
    hidden = sorted(c for c in paths if any(c.startswith(t) for t in tops))
    out: list[str] = []
    for path in hidden:
        if not any(path.startswith(o.rstrip("/") + "/") for o in out):
            out.append(path)
    return out


def _own_code() -> list[str]:
    """Where this Python, its packages and knet's own source live: built-in programs run
    here and import from there (dnspython loads record types on first use, for one)."""
    import knet
    import kubelet_lite

    found = [sys.prefix, sys.base_prefix, *sys.path]
    found += [os.path.dirname(os.path.dirname(m.__file__ or "")) for m in (knet, kubelet_lite)]
    return [os.path.realpath(p) for p in found if p and os.path.isdir(p)]


def apply(plan: MountPlan) -> None:
    """Fill the (new, still a copy of the node's) mount namespace. Raises OSError."""
    mount(None, "/", None, MS_REC | MS_SLAVE)
    fds: list[int] = []
    # A checkout or virtualenv under /tmp (CI clones there) stays visible through the private
    # /tmp, read-only, or built-in programs could not import what they had not yet.
    code = [Bind(path, path, read_only=True) for path in code_roots(plan.tmpfs, _own_code())]
    binds = [*code, *plan.binds]
    try:
        for b in binds:
            try:
                fds.append(os.open(b.source, os.O_PATH | os.O_CLOEXEC))
            except OSError as exc:
                raise OSError(exc.errno, f"{b.source} (for {b.target}): {exc.strerror}") from None
        if plan.read_only_root:
            read_only_tree("/")
        for path in plan.tmpfs:
            mode = "1777" if path == "/tmp" else "755"
            mount("tmpfs", os.path.realpath(path), "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode}")
        _make_dev()
        for fd, b in zip(fds, binds, strict=True):
            _bind(fd, b)
        if plan.tmpfs_read_only:
            # After the binds, whose mount points may have had to be made in the tmpfs.
            for path in plan.tmpfs:
                mount(
                    None,
                    os.path.realpath(path),
                    None,
                    MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
                )
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
