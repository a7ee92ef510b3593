"""A real `knet apiserver --etcd-servers ...` on a real etcd, driven by the real kubectl: the
objects land under kube-apiserver's keys, and a lost etcd is a 5xx Status, not a hang, until
etcd is back."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from knet.testing.apiserver import ApiServerProcess, free_port
from knet.testing.etcd import EtcdProcess, etcd_binary, running_etcd

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(etcd_binary() is None, reason="etcd is not installed"),
]


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdProcess]:
    with running_etcd(tmp_path) as server:
        yield server


@pytest.fixture
def apiserver(tmp_path: Path, etcd: EtcdProcess) -> Iterator[ApiServerProcess]:
    server = ApiServerProcess(
        data_dir=tmp_path / "data",
        port=free_port(),
        log_path=tmp_path / "apiserver.log",
        extra_args=("--etcd-servers", etcd.url),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def kubectl(server: ApiServerProcess, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    home.mkdir(exist_ok=True)
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(server.kubeconfig), "--cache-dir", str(home / "c"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )


def etcd_keys(etcd: EtcdProcess, prefix: str) -> list[str]:
    done = subprocess.run(
        ["etcdctl", f"--endpoints={etcd.url}", "get", prefix, "--prefix", "--keys-only"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={**os.environ, "ETCDCTL_API": "3"},
    )
    return done.stdout.split()


def post_pod(server: ApiServerProcess, name: str) -> tuple[int, dict[str, object]]:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    req = urllib.request.Request(
        server.url + "/api/v1/namespaces/default/pods",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_kubectl_objects_land_under_upstreams_etcd_keys(
    apiserver: ApiServerProcess, etcd: EtcdProcess, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    for args in (
        ("create", "namespace", "kt-ns"),
        ("run", "kt-pod", "--image=busybox", "--restart=Never"),
        ("create", "service", "clusterip", "kt-svc", "--tcp=80:8080"),
    ):
        done = kubectl(apiserver, home, *args)
        assert done.returncode == 0, done.stderr
    assert etcd_keys(etcd, "/registry/pods") == ["/registry/pods/default/kt-pod"]
    assert "/registry/services/specs/default/kt-svc" in etcd_keys(etcd, "/registry/services")
    assert "/registry/namespaces/kt-ns" in etcd_keys(etcd, "/registry/namespaces")
    shown = kubectl(apiserver, home, "get", "pod", "kt-pod", "-o", "jsonpath={.metadata.name}")
    assert shown.stdout == "kt-pod"


def test_a_lost_etcd_is_a_503_then_the_server_recovers(
    apiserver: ApiServerProcess, etcd: EtcdProcess, tmp_path: Path
) -> None:
    assert post_pod(apiserver, "kt-before")[0] == 201
    etcd.kill()
    started = time.monotonic()
    code, status = post_pod(apiserver, "kt-during")
    assert code in (503, 504), status
    assert status["kind"] == "Status" and status["code"] == code
    assert "etcd" in str(status["message"])
    assert time.monotonic() - started < 15.0
    failed = kubectl(apiserver, tmp_path / "home", "get", "pods")
    assert failed.returncode != 0 and "etcd" in failed.stderr
    etcd.start()  # same data dir and ports
    assert post_pod(apiserver, "kt-after")[0] == 201
    names = kubectl(apiserver, tmp_path / "home", "get", "pods", "-o", "name")
    assert names.stdout.split() == ["pod/kt-after", "pod/kt-before"]
