"""Bad input named in issue 2: each gets a Kubernetes Status with the right code and reason, the
server stays up, and nothing stored changes (the store's revision is where any write would show)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from _apiserver_http import Reply, assert_status, list_rv, ok, pod, request

from knet.testing.apiserver import ApiServerProcess, running_apiserver

PODS = "/api/v1/namespaces/default/pods"
POD = PODS + "/kt-web"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerProcess]:
    """One server for the whole file: every request here is refused, so tests can't interfere."""
    with running_apiserver(tmp_path_factory.mktemp("kt-bad")) as server:
        ok(server.url, "POST", PODS, pod("kt-web"))
        yield server


@pytest.fixture
def server(shared: ApiServerProcess) -> Iterator[ApiServerProcess]:
    """The shared server; after each test, it is up and its revision has not moved."""
    before = list_rv(shared.url, PODS)
    yield shared
    assert request(shared.url, "GET", "/healthz", accept=None).status == 200
    assert list_rv(shared.url, PODS) == before, "a rejected request changed the store"


def _send(server: ApiServerProcess, method: str, path: str, body: Any, **kw: Any) -> Reply:
    return request(server.url, method, path, body, **kw)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"apiVersion": "v1", "kind": "Pod", "metadata": {', "application/json"),
        (b"not json at all", "application/json"),
        (b'{"a": 1} trailing', "application/json"),
        (b"apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n", "application/yaml"),
        (b"\tkind: Pod\n:\n  - : :", "application/yaml"),
        (b"", "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'"just a string"', "application/json"),
        (b"- a\n- b\n", "application/yaml"),
    ],
    ids=[
        "truncated-json",
        "not-json",
        "trailing-garbage",
        "bad-yaml",
        "bad-yaml-tabs",
        "empty",
        "json-array",
        "json-string",
        "yaml-list",
    ],
)
def test_malformed_bodies_are_400(server: ApiServerProcess, body: bytes, content_type: str) -> None:
    assert_status(_send(server, "POST", PODS, body, content_type=content_type), 400, "BadRequest")
    assert_status(_send(server, "PUT", POD, body, content_type=content_type), 400, "BadRequest")


@pytest.mark.parametrize(
    "patch_type",
    [
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
    ],
)
def test_malformed_patches_are_400(server: ApiServerProcess, patch_type: str) -> None:
    reply = _send(server, "PATCH", POD, b"{not json", content_type=patch_type)
    assert_status(reply, 400, "BadRequest")


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def _nested_json(depth: int) -> str:
    return "[" * depth + '"leaf"' + "]" * depth


@pytest.mark.parametrize("content_type", ["application/json", "application/yaml"])
@pytest.mark.parametrize("depth", [150, 300, 2000])
def test_deeply_nested_bodies_are_400(
    server: ApiServerProcess, depth: int, content_type: str
) -> None:
    """Too deep to store and list again: refused up front, never a 500 (and a stored object
    that a List can't be written for would break `kubectl get` for everybody)."""
    text = json.dumps(pod("kt-deep"))
    raw = (text[:-1] + f', "kt-extra": {_nested_json(depth)}}}').encode()  # JSON is YAML too
    reply = _send(server, "POST", PODS, raw, content_type=content_type)
    status = assert_status(reply, 400, "BadRequest")
    assert "nested" in status["message"] or "depth limit exceeded" in status["message"]
    patch = ('{"kt-extra": ' + _nested_json(depth) + "}").encode()
    reply = _send(server, "PATCH", POD, patch, content_type="application/merge-patch+json")
    assert_status(reply, 400, "BadRequest")


def test_patches_that_deepen_an_object_too_far_are_refused(server: ApiServerProcess) -> None:
    ops = [
        {"op": "add", "path": "/kt-extra", "value": _nested(80)},
        {"op": "add", "path": "/kt-extra" + "/0" * 79 + "/-", "value": _nested(80)},
    ]
    reply = _send(server, "PATCH", POD, ops, content_type="application/json-patch+json")
    assert_status(reply, 422, "Invalid")
    # the pod can still be listed
    assert [i["metadata"]["name"] for i in ok(server.url, "GET", PODS)["items"]] == ["kt-web"]


