"""ConfigMaps and Secrets through the official Python client, raw HTTP (bad input must come
back as a Status with the right code, never a 500) and the namespace controller."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from _apiserver_http import assert_status, request
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from knet.client import ApiClient
from knet.controllers.manager import ManagerOptions, run_controllers
from knet.testing.apiserver import ApiServerProcess

NS = "default"
CM_PATH = f"/api/v1/namespaces/{NS}/configmaps"
SECRET_PATH = f"/api/v1/namespaces/{NS}/secrets"


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


@pytest.fixture
def api(apiserver: ApiServerProcess) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(apiserver.kubeconfig))
    try:
        yield api_client
    finally:
        api_client.close()


def _status(e: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(e.body)
    assert body["kind"] == "Status" and body["code"] == e.status
    return body


# ------------------------------------------------------------------------------ Python client


def test_configmap_crud(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    body = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="kt-cfg"),
        data={"a": "1"},
        binary_data={"blob": b64(b"\x00\xff")},
    )
    created = core.create_namespaced_config_map(NS, body)
    assert isinstance(created, client.V1ConfigMap)
    assert created.metadata.uid and created.data == {"a": "1"}
    assert created.binary_data == {"blob": b64(b"\x00\xff")}

    got = core.read_namespaced_config_map("kt-cfg", NS)
    got.data["b"] = "2"
    replaced = core.replace_namespaced_config_map("kt-cfg", NS, got)
    assert replaced.data == {"a": "1", "b": "2"}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)

    patched = core.patch_namespaced_config_map("kt-cfg", NS, {"data": {"c": "3"}})
    assert patched.data == {"a": "1", "b": "2", "c": "3"}
    listed = core.list_namespaced_config_map(NS, field_selector="metadata.name=kt-cfg")
    assert [c.metadata.name for c in listed.items] == ["kt-cfg"]

    core.patch_namespaced_config_map("kt-cfg", NS, {"immutable": True})
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map("kt-cfg", NS, {"data": {"c": "4"}})
    assert exc.value.status == 422
    causes = _status(exc.value)["details"]["causes"]
    assert [(c["field"], c["reason"]) for c in causes] == [("data", "FieldValueForbidden")]

    core.delete_namespaced_config_map("kt-cfg", NS)
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("kt-cfg", NS)
    assert exc.value.status == 404


def test_secret_crud(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(name="kt-sec"),
        string_data={"password": "s3cret"},
        data={"user": b64("admin")},
    )
    created = core.create_namespaced_secret(NS, body)
    assert isinstance(created, client.V1Secret)
    assert created.type == "Opaque"
    assert created.string_data is None
    assert created.data == {"user": b64("admin"), "password": b64("s3cret")}

    got = core.read_namespaced_secret("kt-sec", NS)
    got.data["user"] = b64("root")
    assert core.replace_namespaced_secret("kt-sec", NS, got).data["user"] == b64("root")
    patched = core.patch_namespaced_secret("kt-sec", NS, {"stringData": {"extra": "x"}})
    assert patched.data["extra"] == b64("x") and patched.string_data is None

    by_type = core.list_namespaced_secret(NS, field_selector="type=Opaque")
    assert [s.metadata.name for s in by_type.items] == ["kt-sec"]
    assert core.list_namespaced_secret(NS, field_selector="type=kubernetes.io/tls").items == []

    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_secret("kt-sec", NS, {"type": "kubernetes.io/tls"})
    assert exc.value.status == 422
    assert "type: Invalid value" in _status(exc.value)["message"]

    core.delete_namespaced_secret("kt-sec", NS)
    assert core.list_namespaced_secret(NS).items == []


def test_configmap_watch(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    w = watch.Watch()
    seen: list[tuple[str, str, dict[str, str] | None]] = []
    started = threading.Event()

    def consume() -> None:
        for e in w.stream(core.list_namespaced_config_map, NS, timeout_seconds=20):
            seen.append((e["type"], e["object"].metadata.name, e["object"].data))
            if e["type"] == "DELETED":
                w.stop()

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    # The watch starts from "now": wait until it is established by seeing a first event.
    core.create_namespaced_config_map(
        NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="kt-w"), data={"v": "1"})
    )
    for _ in range(200):
        if seen:
            started.set()
            break
        threading.Event().wait(0.05)
    assert started.is_set()
    core.patch_namespaced_config_map("kt-w", NS, {"data": {"v": "2"}})
    core.delete_namespaced_config_map("kt-w", NS)
    t.join(25)
    assert not t.is_alive()
    assert seen == [
        ("ADDED", "kt-w", {"v": "1"}),
        ("MODIFIED", "kt-w", {"v": "2"}),
        ("DELETED", "kt-w", {"v": "2"}),
    ]


# ------------------------------------------------------------------------------ bad input


def _cm(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kt-bad"}, **fields}


def _secret(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kt-bad"}, **fields}


@pytest.mark.parametrize(
    ("path", "body", "code", "reason", "fields"),
    [
        (CM_PATH, _cm(data={"a b": "1"}), 422, "Invalid", ["data[a b]"]),
        (CM_PATH, _cm(data={"k": "1"}, binaryData={"k": "MQ=="}), 422, "Invalid", None),
        (CM_PATH, _cm(data={"a": "x" * (1024 * 1024 + 1)}), 422, "Invalid", ["[]"]),
        (CM_PATH, _cm(binaryData={"b": "not base64"}), 400, "BadRequest", None),
        (CM_PATH, _cm(data={"a": 1}), 400, "BadRequest", None),
        (CM_PATH, _cm(data=["a"]), 400, "BadRequest", None),
        (CM_PATH, _cm(immutable="true"), 400, "BadRequest", None),
        (SECRET_PATH, _secret(data={"a": "%%%"}), 400, "BadRequest", None),
        (SECRET_PATH, _secret(stringData={"a": {"b": 1}}), 400, "BadRequest", None),
        (SECRET_PATH, _secret(data={"..a": "MQ=="}), 422, "Invalid", ["data[..a]"]),
        (SECRET_PATH, _secret(stringData={"a": "x" * (1024 * 1024 + 1)}), 422, "Invalid", ["data"]),
        (
            SECRET_PATH,
            _secret(type="kubernetes.io/dockerconfigjson", stringData={".dockerconfigjson": "["}),
            422,
            "Invalid",
            ["data[.dockerconfigjson]"],
        ),
        (SECRET_PATH, _secret(type="kubernetes.io/ssh-auth"), 422, "Invalid", None),
    ],
    ids=[
        "cm-invalid-key",
        "cm-key-in-both",
        "cm-oversized",
        "cm-bad-base64",
        "cm-number-value",
        "cm-data-list",
        "cm-immutable-string",
        "secret-bad-base64",
        "secret-stringdata-object",
        "secret-dotdot-key",
        "secret-oversized-stringdata",
        "secret-docker-not-json",
        "secret-ssh-no-key",
    ],
)
def test_bad_bodies_get_a_status(
    apiserver: ApiServerProcess,
    path: str,
    body: dict[str, Any],
    code: int,
    reason: str,
    fields: list[str] | None,
) -> None:
    status = assert_status(request(apiserver.url, "POST", path, body), code, reason)
    if fields is not None:
        assert [c["field"] for c in status["details"]["causes"]] == fields
    if code == 400:
        kind = body["kind"]
        assert status["message"].startswith(
            f'{kind} in version "v1" cannot be handled as a {kind}: '
        )
    # Nothing was stored.
    reply = request(apiserver.url, "GET", f"{path}/kt-bad")
    assert_status(reply, 404, "NotFound")


def test_bad_base64_in_a_patch_is_a_400(apiserver: ApiServerProcess) -> None:
    assert request(apiserver.url, "POST", SECRET_PATH, _secret(data={"a": "MQ=="})).status == 201
    reply = request(
        apiserver.url,
        "PATCH",
        f"{SECRET_PATH}/kt-bad",
        {"data": {"a": "###"}},
        content_type="application/merge-patch+json",
    )
    status = assert_status(reply, 400, "BadRequest")
    assert "illegal base64 data at input byte 0" in status["message"]


# ------------------------------------------------------------------------------ namespaces


async def test_namespace_deletion_removes_configmaps_and_secrets(
    apiserver: ApiServerProcess,
) -> None:
    kube = ApiClient.from_url(apiserver.url)
    task = asyncio.create_task(run_controllers(kube, ManagerOptions(controllers=("namespace",))))
    try:
        await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kt-ns"}})
        await kube.create(_cm(data={"a": "1"}), "kt-ns")
        await kube.create(_secret(stringData={"a": "1"}), "kt-ns")
        await kube.delete("Namespace", "kt-ns")
        for _ in range(300):
            reply = request(apiserver.url, "GET", "/api/v1/namespaces/kt-ns")
            if reply.status == 404:
                break
            await asyncio.sleep(0.1)
        assert reply.status == 404, reply.body[:500]
        # Recreated empty: the old content did not linger.
        await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kt-ns"}})
        for kind in ("ConfigMap", "Secret"):
            items, _ = await kube.list(kind, "kt-ns")
            assert items == [], kind
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await kube.close()
