"""`knet server --secure` (issue 22): it makes its PKI, serves only TLS with authentication and
RBAC, writes one kubeconfig per identity, and its controller-manager and scheduler work under
their own least-privilege identities -- driven here by kubectl with the admin kubeconfig."""

from __future__ import annotations

import json
import os
import ssl
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from knet.testing import process
from knet.testing.apiserver import free_port

pytestmark = pytest.mark.kubectl


@dataclass
class Server:
    data: Path
    port: int
    log: Path
    home: Path

    def kubectl(
        self, ident: str, *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(self.data / f"{ident}.kubeconfig"),
                "--cache-dir",
                str(self.home / ident),
                *args,
            ],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env={"HOME": str(self.home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )


def _wait_ready(data: Path, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"knet server exited: {log.read_text()[-2000:]}")
        ca = data / "pki" / "ca.crt"
        if ca.exists():
            try:
                ctx = ssl.create_default_context(cafile=str(ca))
                with urllib.request.urlopen(
                    f"https://127.0.0.1:{port}/readyz", context=ctx, timeout=1
                ) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError):
                pass
        time.sleep(0.1)
    raise RuntimeError(f"knet server did not become ready: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("kt-server-secure")
    data, log, port = workdir / "data", workdir / "server.log", free_port()
    argv = [sys.executable, "-m", "knet.cli", "server", "--bind-address", "127.0.0.1"]
    argv += ["--port", str(port), "--data-dir", str(data), "--secure"]
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_ready(data, port, proc, log)
        home = workdir / "home"
        home.mkdir()
        yield Server(data, port, log, home)
    finally:
        process.stop(proc)


def test_pki_and_kubeconfigs_are_private(server: Server) -> None:
    for ident in ("admin", "controller-manager", "scheduler", "kube-proxy"):
        assert stat.S_IMODE((server.data / f"{ident}.kubeconfig").stat().st_mode) == 0o600
    for key in (server.data / "pki").rglob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_plain_http_is_not_served(server: Server) -> None:
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api", timeout=5)


def test_components_work_under_their_own_identities(server: Server) -> None:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "kt-n1"},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        },
    }
    assert server.kubectl("admin", "apply", "-f", "-", stdin=json.dumps(node)).returncode == 0
    made = server.kubectl(
        "admin", "create", "deployment", "kt-web", "--image=busybox", "--replicas=2"
    )
    assert made.returncode == 0, made.stderr
    deadline = time.monotonic() + 30
    nodes: list[str] = []
    while time.monotonic() < deadline:
        out = server.kubectl("admin", "get", "pods", "-l", "app=kt-web", "-o", "json")
        pods = json.loads(out.stdout)["items"] if out.returncode == 0 else []
        nodes = [p["spec"].get("nodeName", "") for p in pods]
        if len(nodes) == 2 and all(nodes):
            break
        time.sleep(0.2)
    assert nodes == ["kt-n1", "kt-n1"]  # made by the controller-manager, bound by the scheduler
    assert '"code": 403' not in server.log.read_text()


def test_least_privilege_kubeconfigs(server: Server) -> None:
    assert server.kubectl("kube-proxy", "get", "services").returncode == 0
    denied = server.kubectl("kube-proxy", "get", "secrets")
    assert denied.returncode != 0
    assert 'User "system:kube-proxy" cannot list resource "secrets"' in denied.stderr
    no = server.kubectl("scheduler", "auth", "can-i", "delete", "nodes")
    assert no.stdout.strip() == "no"
    who = server.kubectl("admin", "auth", "whoami", "-o", "json")
    assert "system:masters" in json.loads(who.stdout)["status"]["userInfo"]["groups"]
