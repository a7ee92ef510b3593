"""Sockets in the node's network namespace, for probes.

A pod's IP is reachable from the node (over the bridge), and with ``--node-netns`` the node is
another namespace than this process's. A socket belongs to the namespace of the thread that made
it, for good, so a throwaway thread joins the node namespace, makes the socket and ends; no
long-lived thread of ours ever changes namespace.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from typing import Any

CLONE_NEWNET = 0x40000000
_libc: Any = None


def _setns(path: str) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)  # libc is mapped already: no ldconfig run
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"setns {path}: {os.strerror(code)}")
    finally:
        os.close(fd)


def socket_in(
    netns_path: str | None, kind: socket.SocketKind = socket.SOCK_STREAM
) -> socket.socket:
    """A non-blocking IPv4 socket in the namespace at ``netns_path`` (None: ours)."""
    if netns_path is None:
        sock = socket.socket(socket.AF_INET, kind)
        sock.setblocking(False)
        return sock
    result: list[socket.socket] = []
    failure: list[BaseException] = []

    def job() -> None:
        try:
            _setns(netns_path)
            result.append(socket.socket(socket.AF_INET, kind))
        except BaseException as exc:
            failure.append(exc)

    t = threading.Thread(target=job, name="kubelet-nodenet", daemon=True)
    t.start()
    t.join()
    if failure:
        raise failure[0]
    sock = result[0]
    sock.setblocking(False)
    return sock
