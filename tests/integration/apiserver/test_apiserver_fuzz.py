"""Property tests: random requests only ever get a 2xx or a 4xx Kubernetes Status, never a 5xx;
the server stays up; and a refused request changes nothing stored.

One server serves the whole module; every example checks the store's revision before and after,
so a refused request that wrote anything is caught at once."""

from __future__ import annotations

import copy
import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from _apiserver_http import deployment, list_rv, pod, request, service
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from knet.testing.apiserver import ApiServerProcess, running_apiserver

REVISION = "/api/v1/namespaces"  # any list carries the store's global revision
FUZZ = settings(
    max_examples=500,
    deadline=None,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _seed(url: str) -> None:
    """The objects the write tests aim at. Random DELETEs may remove them; put them back (a
    409 for those still there is expected)."""
    for body in (pod("kt-web"), pod("kt-db")):
        request(url, "POST", "/api/v1/namespaces/default/pods", body)
    request(url, "POST", "/api/v1/namespaces/default/services", service("kt-web"))
    request(url, "POST", "/apis/apps/v1/namespaces/default/deployments", deployment("kt-app"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerProcess]:
    with running_apiserver(tmp_path_factory.mktemp("kt-fuzz")) as srv:
        _seed(srv.url)
        yield srv
        assert request(srv.url, "GET", "/healthz", accept=None).status == 200


# ------------------------------------------------------------------------------ strategies

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=15,
)

KNOWN_SEGMENTS = [
    "api", "apis", "v1", "v2", "apps", "discovery.k8s.io", "coordination.k8s.io", "namespaces",
    "default", "kube-system", "kt-missing", "pods", "services", "endpoints", "deployments",
    "replicasets", "nodes", "events", "leases", "endpointslices", "status", "scale", "binding",
    "log", "finalize", "watch", "kt-web", "kt-app", "kt-db", "..", ".", "%2F", "",
]  # fmt: skip
segments = st.sampled_from(KNOWN_SEGMENTS) | st.text(max_size=12).map(lambda t: quote(t, safe=""))
PREFIXES = ["/api/v1", "/apis/apps/v1", "/apis", "/api", "/", "/openapi/v3", "/version", "/healthz"]

QUERY_KEYS = [
    "watch", "resourceVersion", "resourceVersionMatch", "labelSelector", "fieldSelector",
    "limit", "continue", "dryRun", "fieldValidation", "fieldManager", "gracePeriodSeconds",
    "propagationPolicy", "allowWatchBookmarks", "includeObject", "pretty", "timeout",
]  # fmt: skip
QUERY_VALUES = [
    "true", "True", "1", "0", "-1", "All", "Strict", "Warn", "x", "a=b", "a in (b",
    "metadata.name=kt-web", "status.phase!=Running", "99999999999999999999", "",
]  # fmt: skip


RESOURCES = [
    ("/api/v1", "pods", True, "kt-web"),
    ("/api/v1", "services", True, "kt-web"),
    ("/api/v1", "nodes", False, "kt-node"),
    ("/api/v1", "namespaces", False, "default"),
    ("/api/v1", "events", True, "kt-ev"),
    ("/api/v1", "endpoints", True, "kt-web"),
    ("/apis/apps/v1", "deployments", True, "kt-app"),
    ("/apis/apps/v1", "replicasets", True, "kt-rs"),
    ("/apis/discovery.k8s.io/v1", "endpointslices", True, "kt-web"),
    ("/apis/coordination.k8s.io/v1", "leases", True, "kt-lease"),
]


@st.composite
def resource_paths(draw: st.DrawFn) -> str:
    """Paths the API serves (or nearly): collections, objects and subresources."""
    prefix, plural, namespaced, name = draw(st.sampled_from(RESOURCES))
    path = prefix
    if namespaced and draw(st.booleans()):
        path += "/namespaces/" + draw(st.sampled_from(["default", "kube-system", "kt-missing"]))
    path += "/" + plural
    if draw(st.booleans()):
        path += "/" + draw(st.sampled_from([name, "kt-missing"]) | segments)
        if draw(st.booleans()):
            path += "/" + draw(st.sampled_from(["status", "scale", "binding", "log", "finalize"]))
    return path


@st.composite
def paths(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        path = draw(resource_paths())
    else:
        path = draw(st.sampled_from(PREFIXES)).rstrip("/")
        path += "".join("/" + s for s in draw(st.lists(segments, max_size=6)))
    params = draw(
        st.lists(
            st.tuples(
                st.sampled_from(QUERY_KEYS) | st.text(max_size=6),
                st.sampled_from(QUERY_VALUES) | st.text(max_size=12),
            ),
            max_size=4,
        )
    )
    # a watch the server would keep open is cut short by timeoutSeconds
    params.append(("timeoutSeconds", draw(st.sampled_from(["1", "0", "-5", "x"]))))
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)
    return (path or "/") + "?" + query


# Every method aiohttp's HTTP parser (llhttp) knows; other tokens never reach the application
# (see test_unknown_method_token_is_a_405_status).
HTTP_METHODS = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "COPY",
    "LOCK", "MKCOL", "MOVE", "PROPFIND", "PROPPATCH", "SEARCH", "UNLOCK", "BIND", "REBIND",
    "UNBIND", "ACL", "REPORT", "MKACTIVITY", "CHECKOUT", "MERGE", "M-SEARCH", "NOTIFY",
    "SUBSCRIBE", "UNSUBSCRIBE", "PURGE", "MKCALENDAR", "LINK", "UNLINK", "SOURCE", "QUERY",
]  # fmt: skip
methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]) | st.sampled_from(HTTP_METHODS)
GOOD_CONTENT_TYPES = [
    "application/json",
    "application/yaml",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/json-patch+json",
]
content_types = (
    st.sampled_from(GOOD_CONTENT_TYPES)
    | st.sampled_from(
        [
            "application/json",
            "application/yaml",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/json-patch+json",
            "application/apply-patch+yaml",
            "application/vnd.kubernetes.protobuf",
            "text/plain",
            "application/json; charset=utf-8",
            "",
        ]
    )
    | st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=30)
)
accepts = st.sampled_from(
    [
        "application/json",
        "application/yaml",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        "application/json;as=Table;v=v1;g=meta.k8s.io",
        "*/*",
        "text/html",
        "",
    ]
)
YAML_PIECES = [
    "apiVersion: v1", "kind: Pod", "metadata:", "  name: kt-y", "- ", ": ", "{", "[", "&a",
    "*a", "!!python/object:os.system", "---", "\t", "spec: {}",
]  # fmt: skip
yamlish = st.lists(st.sampled_from(YAML_PIECES) | st.text(max_size=10), max_size=8).map(
    lambda lines: "\n".join(lines).encode()
)
bodies = (
    json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=200)
    | yamlish
    | st.just(b"")
)


