"""Env from ConfigMaps, Secrets and resources; volume projections; the atomic writer; hostPath
type checks. The pure parts of volumes/ and pods/container_spec.py, plus the writer on a
scratch directory."""

from __future__ import annotations

import base64
import os
import socket
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from knet.api.base import from_wire
from knet.api.core import Container
from knet.client import ApiConnectionError, ApiError
from kubelet_lite.pods.container_spec import ContainerConfigError, PodFields, container_env
from kubelet_lite.volumes import atomic_writer, host_path
from kubelet_lite.volumes.atomic_writer import File
from kubelet_lite.volumes.fetch import FetchError, fetch_sources
from kubelet_lite.volumes.pod_volumes import not_honoured, refreshed
from kubelet_lite.volumes.projection import ProjectionError, format_map, payload
from kubelet_lite.volumes.sources import (
    NodeCapacity,
    RefError,
    Sources,
    referenced,
    resource_value,
)

FIELDS = PodFields(
    name="web-1",
    namespace="prod",
    uid="u-1",
    node_name="node-a",
    host_ip="10.0.0.2",
    pod_ip="10.244.1.7",
    service_account="default",
    labels={"app": "web", "tier": 'fr"ont'},
    annotations={"note": "x"},
)
NODE = NodeCapacity(Decimal(4), 8 * 2**30)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


SOURCES = Sources(
    "prod",
    {
        ("ConfigMap", "app"): {
            "data": {"mode": "fast", "LEVEL": "3", "bad-key!": "x", "1st": "y"},
            "binaryData": {"blob": b64("\x00\x01")},
        },
        ("Secret", "creds"): {"data": {"user": b64("admin"), "pass": b64("s3cret")}},
        ("ConfigMap", "gone"): None,
    },
)


def container(**spec: Any) -> Container:
    return from_wire(Container, {"name": "c", "image": "busybox", **spec})


def test_env_from_configmaps_secrets_fields_and_resources() -> None:
    c = container(
        envFrom=[
            {"configMapRef": {"name": "app"}, "prefix": "APP_"},
            {"secretRef": {"name": "creds"}},
            {"configMapRef": {"name": "gone", "optional": True}},
        ],
        env=[
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "mode"}}},
            {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "pass"}}},
            {
                "name": "OPT",
                "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": True}},
            },
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {
                "name": "CPU",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}},
            },
            {"name": "MSG", "value": "$(MODE)/$(user)/$$(MODE)/$(NOPE)"},
        ],
        resources={"limits": {"cpu": "250m"}},
    )
    skipped: list[str] = []
    env = container_env(c, FIELDS, "h", SOURCES, NODE, skipped)
    assert env["APP_mode"] == "fast" and env["APP_LEVEL"] == "3" and env["APP_1st"] == "y"
    assert "APP_bad-key!" not in env and env["user"] == "admin"
    assert (env["MODE"], env["PASS"], env["NS"], env["CPU"]) == ("fast", "s3cret", "prod", "250")
    assert "OPT" not in env
    assert env["MSG"] == "fast/admin/$(MODE)/$(NOPE)"
    assert skipped == [
        "Keys [APP_bad-key!] from the EnvFrom configmap prod/app were skipped since they are "
        "considered invalid environment variable names."
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"configMapKeyRef": {"name": "app", "key": "nope"}},
            "couldn't find key nope in ConfigMap prod/app",
        ),
        (
            {"secretKeyRef": {"name": "creds", "key": "nope"}},
            "couldn't find key nope in Secret prod/creds",
        ),
        ({"configMapKeyRef": {"name": "gone", "key": "k"}}, 'configmap "gone" not found'),
        ({"secretKeyRef": {"name": "other", "key": "k"}}, 'secret "other" not found'),
    ],
)
def test_env_missing_references(env: dict[str, Any], message: str) -> None:
    c = container(env=[{"name": "X", "valueFrom": env}])
    with pytest.raises(ContainerConfigError) as info:
        container_env(c, FIELDS, "h", SOURCES, NODE)
    assert str(info.value) == message
    assert info.value.reason == "CreateContainerConfigError"


def test_referenced() -> None:
    spec = {
        "initContainers": [{"envFrom": [{"secretRef": {"name": "s1"}}]}],
        "containers": [{"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c1"}}}]}],
        "volumes": [
            {"name": "v", "configMap": {"name": "c2"}},
            {"name": "w", "secret": {"secretName": "s2"}},
            {
                "name": "p",
                "projected": {
                    "sources": [{"configMap": {"name": "c3"}}, {"secret": {"name": "s3"}}]
                },
            },
        ],
    }
    assert referenced(spec) == {
        ("Secret", "s1"),
        ("ConfigMap", "c1"),
        ("ConfigMap", "c2"),
        ("Secret", "s2"),
        ("ConfigMap", "c3"),
        ("Secret", "s3"),
    }


