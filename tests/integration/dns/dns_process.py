"""A real `knet dns` process on 127.0.0.1 and the only upstreams tests may forward to: UDP
sockets of this test process on 127.0.0.1 (one that answers, one that never does)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset

from knet.testing.apiserver import free_port

UPSTREAM_ADDRESS = "192.0.2.53"  # what the answering upstream says every name is


@dataclass
class DnsProcess:
    proc: subprocess.Popen[bytes]
    dns_port: int
    health_port: int
    ready_port: int
    metrics_port: int
    log_path: Path

    def get(self, port: int, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics(self) -> str:
        return self.get(self.metrics_port, "/metrics")[1]


@contextlib.contextmanager
def running_dns(
    kubeconfig: Path, upstream: str, workdir: Path, *extra: str
) -> Iterator[DnsProcess]:
    ports = [free_port() for _ in range(4)]
    log_path = workdir / f"dns-{ports[0]}.log"
    argv = [
        sys.executable, "-m", "knet.cli", "dns",
        "--kubeconfig", str(kubeconfig),
        "--bind-address", "127.0.0.1",
        "--dns-port", str(ports[0]),
        "--health-port", str(ports[1]),
        "--ready-port", str(ports[2]),
        "--metrics-port", str(ports[3]),
        "--upstream", upstream,
        *extra,
    ]  # fmt: skip
    with log_path.open("ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    server = DnsProcess(proc, *ports, log_path)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError("knet dns exited: " + log_path.read_text()[-2000:])
            with contextlib.suppress(OSError):
                if server.get(server.ready_port, "/ready")[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("knet dns never got ready: " + log_path.read_text()[-2000:])
            time.sleep(0.05)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Upstream:
    """A UDP resolver on 127.0.0.1: answers A queries with UPSTREAM_ADDRESS (TTL 60), names
    starting with `nx.` with NXDOMAIN; made `silent`, never answers at all; made `liar`,
    answers every query as if it had asked for another name."""

    def __init__(self, silent: bool = False, liar: bool = False) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.silent = silent
        self.liar = liar
        self.queries: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> Upstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            try:
                query = dns.message.from_wire(data)
                name = query.question[0].name.to_text()
            except Exception:
                continue  # fuzz tests forward odd queries: this upstream ignores what it can't read
            self.queries.append(name)
            if self.silent:
                continue
            if self.liar:
                query.question[0].name = dns.name.from_text("elsewhere.example.")
            resp = dns.message.make_response(query)
            resp.flags |= dns.flags.RA
            if name.lower().startswith("nx."):
                resp.set_rcode(dns.rcode.NXDOMAIN)
            else:
                resp.answer.append(dns.rrset.from_text(name, 60, "IN", "A", UPSTREAM_ADDRESS))
            self.sock.sendto(resp.to_wire(), addr)