BILLION_LAUGHS = b"".join(
    [b'a: &a ["x","x","x","x","x","x","x","x","x"]\n']
    + [
        f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n".encode()
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    + [b"apiVersion: v1\nkind: Pod\nmetadata: {name: kt-lol}\n"]
    + [b"spec: {containers: [{name: c, image: i}]}\n"]
)


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        b"kt: &a [*a]\nkind: Pod\nmetadata: {name: kt-loop}\n",
        b"kt: !!binary aGVsbG8=\nkind: Pod\nmetadata: {name: kt-bin}\n",
        b"kt: !!set {a, b}\nkind: Pod\nmetadata: {name: kt-set}\n",
        b'kind: "\\ud800"\nmetadata: {name: kt-surrogate}\n',
        b"!!python/object/apply:os.system [echo kt]\n",
    ],
    ids=["billion-laughs", "self-alias", "binary", "set", "lone-surrogate", "python-tag"],
)
def test_yaml_that_json_cannot_hold_is_400(server: ApiServerProcess, body: bytes) -> None:
    reply = _send(server, "POST", PODS, body, content_type="application/yaml")
    assert_status(reply, 400, "BadRequest")


def _header(api_version: str, kind: str) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "kt-x"}}


@pytest.mark.parametrize(
    ("path", "body", "what"),
    [
        (PODS, _header("v1", "Service"), "kind"),
        (PODS, _header("apps/v1", "Pod"), "API version"),
        (DEPLOYS, _header("v1", "Deployment"), "API version"),
        (DEPLOYS, _header("apps/v1", "ReplicaSet"), "kind"),
    ],
    ids=["pod-path-service-kind", "pod-path-apps-version", "deploy-path-core-version", "rs-kind"],
)
def test_kind_or_version_not_matching_the_path_is_400(
    server: ApiServerProcess, path: str, body: dict[str, Any], what: str
) -> None:
    status = assert_status(_send(server, "POST", path, body), 400, "BadRequest")
    assert what in status["message"]


def test_pod_body_with_another_namespace_is_400(server: ApiServerProcess) -> None:
    body = pod("kt-x", namespace="kube-system")
    status = assert_status(_send(server, "POST", PODS, body), 400, "BadRequest")
    assert "namespace" in status["message"]


def _big_pod(size: int) -> bytes:
    body = pod("kt-big")
    body["metadata"]["annotations"] = {"kt/pad": "x" * size}
    return json.dumps(body).encode()


def test_body_over_3_mib_is_413(server: ApiServerProcess) -> None:
    big = _big_pod(3 * MIB + 10)
    assert_status(_send(server, "POST", PODS, big), 413, "RequestEntityTooLarge")
    assert_status(_send(server, "PUT", POD, big), 413, "RequestEntityTooLarge")
    assert_status(
        _send(server, "PATCH", POD, big, content_type="application/merge-patch+json"),
        413,
        "RequestEntityTooLarge",
    )


def test_chunked_body_over_3_mib_is_413(server: ApiServerProcess) -> None:
    """Without a Content-Length the limit still holds, counted as the body arrives."""
    big = _big_pod(4 * MIB)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        chunks = (big[i : i + 65536] for i in range(0, len(big), 65536))
        conn.request(
            "POST",
            PODS,
            body=chunks,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            encode_chunked=True,
        )
        resp = conn.getresponse()
        reply = Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    except (BrokenPipeError, ConnectionResetError):
        pytest.fail("the server dropped the connection instead of answering 413")
    finally:
        conn.close()
    assert_status(reply, 413, "RequestEntityTooLarge")