@pytest.mark.parametrize(
    ("resources", "resource", "divisor", "value"),
    [
        ({"limits": {"cpu": "250m"}}, "limits.cpu", None, "1"),  # rounded up
        ({"limits": {"cpu": "1500m"}}, "limits.cpu", "100m", "15"),
        ({}, "limits.cpu", None, "4"),  # the node's
        ({"limits": {"memory": "64Mi"}}, "limits.memory", "1Mi", "64"),
        ({}, "limits.memory", "1Gi", "8"),
        ({"limits": {"memory": "64Mi"}}, "requests.memory", "1Mi", "64"),  # requests = limits
        ({}, "requests.cpu", None, "0"),
    ],
)
def test_resource_values(
    resources: dict[str, Any], resource: str, divisor: Any, value: str
) -> None:
    assert resource_value(resources, resource, divisor, NODE) == value


def test_resource_value_refuses_unknown() -> None:
    with pytest.raises(RefError, match="unsupported container resource"):
        resource_value({}, "limits.gpu", None, NODE)


def project(vol: dict[str, Any]) -> dict[str, File]:
    return payload(
        vol, "spec.volumes[0]", SOURCES, FIELDS, lambda c: {"limits": {"memory": "1Gi"}}, NODE
    )


def test_configmap_and_secret_projection() -> None:
    assert project(
        {
            "configMap": {
                "name": "app",
                "items": [{"key": "mode", "path": "conf/mode", "mode": 0o600}],
            }
        }
    ) == {"conf/mode": File(b"fast", 0o600)}
    files = project({"configMap": {"name": "app", "defaultMode": 0o400}})
    assert files["blob"] == File(b"\x00\x01", 0o400) and files["LEVEL"] == File(b"3", 0o400)
    assert project({"secret": {"secretName": "creds"}}) == {
        "user": File(b"admin", 0o644),
        "pass": File(b"s3cret", 0o644),
    }
    assert project({"configMap": {"name": "gone", "optional": True}}) == {}
    opt = {"name": "app", "optional": True, "items": [{"key": "nope", "path": "n"}]}
    assert project({"configMap": opt}) == {}