@st.composite
def mutated_objects(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A valid object with a few random changes at random depths: reaches validation and
    defaulting, where the interesting refusals live."""
    path, base = draw(
        st.sampled_from(
            [
                ("/api/v1/namespaces/default/pods", pod("kt-fz")),
                ("/api/v1/namespaces/default/services", service("kt-fz")),
                ("/apis/apps/v1/namespaces/default/deployments", deployment("kt-fz")),
            ]
        )
    )
    obj = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        node: Any = obj
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if isinstance(child, dict | list) and child and draw(st.booleans()):
                node = child
                continue
            if isinstance(node, dict) and draw(st.booleans()):
                key = draw(st.text(max_size=8))
            node[key] = draw(json_values)
            break
    return path, obj


# ------------------------------------------------------------------------------ the property


def _send(
    srv: ApiServerProcess, method: str, path: str, body: bytes, content_type: str, accept: str
) -> tuple[int, bytes | None]:
    """The status, and the body unless it is a 2xx (which may be an open watch stream)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        headers = {}
        if content_type:
            headers["Content-Type"] = content_type
        if accept:
            headers["Accept"] = accept
        conn.request(method, path, body=body or None, headers=headers)
        resp = conn.getresponse()
        if 200 <= resp.status < 300 or method == "HEAD":
            return resp.status, None
        return resp.status, resp.read()
    finally:
        conn.close()


def _check(
    srv: ApiServerProcess, method: str, path: str, body: bytes, content_type: str, accept: str
) -> int:
    before = list_rv(srv.url, REVISION)
    status, raw = _send(srv, method, path, body, content_type, accept)
    event(f"HTTP {status}")  # --hypothesis-show-statistics shows what the examples reached
    assert status < 500, (status, raw)
    assert 200 <= status < 300 or 400 <= status < 500, status
    if raw is not None:
        doc = json.loads(raw)
        assert doc["kind"] == "Status", doc
        assert doc["code"] == status, doc
        assert doc["status"] == "Failure", doc
        after = list_rv(srv.url, REVISION)
        assert after == before, f"refused with {status} but the store moved {before} -> {after}"
    return status


@FUZZ
@given(method=methods, path=paths(), body=bodies, content_type=content_types, accept=accepts)
def test_random_requests(
    server: ApiServerProcess, method: str, path: str, body: bytes, content_type: str, accept: str
) -> None:
    _check(server, method, path, body, content_type, accept)


WRITE_TARGETS = [
    ("POST", "/api/v1/namespaces/default/pods"),
    ("PUT", "/api/v1/namespaces/default/pods/kt-web"),
    ("PATCH", "/api/v1/namespaces/default/pods/kt-web"),
    ("PUT", "/api/v1/namespaces/default/pods/kt-web/status"),
    ("PATCH", "/apis/apps/v1/namespaces/default/deployments/kt-app/scale"),
    ("PUT", "/apis/apps/v1/namespaces/default/deployments/kt-app/scale"),
    ("POST", "/api/v1/namespaces/default/pods/kt-db/binding"),
    ("PATCH", "/api/v1/namespaces/default/services/kt-web"),
    ("DELETE", "/api/v1/namespaces/default/pods/kt-missing"),
    ("POST", "/api/v1/namespaces"),
]


@FUZZ
@given(target=st.sampled_from(WRITE_TARGETS), body=bodies, content_type=content_types)
def test_random_bodies_to_writes(
    server: ApiServerProcess, target: tuple[str, str], body: bytes, content_type: str
) -> None:
    method, path = target
    _check(server, method, path, body, content_type, "application/json")


@FUZZ
@given(
    created=mutated_objects(),
    content_type=st.sampled_from(["application/json", "application/yaml"]),
)
def test_mutated_objects(
    server: ApiServerProcess, created: tuple[str, dict[str, Any]], content_type: str
) -> None:
    path, obj = created
    try:
        body = json.dumps(obj).encode()  # JSON is YAML too
    except (TypeError, ValueError):
        return
    status = _check(server, "POST", path, body, content_type, "application/json")
    if 200 <= status < 300:
        # whatever was accepted can be read back, listed and deleted
        name = obj["metadata"]["name"] if isinstance(obj.get("metadata"), dict) else None
        items = request(server.url, "GET", path).json()["items"]
        assert any(i["metadata"]["name"] == name for i in items) or name is None
        for item in items:
            if item["metadata"]["name"] not in ("kt-web", "kt-db", "kt-app"):
                reply = request(server.url, "DELETE", f"{path}/{item['metadata']['name']}")
                assert reply.status == 200, reply.body


@FUZZ
@given(
    patch=json_values,
    content_type=st.sampled_from(
        [
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/json-patch+json",
        ]
    ),
    target=st.sampled_from(
        [
            "/api/v1/namespaces/default/pods/kt-web",
            "/api/v1/namespaces/default/services/kt-web",
            "/apis/apps/v1/namespaces/default/deployments/kt-app",
        ]
    ),
)
def test_random_patches(
    server: ApiServerProcess, patch: Any, content_type: str, target: str
) -> None:
    try:
        body = json.dumps(patch, allow_nan=False).encode()
    except ValueError:
        return
    if request(server.url, "GET", target).status == 404:
        _seed(server.url)
    _check(server, "PATCH", target, body, content_type, "application/json")
    # the object is still readable and well-formed, whatever happened
    got = request(server.url, "GET", target)
    assert got.status == 200
    assert got.json()["metadata"]["name"] in ("kt-web", "kt-app")


@pytest.mark.xfail(
    strict=True,
    reason="aiohttp's C parser (llhttp) refuses method tokens it doesn't know with a plain-text "
    "400 before the application sees the request; Go's net/http passes any token on (405 Status)",
)
def test_unknown_method_token_is_a_405_status(server: ApiServerProcess) -> None:
    status, raw = _send(server, "FROB", "/api/v1/namespaces/default/pods", b"", "", "")
    assert status == 405
    assert raw is not None and json.loads(raw)["reason"] == "MethodNotAllowed"
