"""Sockets in the node's network namespace, for probes.

A pod's IP is reachable from the node (over the bridge), and with ``--node-netns`` the node is
another namespace than this process's. A socket belongs to the namespace of the thread that made
it, for good, so knet's throwaway namespace thread makes it there; no long-lived thread of ours
ever changes namespace.
"""

from __future__ import annotations

import socket

from knet.netlink.nsthread import call_in_netns


def socket_in(
    netns_path: str | None, kind: socket.SocketKind = socket.SOCK_STREAM
) -> socket.socket:
    """A non-blocking IPv4 socket in the namespace at ``netns_path`` (None: ours)."""
    if netns_path is None:
        sock = socket.socket(socket.AF_INET, kind)
    else:
        sock = call_in_netns(netns_path, lambda: socket.socket(socket.AF_INET, kind))
    sock.setblocking(False)
    return sock
