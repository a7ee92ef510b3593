"""Enter a network namespace from a throwaway OS thread to create it or to open a socket in it.

A socket belongs to the network namespace of the task that created it, and stays there; files
under /proc/sys/net resolve against the namespace of the thread that opens them. So to talk
netlink to a namespace, or to set its sysctls, we need one task inside it for a moment. Forking a
child for that costs ~7 ms in a Python process of some size; a short-lived thread well under 1 ms.

The calling thread and every other thread of this process stay where they are: the helper
thread is created for one job (unshare or setns, bind mount, socket) and then ends, taking its
namespace membership with it. Before handing anything back it checks that it really is inside
the target namespace (inode of /proc/thread-self/ns/net == inode of the namespace file), so a
failed setns can never yield a socket in the wrong namespace.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SHARED = 1 << 20
NETLINK_ROUTE = 0

_libc: Any = None
_run_dirs_ready: set[str] = set()
_prep_lock = threading.Lock()


def libc() -> Any:
    """The C library, loaded once (errno kept for ctypes.get_errno)."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)  # libc is mapped already: no ldconfig run
    return _libc


def _check(rc: int, what: str, path: str) -> None:
    if rc != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}", path)


def prepare_run_dir(run_dir: str) -> None:
    """Make ``run_dir`` exist and be a shared mount, as ``ip netns add`` does, so namespace
    bind mounts made here propagate to other mount namespaces (once per process)."""
    with _prep_lock:
        if run_dir in _run_dirs_ready:
            return
        os.makedirs(run_dir, exist_ok=True)
        lib = libc()
        raw = run_dir.encode()
        if lib.mount(b"none", raw, None, MS_SHARED | MS_REC, None) != 0:
            # Not a mount point yet: bind it onto itself, then mark it shared.
            _check(lib.mount(raw, raw, b"none", MS_BIND | MS_REC, None), "bind run dir", run_dir)
            _check(lib.mount(b"none", raw, None, MS_SHARED | MS_REC, None), "share", run_dir)
        _run_dirs_ready.add(run_dir)


def _same_file(a: str, b: str) -> bool:
    sa, sb = os.stat(a), os.stat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _enter(path: str, create: bool) -> None:
    # Runs in the throwaway thread only.
    lib = libc()
    if create:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444))
        try:
            _check(lib.unshare(CLONE_NEWNET), "unshare", path)
            _check(
                lib.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", MS_BIND, None),
                "bind mount",
                path,
            )
        except BaseException:
            os.unlink(path)
            raise
    else:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(lib.setns(fd, CLONE_NEWNET), "setns", path)
        finally:
            os.close(fd)
    if not _same_file("/proc/thread-self/ns/net", path):
        raise OSError(errno.EINVAL, "helper thread is not inside the target namespace", path)


def _in_thread(path: str, create: bool, fn: Callable[[], T]) -> T:
    """Enter (or create) the namespace at ``path`` in a new thread, run ``fn`` there, and hand
    back its result (or raise its exception) here. The thread ends, and its membership with it."""
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            _enter(path, create)
            result.append(fn())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name="knet-netns", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def _netlink_socket() -> socket.socket:
    return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_ROUTE)


def run_in_netns_thread(path: str, *, create: bool, want_socket: bool) -> socket.socket | None:
    """Create (``create=True``, must not exist) or enter the namespace at ``path`` from a new
    thread; return a NETLINK_ROUTE socket inside it if ``want_socket``. Raises OSError."""
    if create:
        prepare_run_dir(os.path.dirname(path))
    return _in_thread(path, create, _netlink_socket if want_socket else lambda: None)


def call_in_netns(path: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` inside the existing namespace at ``path`` (in a throwaway thread) and return
    its result; e.g. file I/O under /proc/sys/net. Raises what ``fn`` or entering raises."""
    return _in_thread(path, False, fn)
