"""Random ConfigMap and Secret bodies and patches against a real `knet apiserver`: whatever comes
in, the answer is a success or a 4xx Status, never a 500, and a refusal stores nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from _apiserver_http import list_rv, request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knet.testing.apiserver import ApiServerProcess, running_apiserver

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CM = "/api/v1/namespaces/default/configmaps"
SECRETS = "/api/v1/namespaces/default/secrets"
SECRET_TYPES = [
    "Opaque",
    "",
    "kubernetes.io/tls",
    "kubernetes.io/dockerconfigjson",
    "kubernetes.io/dockercfg",
    "kubernetes.io/basic-auth",
    "kubernetes.io/ssh-auth",
    "kubernetes.io/service-account-token",
    "example.com/x",
]
TYPED_KEYS = ["tls.crt", "tls.key", ".dockerconfigjson", ".dockercfg", "username", "ssh-privatekey"]

keys = st.sampled_from(TYPED_KEYS) | st.text(min_size=0, max_size=12)
scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
base64_text = st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())
byte_values = base64_text | st.text(max_size=12) | scalars
text_values = st.text(max_size=30) | scalars
maybe_map = st.none() | st.dictionaries(keys, text_values, max_size=4) | scalars | st.lists(scalars)


@st.composite
def configmaps(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kt-f"}}
    if draw(st.booleans()):
        obj["data"] = draw(maybe_map)
    if draw(st.booleans()):
        obj["binaryData"] = draw(st.dictionaries(keys, byte_values, max_size=4) | scalars)
    if draw(st.booleans()):
        obj["immutable"] = draw(scalars)
    return obj


@st.composite
def secrets(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kt-f"}}
    if draw(st.booleans()):
        obj["data"] = draw(st.dictionaries(keys, byte_values, max_size=4) | scalars)
    if draw(st.booleans()):
        obj["stringData"] = draw(maybe_map)
    if draw(st.booleans()):
        obj["type"] = draw(st.sampled_from(SECRET_TYPES) | scalars)
    if draw(st.booleans()):
        obj["immutable"] = draw(scalars)
    return obj


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerProcess]:
    with running_apiserver(tmp_path_factory.mktemp("kt-cmfuzz")) as srv:
        yield srv
        assert request(srv.url, "GET", "/healthz", accept=None).status == 200


def _send(srv: ApiServerProcess, method: str, path: str, body: Any, content_type: str) -> int:
    """One write; asserts a success or a 4xx Status that left the store alone."""
    before = list_rv(srv.url, CM) + list_rv(srv.url, SECRETS)
    reply = request(srv.url, method, path, json.dumps(body).encode(), content_type=content_type)
    assert reply.status < 500, (reply.status, reply.body[:2000])
    if reply.status >= 400:
        status = reply.json()
        assert status["kind"] == "Status" and status["code"] == reply.status, status
        assert list_rv(srv.url, CM) + list_rv(srv.url, SECRETS) == before
    return reply.status


@FUZZ
@given(obj=configmaps() | secrets())
def test_random_objects(server: ApiServerProcess, obj: dict[str, Any]) -> None:
    path = CM if obj["kind"] == "ConfigMap" else SECRETS
    if _send(server, "POST", path, obj, "application/json") == 201:
        stored = request(server.url, "GET", f"{path}/kt-f").json()
        assert "stringData" not in stored
        assert request(server.url, "DELETE", f"{path}/kt-f").status == 200


@FUZZ
@given(
    patch=st.dictionaries(
        st.sampled_from(["data", "binaryData", "stringData", "type", "immutable"]),
        maybe_map | st.dictionaries(keys, byte_values, max_size=3),
        max_size=3,
    ),
    content_type=st.sampled_from(
        ["application/merge-patch+json", "application/strategic-merge-patch+json"]
    ),
    immutable=st.booleans(),
    kind=st.sampled_from(["ConfigMap", "Secret"]),
)
def test_random_patches(
    server: ApiServerProcess,
    patch: dict[str, Any],
    content_type: str,
    immutable: bool,
    kind: str,
) -> None:
    path = CM if kind == "ConfigMap" else SECRETS
    request(server.url, "DELETE", f"{path}/kt-p")
    seed: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "kt-p"}}
    seed["data"] = {"a": "1"} if kind == "ConfigMap" else {"a": "MQ=="}
    seed["immutable"] = immutable
    assert request(server.url, "POST", path, seed).status == 201
    status = _send(server, "PATCH", f"{path}/kt-p", patch, content_type)
    got = request(server.url, "GET", f"{path}/kt-p").json()
    if immutable:
        # Nothing a patch does gets past the lock on the data.
        assert got["data"] == seed["data"] and got["immutable"] is True
    if status == 200 and kind == "Secret":
        assert "stringData" not in got  # write-only (a ConfigMap keeps it as an unknown field)