def test_body_just_under_the_limit_is_not_413(server: ApiServerProcess) -> None:
    # 1.5 MiB of annotations is over upstream's 256 KiB annotation limit: 422, never 413
    reply = _send(server, "POST", PODS, _big_pod(3 * MIB // 2))
    status = assert_status(reply, 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.annotations"


@pytest.mark.parametrize(
    "name", ["Bad_Name", "UPPER", "-leading", "trailing-", "a" * 254, "dots..double", "sp ace"]
)
def test_invalid_names_are_422(server: ApiServerProcess, name: str) -> None:
    body = pod(name, labels={"app": "kt"})
    status = assert_status(_send(server, "POST", PODS, body), 422, "Invalid")
    assert status["details"]["kind"] == "Pod"
    assert status["details"]["name"] == name
    assert [c["field"] for c in status["details"]["causes"]] == ["metadata.name"]
    assert status["details"]["causes"][0]["reason"] == "FieldValueInvalid"
    assert status["message"].startswith(f'Pod "{name}" is invalid: metadata.name: Invalid value')


def test_invalid_namespace_and_service_names_are_422(server: ApiServerProcess) -> None:
    # Namespaces and Services want DNS-1123 labels: no dots
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kt.dotted"}}
    assert_status(_send(server, "POST", "/api/v1/namespaces", body), 422, "Invalid")
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kt.dotted"},
        "spec": {"ports": [{"port": 80}]},
    }
    assert_status(_send(server, "POST", "/api/v1/namespaces/default/services", svc), 422, "Invalid")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/namespaces/default/widgets",
        "/api/v1/widgets",
        "/apis/kt.example.com/v1/things",
        "/apis/apps/v2/deployments",
        "/api/v2/pods",
        "/api/v1/namespaces/default/pods/kt-web/nosuchsub",
        "/api/v1/namespaces/default/pods/kt-web/status/extra",
        "/api/v1/namespaces/default/nodes/kt-node",
        "/nothing/here",
    ],
)
def test_unknown_resources_are_404(server: ApiServerProcess, path: str) -> None:
    for method in ("GET", "POST", "DELETE"):
        body = pod("kt-x") if method == "POST" else None
        status = assert_status(_send(server, method, path, body), 404, "NotFound")
        assert status["message"] == "the server could not find the requested resource"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", PODS),
        ("PATCH", PODS),
        ("POST", POD),
        ("POST", "/api/v1/pods"),
        ("PUT", POD + "/binding"),
        ("DELETE", POD + "/status"),
        ("POST", "/api/v1"),
        ("PUT", "/apis/apps/v1"),
    ],
)
def test_wrong_methods_are_405(server: ApiServerProcess, method: str, path: str) -> None:
    assert_status(_send(server, method, path, pod("kt-web")), 405, "MethodNotAllowed")


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "text/plain", "application/xml", "application/apply-patch+yaml", ""],
)
def test_unsupported_patch_types_are_415(server: ApiServerProcess, content_type: str) -> None:
    reply = _send(
        server,
        "PATCH",
        POD,
        {"metadata": {"labels": {"x": "y"}}},
        content_type=content_type or None,
    )
    assert_status(reply, 415, "UnsupportedMediaType")


def test_unsupported_body_types_are_415(server: ApiServerProcess) -> None:
    body = json.dumps(pod("kt-new")).encode()
    # (protobuf is decoded now: a JSON body sent as protobuf is a 400, see the protobuf tests)
    for content_type in ("text/plain", "application/cbor", "application/xml"):
        reply = _send(server, "POST", PODS, body, content_type=content_type)
        assert_status(reply, 415, "UnsupportedMediaType")


def test_unacceptable_accept_is_406(server: ApiServerProcess) -> None:
    for accept in ("application/xml", "text/html", "application/vnd.kubernetes.protobuf"):
        assert_status(_send(server, "GET", POD, None, accept=accept), 406, "NotAcceptable")
        assert_status(_send(server, "GET", PODS, None, accept=accept), 406, "NotAcceptable")
    # a write refused for its Accept header stores nothing either
    reply = _send(server, "POST", PODS, pod("kt-new"), accept="application/xml")
    assert_status(reply, 406, "NotAcceptable")


def test_bad_query_parameters_are_400(server: ApiServerProcess) -> None:
    for query in (
        "?labelSelector=a%20in%20(",
        "?fieldSelector=spec.nosuchfield%3Dx",
        "?watch=maybe",
        "?watch=true&timeoutSeconds=soon",
        "?watch=true&resourceVersion=abc",
        "?resourceVersionMatch=Exact",
    ):
        assert_status(_send(server, "GET", PODS + query, None), 400, "BadRequest")
    for query in ("?dryRun=Some", "?fieldValidation=Loose"):
        assert_status(_send(server, "POST", PODS + query, pod("kt-new")), 400, "BadRequest")
