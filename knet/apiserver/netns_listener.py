"""A listening socket of the API server inside another network namespace (``--advertise-netns``).

In the local cluster the API server runs in the root namespace, reachable on 127.0.0.1 only,
and nothing of the cluster may be added there. Pods reach it through the ``kubernetes``
Service, whose endpoint is the advertised address: an address of the cluster's own on the
underlay bridge. So the socket is *created* inside the underlay namespace by a short-lived
thread (a socket keeps the namespace it was born in, as the kubelet dialer's sockets do), then
bound and served by the API server's event loop like its other listeners.
"""

from __future__ import annotations

import socket

from knet.netlink.nsthread import call_in_netns

NETNS_DIR = "/run/netns"


def netns_path(netns: str) -> str:
    return netns if "/" in netns else f"{NETNS_DIR}/{netns}"


def listen_in_netns(netns: str, address: str, port: int, backlog: int = 512) -> socket.socket:
    """A TCP socket listening on ``address:port`` inside ``netns``; raises OSError."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = call_in_netns(netns_path(netns), lambda: socket.socket(family, socket.SOCK_STREAM))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
