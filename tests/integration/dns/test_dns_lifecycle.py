"""`knet dns` stops cleanly on SIGTERM: exit 0, its ports free again."""

from __future__ import annotations

import socket
import subprocess
import sys
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


def test_a_dns_port_in_use_is_one_line_and_exit_1(api: ApiServerProcess) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        argv = [
            sys.executable, "-m", "knet.cli", "dns", "--kubeconfig", str(api.kubeconfig),
            "--bind-address", "127.0.0.1", "--dns-port", str(port),
            "--health-port", "0", "--ready-port", "0", "--metrics-port", "0",
            "--upstream", "127.0.0.1:9",
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("knet dns: ")]
    assert len(errors) == 1 and "in use" in errors[0]
    assert "Traceback" not in done.stderr