@pytest.mark.parametrize(
    ("vol", "message"),
    [
        ({"configMap": {"name": "gone"}}, 'configmap "gone" not found'),
        ({"secret": {"secretName": "other"}}, 'secret "other" not found'),
        (
            {"configMap": {"name": "app", "items": [{"key": "k", "path": "k"}]}},
            "configmap references non-existent config key: k",
        ),
        (
            {"secret": {"secretName": "creds", "items": [{"key": "k", "path": "k"}]}},
            "secret references non-existent secret key: k",
        ),
        (
            {"configMap": {"name": "app", "items": [{"key": "mode", "path": "../up"}]}},
            "must not contain '..'",
        ),
        (
            {"projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
            "serviceAccountToken is not supported",
        ),
        (
            {"configMap": {"name": "app", "defaultMode": 0o1777}},
            "mode 1023 must be between 0 and 0777",
        ),
    ],
)
def test_projection_errors(vol: dict[str, Any], message: str) -> None:
    with pytest.raises(ProjectionError, match=message.replace("(", r"\(")):
        project(vol)


def test_downward_api_and_projected() -> None:
    items = [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {
            "path": "mem",
            "resourceFieldRef": {
                "containerName": "c",
                "resource": "limits.memory",
                "divisor": "1Mi",
            },
        },
    ]
    files = project({"downwardAPI": {"items": items}})
    assert files["labels"].content == b'app="web"\ntier="fr\\"ont"'
    assert files["name"] == File(b"web-1", 0o644) and files["mem"].content == b"1024"
    proj = project(
        {
            "projected": {
                "defaultMode": 0o440,
                "sources": [
                    {"configMap": {"name": "app", "items": [{"key": "mode", "path": "mode"}]}},
                    {"secret": {"name": "creds", "items": [{"key": "user", "path": "u"}]}},
                    {"downwardAPI": {"items": [items[1]]}},
                ],
            }
        }
    )
    assert proj == {
        "mode": File(b"fast", 0o440),
        "u": File(b"admin", 0o440),
        "name": File(b"web-1", 0o440),
    }
    assert format_map({}) == ""


def read_volume(d: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in d.iterdir() if not p.name.startswith("..")}


def test_atomic_writer_layout_and_update(tmp_path: Path) -> None:
    vol = tmp_path / "v"
    assert atomic_writer.write(vol, {"a": File(b"1"), "d/b": File(b"2", 0o600)})
    data = os.readlink(vol / "..data")
    assert data.startswith("..") and (vol / data).is_dir()
    assert os.readlink(vol / "a") == "..data/a" and os.readlink(vol / "d") == "..data/d"
    assert (vol / "d" / "b").read_text() == "2"
    assert stat.S_IMODE(os.stat(vol / "d" / "b").st_mode) == 0o600
    assert not atomic_writer.write(vol, {"a": File(b"1"), "d/b": File(b"2", 0o600)})  # same
    with open(vol / "a") as held:  # a reader of the old version keeps it whole
        assert atomic_writer.write(vol, {"a": File(b"new"), "c": File(b"3")})
        assert held.read() == "1"
    assert read_volume(vol) == {"a": "new", "c": "3"}
    assert os.readlink(vol / "..data") != data and not (vol / data).exists()
    assert sorted(os.listdir(vol)) == sorted(["..data", os.readlink(vol / "..data"), "a", "c"])


def test_atomic_writer_refuses_bad_paths(tmp_path: Path) -> None:
    for bad in (
        {"/abs": File(b"")},
        {"a/../b": File(b"")},
        {"..x": File(b"")},
        {"a": File(b""), "a/b": File(b"")},
    ):
        with pytest.raises(atomic_writer.PayloadError):
            atomic_writer.write(tmp_path / "v", bad)


def test_fs_group(tmp_path: Path) -> None:
    gid = os.getgid()
    vol = tmp_path / "v"
    atomic_writer.write(vol, {"k": File(b"1", 0o600)}, gid)
    st = os.stat(vol / "k")
    assert st.st_gid == gid and stat.S_IMODE(st.st_mode) == 0o640
    assert os.stat(vol / os.readlink(vol / "..data")).st_mode & stat.S_ISGID
    assert not atomic_writer.write(vol, {"k": File(b"1", 0o600)}, gid)  # already so


def test_host_path_types(tmp_path: Path) -> None:
    d, f = tmp_path / "d", tmp_path / "f"
    host_path.check(str(d), "DirectoryOrCreate")
    assert d.is_dir()
    host_path.check(str(f), "FileOrCreate")
    assert f.is_file() and stat.S_IMODE(f.stat().st_mode) & 0o644 == 0o644
    host_path.check(str(d), "Directory")
    host_path.check(str(f), "File")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s"))
    try:
        host_path.check(str(tmp_path / "s"), "Socket")
    finally:
        sock.close()
    host_path.check("/dev/null", "CharDevice")
    cases = [
        (f, "Directory", "is not a directory"),
        (d, "File", "is not a file"),
        (d, "FileOrCreate", "is not a file"),
        (tmp_path / "missing", "Directory", "is not a directory"),
        (f, "Socket", "is not a socket file"),
        (f, "CharDevice", "is not a character device"),
        (f, "BlockDevice", "is not a block device"),
    ]
    for path, kind, message in cases:
        with pytest.raises(host_path.HostPathError) as info:
            host_path.check(str(path), kind)
        assert str(info.value) == f"hostPath type check failed: {path} {message}"
    with pytest.raises(OSError):
        host_path.check(str(tmp_path / "no" / "f"), "FileOrCreate")  # its directory is not made
    with pytest.raises(host_path.HostPathError, match="Weird is an invalid volume type"):
        host_path.check(str(d), "Weird")


def test_what_is_refreshed_and_not_honoured() -> None:
    spec = {
        "volumes": [
            {"name": "a", "emptyDir": {"sizeLimit": "1Gi"}},
            {"name": "b", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
            {"name": "c", "hostPath": {"path": "/x"}},
        ]
    }
    assert not_honoured(spec) == ["spec.volumes[0].emptyDir.sizeLimit (on the node's disk)"]
    assert not refreshed(spec)
    assert refreshed({"volumes": [{"name": "d", "downwardAPI": {"items": []}}]})


class FakeClient:
    def __init__(self, objects: dict[tuple[str, str], Any], fail: bool = False) -> None:
        self.objects, self.fail = objects, fail

    async def get(self, kind: str, name: str, namespace: str | None = None) -> Any:
        if self.fail:
            raise ApiConnectionError("connection refused")
        if (kind, name) not in self.objects:
            raise ApiError(404, "NotFound", f'{kind.lower()}s "{name}" not found')
        return self.objects[(kind, name)]


async def test_fetch_sources() -> None:
    client: Any = FakeClient({("ConfigMap", "a"): {"data": {"k": "v"}}})
    refs = {("ConfigMap", "a"), ("Secret", "gone")}
    got = await fetch_sources(client, "prod", refs)
    assert got.value("ConfigMap", "a", "k") == "v"
    assert got.objects[("Secret", "gone")] is None  # a 404 is a missing object...
    dead: Any = FakeClient({}, fail=True)
    with pytest.raises(FetchError, match="connection refused"):  # ...a dead API server is not
        await fetch_sources(dead, "prod", refs)
