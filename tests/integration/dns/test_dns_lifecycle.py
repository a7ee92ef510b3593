"""`knet dns` stops cleanly on SIGTERM: exit 0, its ports free again."""

from __future__ import annotations

import socket
from pathlib import Path

from dns_process import Upstream, running_dns

from knet.testing.apiserver import ApiServerProcess


def test_sigterm_exits_zero_and_frees_the_ports(api: ApiServerProcess, dns_workdir: Path) -> None:
    with Upstream() as up, running_dns(api.kubeconfig, up.address, dns_workdir) as server:
        server.proc.terminate()
        assert server.proc.wait(timeout=10) == 0
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", server.dns_port))  # raises if the server still holds it
