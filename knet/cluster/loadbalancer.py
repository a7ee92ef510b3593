"""The load balancer in front of an HA cluster's API servers: Debian's haproxy.

One TCP frontend (so watches, exec and port-forward upgrades pass through untouched) bound to
127.0.0.1:<port> for kubectl and to the cluster's unix socket for the node agents, whatever
network namespace they live in. The backends are the API servers; haproxy asks each one's
``/readyz`` every second and sends no new connection to a failing one until it answers again.
Open connections are left to end by themselves: a killed server's die with it, and a request in
flight on a server that lost etcd's quorum gets its 503 Status rather than a cut connection.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

CHECK_INTERVAL_MS = 1000
# Watches are long-lived; kube-apiserver ends them itself (--min-request-timeout).
STREAM_TIMEOUT = "1h"


def local_binds(port: int, socket_path: Path) -> list[str]:
    """The local cluster's: 127.0.0.1 for kubectl, the unix socket for everything else."""
    return [f"127.0.0.1:{port}", f"unix@{socket_path} mode 600"]


def config(binds: Sequence[str], backends: Sequence[tuple[str, str]]) -> str:
    """haproxy.cfg listening on ``binds`` for ``backends`` (name, host:port)."""
    servers = [
        f"    server {name} {addr} check inter {CHECK_INTERVAL_MS} fall 2 rise 1"
        for name, addr in backends
    ]
    # When no server is ready (etcd lost quorum), still pass requests on, so that clients get
    # the API servers' 5xx Status instead of a closed connection.
    servers += [f"    server {name}-unready {addr} backup" for name, addr in backends]
    return "\n".join(
        [
            "# Written by knet cluster up; rewritten on each up.",
            "global",
            "    log stdout format raw local0 notice",
            "    maxconn 4000",  # fits the default 20000-fd limit (two fds per connection)
            "defaults",
            "    log global",
            "    mode tcp",
            "    option dontlognull",
            "    timeout connect 2s",
            f"    timeout client {STREAM_TIMEOUT}",
            f"    timeout server {STREAM_TIMEOUT}",
            "    timeout check 2s",
            "frontend kube-apiserver",
            *(f"    bind {b}" for b in binds),
            "    default_backend kube-apiservers",
            "backend kube-apiservers",
            "    balance roundrobin",
            "    option allbackups",
            "    option redispatch",
            "    retries 2",
            "    option httpchk",
            "    http-check send meth GET uri /readyz",
            "    http-check expect status 200",
            *servers,
            "",
        ]
    )


def argv(config_path: Path) -> list[str]:
    # -db: stay in the foreground (we record its pid); -W is not needed for one process.
    return [shutil.which("haproxy") or "haproxy", "-db", "-f", str(config_path)]


def check_argv(config_path: Path) -> list[str]:
    return [shutil.which("haproxy") or "haproxy", "-c", "-q", "-f", str(config_path)]
