"""Small helpers shared by the API server's real-client tests: raw HTTP, kubectl, manifests.

Raw HTTP goes through `http.client` so that every status (including 4xx) comes back as data
rather than as an exception, and nothing in a client library hides what the server sent.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

JSON = "application/json"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    base_url: str,
    method: str,
    path: str,
    body: bytes | Mapping[str, Any] | list[Any] | None = None,
    *,
    content_type: str | None = JSON,
    accept: str | None = JSON,
    timeout: float = 30.0,
) -> Reply:
    """One HTTP request; the reply whatever its status."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers: dict[str, str] = {}
        if data is not None and content_type is not None:
            headers["Content-Type"] = content_type
        if accept is not None:
            headers["Accept"] = accept
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def ok(base_url: str, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    """A request that must succeed; its JSON body."""
    reply = request(base_url, method, path, body, **kw)
    assert 200 <= reply.status < 300, (method, path, reply.status, reply.body[:2000])
    return reply.json()


def assert_status(reply: Reply, code: int, reason: str) -> dict[str, Any]:
    """The reply is a Kubernetes Status with this HTTP code and reason; returns it."""
    assert reply.status == code, (reply.status, reply.body[:2000])
    assert reply.headers.get("content-type", "").startswith(JSON), reply.headers
    status: dict[str, Any] = reply.json()
    assert status["kind"] == "Status", status
    assert status["apiVersion"] == "v1", status
    assert status["status"] == "Failure", status
    assert status["code"] == code, status
    assert status["reason"] == reason, status
    assert isinstance(status.get("message"), str) and status["message"], status
    return status


def list_rv(base_url: str, path: str) -> int:
    """The list resourceVersion of a collection (the store's revision)."""
    return int(ok(base_url, "GET", path)["metadata"]["resourceVersion"])


def watch_lines(
    base_url: str, path: str, *, timeout: float = 30.0
) -> Generator[dict[str, Any], None, None]:
    """Stream a watch: one decoded event per line until the server ends the response."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Accept": JSON})
        resp = conn.getresponse()
        assert resp.status == 200, (resp.status, resp.read()[:2000])
        while True:
            line = resp.readline()
            if not line:
                return
            if line.strip():
                yield json.loads(line)
    finally:
        conn.close()


# ------------------------------------------------------------------------------ kubectl


@dataclass(frozen=True)
class Kubectl:
    """The machine's kubectl, pointed at one server, with a discovery cache of its own."""

    kubeconfig: Path
    home: Path

    def argv(self, *args: str) -> list[str]:
        return [
            "kubectl",
            "--kubeconfig",
            str(self.kubeconfig),
            "--cache-dir",
            str(self.home / "kube-cache"),
            *args,
        ]

    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=60,
            check=False,
        )

    def ok(self, *args: str, stdin: str | None = None) -> str:
        """Run a command that must succeed; its stdout."""
        done = self.run(*args, stdin=stdin)
        assert done.returncode == 0, (args, done.returncode, done.stdout, done.stderr)
        return done.stdout

    def fails(self, *args: str, stdin: str | None = None) -> str:
        """Run a command that must fail with rc=1; its stderr."""
        done = self.run(*args, stdin=stdin)
        assert done.returncode == 1, (args, done.returncode, done.stdout, done.stderr)
        return done.stderr

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "-o", "json"))


def write_manifest(path: Path, *docs: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump_all([dict(d) for d in docs], sort_keys=False))
    return path


def table_cells(line: str) -> list[str]:
    """One line of kubectl's table output, split on runs of two or more spaces (cell texts hold
    single spaces at most, e.g. "NOMINATED NODE")."""
    return re.split(r"\s{2,}", line.strip())


def table_header(output: str) -> list[str]:
    return table_cells(output.splitlines()[0])


def table_rows(output: str) -> list[list[str]]:
    return [table_cells(line) for line in output.splitlines()[1:] if line.strip()]


# ------------------------------------------------------------------------------ manifests


def pod(
    name: str,
    *,
    labels: Mapping[str, str] | None = None,
    image: str = "nginx:1.27",
    namespace: str | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(labels or {"app": name})}
    if namespace is not None:
        meta["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": image,
                    "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}],
                }
            ]
        },
    }


def deployment(name: str, *, image: str = "nginx:1.27", replicas: int = 2) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": image,
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        }
                    ]
                },
            },
        },
    }


def service(name: str, *, selector: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "selector": dict(selector or {"app": name}),
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
        },
    }


def node(name: str, *, internal_ip: str = "192.0.2.10") -> dict[str, Any]:
    """A Node as a kubelet registers it, with a complete nodeInfo (clients deserialize it)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": internal_ip},
                {"type": "Hostname", "address": name},
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet-lite is posting ready status",
                    "lastHeartbeatTime": "2025-01-01T00:00:00Z",
                    "lastTransitionTime": "2025-01-01T00:00:00Z",
                }
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": "kt-boot-id",
                "containerRuntimeVersion": "knet://0.1.0",
                "kernelVersion": "6.1.0-kt",
                "kubeProxyVersion": "v1.32.0",
                "kubeletVersion": "v1.32.0-knet",
                "machineID": "kt-machine-id",
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "systemUUID": "kt-system-uuid",
            },
        },
    }


def event_for(obj: Mapping[str, Any], *, reason: str, message: str) -> dict[str, Any]:
    """A core/v1 Event about `obj`, carrying its uid (kubectl describe selects on it)."""
    meta = obj["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{reason.lower()}", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
        },
        "reason": reason,
        "message": message,
        "type": "Normal",
        "count": 1,
        "source": {"component": "kt-test"},
        "firstTimestamp": "2025-01-01T00:00:00Z",
        "lastTimestamp": "2025-01-01T00:00:00Z",
    }
