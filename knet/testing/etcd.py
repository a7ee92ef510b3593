"""Start a real one-member `etcd` (Debian's etcd-server) on free 127.0.0.1 ports, for tests and
benchmarks. Stopped by its recorded pid, never by name."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from knet.testing import process
from knet.testing.apiserver import free_port


def etcd_binary() -> str | None:
    return shutil.which("etcd")


@dataclass
class EtcdProcess:
    data_dir: Path
    client_port: int
    peer_port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    def start(self, timeout: float = 20.0) -> None:
        binary = etcd_binary()
        if binary is None:
            raise RuntimeError("etcd is not installed (Debian: apt-get install etcd-server)")
        peer = f"http://127.0.0.1:{self.peer_port}"
        argv = [
            binary,
            "--name=kt-etcd",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.url}",
            f"--advertise-client-urls={self.url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=kt-etcd={peer}",
            # One member on loopback: elect at once, so a (re)start takes well under a second.
            "--heartbeat-interval=10",
            "--election-timeout=100",
            "--logger=zap",
            "--log-level=warn",
        ]
        log = self.log_path.open("ab")
        # A session of its own: the test runner's Ctrl-C does not reach it before its fixture.
        self.proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"etcd exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}"
                )
            if self.healthy():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("etcd did not become ready: " + self.log_path.read_text()[-2000:])

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def kill(self) -> None:
        """kill -9: what a lost etcd looks like to its clients."""
        process.kill(self.proc)

    def stop(self) -> None:
        process.stop(self.proc)


@contextlib.contextmanager
def running_etcd(workdir: Path) -> Iterator[EtcdProcess]:
    """A fresh etcd whose data dir is `workdir/etcd`; stopped and its data removed at the end."""
    server = EtcdProcess(
        data_dir=workdir / "etcd",
        client_port=free_port(),
        peer_port=free_port(),
        log_path=workdir / "etcd.log",
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)
