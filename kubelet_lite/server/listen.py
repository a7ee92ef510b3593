"""Where the kubelet API listens: inside the node's network namespace, never the root one.

With ``--node-netns`` the listening socket is made inside that namespace by a short-lived
thread (``knet.netlink.nsthread``): a socket stays in the namespace it was created in, and the
kubelet process itself never moves. Without it the socket is made here, but only if this process
is not in the root namespace (PID 1's) or ``--address`` names an address on purpose (a real
node, where the root namespace *is* the node's).
"""

from __future__ import annotations

import os
import socket

from knet.netlink import netns
from knet.netlink.nsthread import call_in_netns

BACKLOG = 512


class ListenRefused(Exception):
    """Listening here would put the kubelet API in the root network namespace."""


def _bound(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def in_root_netns() -> bool:
    try:
        mine, root = os.stat("/proc/self/ns/net"), os.stat("/proc/1/ns/net")
    except OSError:
        return False  # cannot see PID 1's namespace: we are in a PID namespace of our own
    return (mine.st_dev, mine.st_ino) == (root.st_dev, root.st_ino)


def listen(node_netns: str | None, address: str | None, port: int) -> socket.socket:
    """A listening TCP socket for the kubelet API. Raises ListenRefused or OSError."""
    if node_netns is not None:
        return call_in_netns(netns.path(node_netns), lambda: _bound(address or "0.0.0.0", port))
    if address is None and in_root_netns():
        raise ListenRefused(
            "not serving the kubelet API: this process is in the root network namespace; "
            "give --node-netns, or --address to listen here on purpose"
        )
    return _bound(address or "0.0.0.0", port)
