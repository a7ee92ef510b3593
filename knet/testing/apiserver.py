"""Start a real `knet apiserver` process on 127.0.0.1 for tests, demos and benchmarks."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from knet import kubeconfig
from knet.testing import process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ApiServerProcess:
    data_dir: Path
    port: int
    log_path: Path
    extra_args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    # Set for a server started with TLS: readiness is probed over HTTPS, trusting this CA.
    tls_ca: Path | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_ca is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return kubeconfig.write(self.data_dir.parent / f"kubeconfig-{self.port}", self.url)

    def start(self, timeout: float = 20.0) -> None:
        argv = [
            sys.executable,
            "-m",
            "knet.cli",
            "apiserver",
            "--bind-address",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        ctx = ssl.create_default_context(cafile=str(self.tls_ca)) if self.tls_ca else None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"apiserver exited with {self.proc.returncode}: "
                    + self.log_path.read_text()[-2000:]
                )
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1, context=ctx) as r:
                    if r.status == 200:
                        return
            except urllib.error.HTTPError as e:
                if e.code == 401:  # --anonymous-auth=false: it answers, so it is serving
                    return
                time.sleep(0.05)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("apiserver did not become ready: " + self.log_path.read_text()[-2000:])

    def kill(self) -> None:
        """kill -9: what a crash looks like to the store."""
        process.kill(self.proc)

    def stop(self) -> None:
        process.stop(self.proc)


@contextlib.contextmanager
def running_apiserver(workdir: Path, *extra_args: str) -> Iterator[ApiServerProcess]:
    server = ApiServerProcess(
        data_dir=workdir / "data",
        port=free_port(),
        log_path=workdir / "apiserver.log",
        extra_args=tuple(extra_args),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
