"""API semantics over plain HTTP against a real `knet apiserver`: watch, selectors, dry run,
deletecollection, generateName, finalizers, namespace lifecycle, server-set fields, allocation."""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from _apiserver_http import (
    assert_status,
    deployment,
    list_rv,
    ok,
    pod,
    request,
    service,
    watch_lines,
)

from knet.testing.apiserver import ApiServerProcess, running_apiserver

PODS = "/api/v1/namespaces/default/pods"
SERVICES = "/api/v1/namespaces/default/services"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
NAMESPACES = "/api/v1/namespaces"
MERGE = "application/merge-patch+json"


def _labels(url: str, name: str, labels: dict[str, str | None]) -> dict[str, Any]:
    body = {"metadata": {"labels": labels}}
    out: dict[str, Any] = ok(url, "PATCH", f"{PODS}/{name}", body, content_type=MERGE)
    return out


def _summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


def _replay(
    url: str, path: str, rv: int | str, query: str = "", *, until: int | None = None
) -> list[dict[str, Any]]:
    """Every event after `rv`. Without `until` the server ends the stream after a second; with
    it, reading stops at the event for revision `until` (events come in revision order, so
    nothing after it can belong to the writes made so far)."""
    sep = "&" if "?" in path else "?"
    timeout = 1 if until is None else 20
    stream = watch_lines(
        url, f"{path}{sep}watch=true&resourceVersion={rv}&timeoutSeconds={timeout}{query}"
    )
    out: list[dict[str, Any]] = []
    try:
        for event in stream:
            out.append(event)
            if until is not None and int(event["object"]["metadata"]["resourceVersion"]) >= until:
                break
    finally:
        stream.close()
    return out


# ------------------------------------------------------------------------------ watch


@pytest.mark.parametrize("rv", [None, "0"], ids=["unset", "zero"])
def test_watch_without_exact_rv_starts_with_the_current_state(
    apiserver: ApiServerProcess, rv: str | None
) -> None:
    url = apiserver.url
    a = ok(url, "POST", PODS, pod("kt-a"))
    ok(url, "POST", PODS, pod("kt-b"))
    ok(url, "DELETE", f"{PODS}/kt-b")  # deleted before the watch: not in its initial state
    query = "" if rv is None else f"&resourceVersion={rv}"
    stream = watch_lines(url, f"{PODS}?watch=true&timeoutSeconds=20{query}")
    try:
        first = next(stream)
        assert _summary([first]) == [("ADDED", "kt-a")]
        # the synthetic ADDED carries the object's own resourceVersion
        assert first["object"]["metadata"]["resourceVersion"] == a["metadata"]["resourceVersion"]
        ok(url, "POST", PODS, pod("kt-c"))
        assert _summary([next(stream)]) == [("ADDED", "kt-c")]
        _labels(url, "kt-a", {"step": "2"})
        modified = next(stream)
        assert _summary([modified]) == [("MODIFIED", "kt-a")]
        assert modified["object"]["metadata"]["labels"]["step"] == "2"
        ok(url, "DELETE", f"{PODS}/kt-c")
        assert _summary([next(stream)]) == [("DELETED", "kt-c")]
    finally:
        stream.close()


def test_watch_from_rv_replays_exactly_the_later_changes(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    rv0 = int(ok(url, "POST", PODS, pod("kt-a"))["metadata"]["resourceVersion"])
    ok(url, "POST", PODS, pod("kt-b"))
    _labels(url, "kt-a", {"step": "2"})
    ok(url, "POST", SERVICES, service("kt-svc"))  # another resource: not in this watch
    ok(url, "DELETE", f"{PODS}/kt-b")
    events = _replay(url, PODS, rv0, until=list_rv(url, PODS))
    assert _summary(events) == [("ADDED", "kt-b"), ("MODIFIED", "kt-a"), ("DELETED", "kt-b")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rv0 < rvs[0] < rvs[1] < rvs[2] == list_rv(url, PODS)
    # from the newest revision: nothing to replay
    assert _replay(url, PODS, rvs[2]) == []
    # the same history, across all namespaces
    everywhere = _replay(url, "/api/v1/pods", rv0, until=rvs[2])
    assert _summary(everywhere) == _summary(events)


@pytest.mark.parametrize("spelling", ["true", "True", "TRUE", "1", "t", "T"])
def test_watch_accepts_go_booleans(apiserver: ApiServerProcess, spelling: str) -> None:
    url = apiserver.url
    rv = list_rv(url, PODS)
    ok(url, "POST", PODS, pod("kt-a"))
    path = f"{PODS}?watch={spelling}&resourceVersion={rv}&timeoutSeconds=20"
    stream = watch_lines(url, path)
    try:
        assert _summary([next(stream)]) == [("ADDED", "kt-a")]
    finally:
        stream.close()


@pytest.mark.parametrize("spelling", ["false", "False", "0", "f", ""])
def test_watch_false_is_a_list(apiserver: ApiServerProcess, spelling: str) -> None:
    ok(apiserver.url, "POST", PODS, pod("kt-a"))
    body = ok(apiserver.url, "GET", f"{PODS}?watch={spelling}")
    assert body["kind"] == "PodList"
    assert [i["metadata"]["name"] for i in body["items"]] == ["kt-a"]


def test_bookmarks_carry_only_the_resource_version(tmp_path: Path) -> None:
    with running_apiserver(tmp_path, "--bookmark-interval", "0.5") as server:
        url = server.url
        ok(url, "POST", PODS, pod("kt-a"))
        ok(url, "POST", DEPLOYS, deployment("kt-app"))
        rv = list_rv(url, PODS)
        for path, kind, api_version in ((PODS, "Pod", "v1"), (DEPLOYS, "Deployment", "apps/v1")):
            query = f"?watch=1&allowWatchBookmarks=true&resourceVersion={rv}&timeoutSeconds=1"
            events = list(watch_lines(url, path + query))
            assert events, "no bookmark within the stream's second"
            assert {e["type"] for e in events} == {"BOOKMARK"}
            for e in events:
                assert e["object"] == {
                    "kind": kind,
                    "apiVersion": api_version,
                    "metadata": {"resourceVersion": str(rv)},
                }
        # not asked for: none sent
        query = f"?watch=1&resourceVersion={rv}&timeoutSeconds=1"
        assert list(watch_lines(url, PODS + query)) == []
        # the Python client's spelling of the flag works too
        query = f"?watch=True&allowWatchBookmarks=True&resourceVersion={rv}&timeoutSeconds=1"
        assert {e["type"] for e in watch_lines(url, PODS + query)} == {"BOOKMARK"}


def test_timeout_seconds_ends_the_stream(apiserver: ApiServerProcess) -> None:
    ok(apiserver.url, "POST", PODS, pod("kt-a"))
    # the client's own timeout (30 s) only guards against a hang: the server ends the stream
    events = list(watch_lines(apiserver.url, f"{PODS}?watch=true&timeoutSeconds=1"))
    assert _summary(events) == [("ADDED", "kt-a")]


def test_streaming_list_ends_initial_events_with_a_bookmark(apiserver: ApiServerProcess) -> None:
    """client-go's WatchListClient (on in kubectl >= 1.35): state as ADDED, then a bookmark
    annotated k8s.io/initial-events-end, then changes."""
    for name in ("kt-a", "kt-b"):
        ok(apiserver.url, "POST", PODS, pod(name))
    path = (
        f"{PODS}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
        "&allowWatchBookmarks=true&timeoutSeconds=2"
    )
    events = watch_lines(apiserver.url, path)
    first = [next(events), next(events)]
    assert sorted(_summary(first)) == [("ADDED", "kt-a"), ("ADDED", "kt-b")]
    mark = next(events)
    assert mark["type"] == "BOOKMARK"
    meta = mark["object"]["metadata"]
    assert meta["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(meta["resourceVersion"]) == list_rv(apiserver.url, PODS)
    ok(apiserver.url, "POST", PODS, pod("kt-c"))
    later = [e for e in events if e["type"] != "BOOKMARK"]
    assert _summary(later) == [("ADDED", "kt-c")]


def test_streaming_list_needs_not_older_than(apiserver: ApiServerProcess) -> None:
    reply = request(
        apiserver.url, "GET", f"{PODS}?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
    )
    assert_status(reply, 400, "BadRequest")


def test_label_selector_transitions(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    rv = list_rv(url, PODS)
    ok(url, "POST", PODS, pod("kt-a", labels={"app": "db"}))  # outside: not seen
    _labels(url, "kt-a", {"app": "web"})  # enters: ADDED
    _labels(url, "kt-a", {"tier": "front"})  # stays in: MODIFIED
    _labels(url, "kt-a", {"app": "db"})  # leaves: DELETED
    _labels(url, "kt-a", {"tier": "back"})  # outside: not seen
    _labels(url, "kt-a", {"app": "web"})  # enters again: ADDED
    ok(url, "DELETE", f"{PODS}/kt-a")  # deleted while inside: DELETED
    ok(url, "POST", PODS, pod("kt-b", labels={"app": "db"}))  # outside: not seen
    ok(url, "DELETE", f"{PODS}/kt-b")  # deleted while outside: not seen
    events = _replay(url, PODS, rv, "&labelSelector=app%3Dweb")
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED", "ADDED", "DELETED"]
    # a DELETED for leaving the selector carries the object as it is now (outside it)
    assert events[2]["object"]["metadata"]["labels"]["app"] == "db"
    negated = _replay(url, PODS, rv, "&labelSelector=app%21%3Dweb")
    assert _summary(negated) == [
        ("ADDED", "kt-a"),
        ("DELETED", "kt-a"),
        ("ADDED", "kt-a"),
        ("MODIFIED", "kt-a"),
        ("DELETED", "kt-a"),
        ("ADDED", "kt-b"),
        ("DELETED", "kt-b"),
    ]


def test_field_selector_transitions(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    rv = list_rv(url, PODS)
    ok(url, "POST", PODS, pod("kt-a"))
    for phase in ("Running", "Running", "Succeeded"):
        body = {"status": {"phase": phase, "message": f"kt {time.monotonic()}"}}
        ok(url, "PATCH", f"{PODS}/kt-a/status", body, content_type=MERGE)
    events = _replay(url, PODS, rv, "&fieldSelector=status.phase%3DRunning")
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    events = _replay(url, PODS, rv, "&fieldSelector=status.phase%21%3DRunning")
    assert [e["type"] for e in events] == ["ADDED", "DELETED", "ADDED"]


def _open_watch(port: int, path: str) -> socket.socket:
    """A watch on a raw socket: the request is sent and the headers read, the body never."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "the server closed a watch before answering"
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock


def _fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_disconnected_watchers_are_cleaned_up(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    assert apiserver.proc is not None
    pid = apiserver.proc.pid
    ok(url, "POST", PODS, pod("kt-a"))
    baseline = _fd_count(pid)
    socks: list[socket.socket] = []
    try:
        for _ in range(50):
            socks.append(_open_watch(apiserver.port, f"{PODS}?watch=true"))
        assert _fd_count(pid) >= baseline + 40  # the watches hold connections
    finally:
        for s in socks:
            s.close()
    rv = list_rv(url, PODS)
    for i in range(50):
        _labels(url, "kt-a", {"n": str(i)})
    assert request(url, "GET", "/healthz", accept=None).status == 200
    assert len(_replay(url, PODS, rv, until=list_rv(url, PODS))) == 50
    # the server lets go of every dropped connection (polled: cleanup is asynchronous)
    deadline = time.monotonic() + 20
    while _fd_count(pid) > baseline + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _fd_count(pid) <= baseline + 2


def test_stopping_the_server_ends_open_watches_cleanly(apiserver: ApiServerProcess) -> None:
    """SIGTERM ends every open watch with a proper end of stream (clients then resume
    elsewhere); open watches must not hold the shutdown up until their timeouts."""
    ok(apiserver.url, "POST", PODS, pod("kt-a"))
    streams = [watch_lines(apiserver.url, f"{PODS}?watch=true") for _ in range(3)]
    for stream in streams:
        assert _summary([next(stream)]) == [("ADDED", "kt-a")]
    assert apiserver.proc is not None
    apiserver.proc.terminate()
    for stream in streams:
        assert list(stream) == []  # ends, rather than hanging until the 30 s read guard
    assert apiserver.proc.wait(timeout=30) == 0


def test_a_watcher_that_never_reads_blocks_nobody(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    rv = list_rv(url, PODS)
    stuck = _open_watch(apiserver.port, f"{PODS}?watch=true&resourceVersion={rv}")
    try:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        pad = "x" * 16384
        for i in range(300):  # ~5 MB of events: far more than the socket buffers hold
            body = pod(f"kt-p{i}")
            body["metadata"]["annotations"] = {"kt/pad": pad}
            ok(url, "POST", PODS, body)
        events = _replay(url, PODS, rv, until=list_rv(url, PODS))
        assert len(events) == 300
        assert {e["type"] for e in events} == {"ADDED"}
    finally:
        stuck.close()
    assert request(url, "GET", "/healthz", accept=None).status == 200


# ------------------------------------------------------------------------------ object semantics


def test_server_sets_identity_and_generation(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    body = deployment("kt-app")
    body["metadata"].update(
        uid="kt-client-uid",
        creationTimestamp="2000-01-01T00:00:00Z",
        resourceVersion="999999",
        generation=42,
    )
    created = ok(url, "POST", DEPLOYS, body)
    meta = created["metadata"]
    assert meta["uid"] != "kt-client-uid" and len(meta["uid"]) == 36
    assert meta["creationTimestamp"] != "2000-01-01T00:00:00Z"
    assert meta["generation"] == 1
    assert meta["resourceVersion"] == str(list_rv(url, DEPLOYS))
    # metadata changes leave generation alone; spec changes bump it
    relabelled = ok(
        url, "PATCH", f"{DEPLOYS}/kt-app", {"metadata": {"labels": {"x": "y"}}}, content_type=MERGE
    )
    assert relabelled["metadata"]["generation"] == 1
    assert int(relabelled["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    scaled = ok(url, "PATCH", f"{DEPLOYS}/kt-app", {"spec": {"replicas": 7}}, content_type=MERGE)
    assert scaled["metadata"]["generation"] == 2
    assert scaled["metadata"]["uid"] == meta["uid"]
    assert scaled["metadata"]["creationTimestamp"] == meta["creationTimestamp"]
    # a no-op patch stores nothing: the resourceVersion stays
    same = ok(url, "PATCH", f"{DEPLOYS}/kt-app", {"spec": {"replicas": 7}}, content_type=MERGE)
    assert same["metadata"]["resourceVersion"] == scaled["metadata"]["resourceVersion"]


def test_put_with_stale_resource_version_is_conflict(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    first = ok(url, "POST", DEPLOYS, deployment("kt-app"))
    first["spec"]["replicas"] = 3
    second = ok(url, "PUT", f"{DEPLOYS}/kt-app", first)
    assert second["spec"]["replicas"] == 3
    first["spec"]["replicas"] = 4  # still at the first resourceVersion
    status = assert_status(request(url, "PUT", f"{DEPLOYS}/kt-app", first), 409, "Conflict")
    assert status["details"] == {"name": "kt-app", "group": "apps", "kind": "deployments"}
    assert ok(url, "GET", f"{DEPLOYS}/kt-app")["spec"]["replicas"] == 3
    # a patch that names a stale resourceVersion is refused the same way
    patch = {"metadata": {"resourceVersion": first["metadata"]["resourceVersion"]}}
    reply = request(url, "PATCH", f"{DEPLOYS}/kt-app", patch, content_type=MERGE)
    assert_status(reply, 409, "Conflict")
    # ... and creating it again is AlreadyExists
    assert_status(request(url, "POST", DEPLOYS, deployment("kt-app")), 409, "AlreadyExists")


def test_dry_run_stores_nothing(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    ok(url, "POST", PODS, pod("kt-a"))
    rv = list_rv(url, PODS)
    reply = request(url, "POST", f"{PODS}?dryRun=All", pod("kt-b"))
    assert reply.status == 201
    assert reply.json()["metadata"]["name"] == "kt-b"
    assert_status(request(url, "GET", f"{PODS}/kt-b"), 404, "NotFound")
    label = {"metadata": {"labels": {"x": "y"}}}
    patched = ok(url, "PATCH", f"{PODS}/kt-a?dryRun=All", label, content_type=MERGE)
    assert patched["metadata"]["labels"]["x"] == "y"
    deleted = ok(url, "DELETE", f"{PODS}/kt-a?dryRun=All")
    assert deleted["metadata"]["name"] == "kt-a"
    ok(url, "DELETE", f"{PODS}?dryRun=All")
    assert list_rv(url, PODS) == rv
    live = ok(url, "GET", f"{PODS}/kt-a")
    assert "x" not in live["metadata"]["labels"]


def test_deletecollection_deletes_what_the_selector_matches(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    for name, app in (("kt-a", "web"), ("kt-b", "web"), ("kt-c", "db")):
        ok(url, "POST", PODS, pod(name, labels={"app": app}))
    ok(url, "POST", "/api/v1/namespaces/kube-system/pods", pod("kt-sys", labels={"app": "web"}))
    rv = list_rv(url, PODS)
    out = ok(url, "DELETE", f"{PODS}?labelSelector=app%3Dweb")
    assert out["kind"] == "PodList"
    assert sorted(i["metadata"]["name"] for i in out["items"]) == ["kt-a", "kt-b"]
    left = ok(url, "GET", "/api/v1/pods")["items"]
    assert sorted(i["metadata"]["name"] for i in left) == ["kt-c", "kt-sys"]
    replay = _replay(url, PODS, rv, until=list_rv(url, PODS))
    assert sorted(_summary(replay)) == [("DELETED", "kt-a"), ("DELETED", "kt-b")]


def test_generate_name(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    names = set()
    for _ in range(3):
        body = pod("x")
        del body["metadata"]["name"]
        body["metadata"]["generateName"] = "kt-gen-"
        created = ok(url, "POST", PODS, body)
        name = created["metadata"]["name"]
        assert name.startswith("kt-gen-") and len(name) == len("kt-gen-") + 5
        assert created["metadata"]["generateName"] == "kt-gen-"
        names.add(name)
    assert len(names) == 3
    body = pod("x")
    del body["metadata"]["name"]
    body["metadata"]["generateName"] = "KT_BAD-"
    assert_status(request(url, "POST", PODS, body), 422, "Invalid")
    del body["metadata"]["generateName"]
    status = assert_status(request(url, "POST", PODS, body), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.name"


def test_finalizers_hold_deletion(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    rv = list_rv(url, PODS)
    body = pod("kt-a")
    body["metadata"]["finalizers"] = ["kt.example.com/hold", "kt.example.com/also"]
    ok(url, "POST", PODS, body)
    deleting = ok(url, "DELETE", f"{PODS}/kt-a")
    assert deleting["metadata"]["deletionTimestamp"]
    assert deleting["metadata"]["finalizers"] == ["kt.example.com/hold", "kt.example.com/also"]
    got = ok(url, "GET", f"{PODS}/kt-a")
    assert got["metadata"]["deletionTimestamp"] == deleting["metadata"]["deletionTimestamp"]
    # deleting again changes nothing
    again = ok(url, "DELETE", f"{PODS}/kt-a")
    assert again["metadata"]["resourceVersion"] == deleting["metadata"]["resourceVersion"]
    one_left = {"metadata": {"finalizers": ["kt.example.com/also"]}}
    ok(url, "PATCH", f"{PODS}/kt-a", one_left, content_type=MERGE)
    assert ok(url, "GET", f"{PODS}/kt-a")["metadata"]["deletionTimestamp"]
    ok(url, "PATCH", f"{PODS}/kt-a", {"metadata": {"finalizers": None}}, content_type=MERGE)
    assert_status(request(url, "GET", f"{PODS}/kt-a"), 404, "NotFound")
    assert [e["type"] for e in _replay(url, PODS, rv, until=list_rv(url, PODS))] == [
        "ADDED",
        "MODIFIED",  # deletionTimestamp set
        "MODIFIED",  # one finalizer removed
        "DELETED",  # the last one removed: gone, in one step
    ]


def test_system_namespaces_exist_and_stay(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    items = ok(url, "GET", NAMESPACES)["items"]
    phases = {i["metadata"]["name"]: i["status"]["phase"] for i in items}
    for name in ("default", "kube-system", "kube-node-lease"):
        assert phases[name] == "Active"
        status = assert_status(request(url, "DELETE", f"{NAMESPACES}/{name}"), 403, "Forbidden")
        assert status["message"] == (
            f'namespaces "{name}" is forbidden: this namespace may not be deleted'
        )
        assert "deletionTimestamp" not in ok(url, "GET", f"{NAMESPACES}/{name}")["metadata"]
    # they are there again after a restart, with the same uid
    uid = ok(url, "GET", f"{NAMESPACES}/default")["metadata"]["uid"]
    apiserver.stop()
    apiserver.start()
    assert ok(url, "GET", f"{NAMESPACES}/default")["metadata"]["uid"] == uid


def test_create_in_a_missing_namespace_is_404(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    path = "/api/v1/namespaces/kt-missing/pods"
    status = assert_status(request(url, "POST", path, pod("kt-a")), 404, "NotFound")
    assert status["message"] == 'namespaces "kt-missing" not found'
    assert status["details"]["kind"] == "namespaces"
    assert ok(url, "GET", path)["items"] == []


def test_terminating_namespace_refuses_creates(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kt-ns"}}
    created = ok(url, "POST", NAMESPACES, ns)
    assert created["spec"]["finalizers"] == ["kubernetes"]
    assert created["status"]["phase"] == "Active"
    ok(url, "POST", "/api/v1/namespaces/kt-ns/pods", pod("kt-a"))
    deleting = ok(url, "DELETE", f"{NAMESPACES}/kt-ns")
    assert deleting["status"]["phase"] == "Terminating"
    assert deleting["metadata"]["deletionTimestamp"]
    status = assert_status(
        request(url, "POST", "/api/v1/namespaces/kt-ns/pods", pod("kt-b")), 403, "Forbidden"
    )
    assert status["message"] == (
        'pods "kt-b" is forbidden: unable to create new content in namespace kt-ns because it '
        "is being terminated"
    )
    # what is there can still be read, changed and deleted
    assert ok(url, "GET", "/api/v1/namespaces/kt-ns/pods/kt-a")["metadata"]["name"] == "kt-a"
    label = {"metadata": {"labels": {"x": "y"}}}
    ok(url, "PATCH", "/api/v1/namespaces/kt-ns/pods/kt-a", label, content_type=MERGE)
    ok(url, "DELETE", "/api/v1/namespaces/kt-ns/pods/kt-a")
    # a label change does not finish the namespace: only emptying spec.finalizers does
    ok(
        url,
        "PATCH",
        f"{NAMESPACES}/kt-ns",
        {"metadata": {"labels": {"x": "y"}}},
        content_type=MERGE,
    )
    assert ok(url, "GET", f"{NAMESPACES}/kt-ns")["status"]["phase"] == "Terminating"
    live = ok(url, "GET", f"{NAMESPACES}/kt-ns")
    live["spec"]["finalizers"] = []
    ok(url, "PUT", f"{NAMESPACES}/kt-ns/finalize", live)
    assert_status(request(url, "GET", f"{NAMESPACES}/kt-ns"), 404, "NotFound")


# ------------------------------------------------------------------------------ selectors


def _names(url: str, query: str, path: str = PODS) -> list[str]:
    return sorted(i["metadata"]["name"] for i in ok(url, "GET", f"{path}?{query}")["items"])


def test_label_selector_operators(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    for name, labels in (
        ("kt-a", {"app": "web", "tier": "front"}),
        ("kt-b", {"app": "web"}),
        ("kt-c", {"app": "db", "tier": "back"}),
        ("kt-d", {"other": "x"}),
    ):
        ok(url, "POST", PODS, pod(name, labels=labels))
    cases = {
        "app=web": ["kt-a", "kt-b"],
        "app==web": ["kt-a", "kt-b"],
        "app!=web": ["kt-c", "kt-d"],
        "app in (web,db)": ["kt-a", "kt-b", "kt-c"],
        "app notin (web)": ["kt-c", "kt-d"],
        "tier": ["kt-a", "kt-c"],
        "!tier": ["kt-b", "kt-d"],
        "app=web,tier": ["kt-a"],
        "app,!tier": ["kt-b"],
    }
    for selector, expected in cases.items():
        assert _names(url, "labelSelector=" + quote(selector)) == expected, selector


def test_field_selectors(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    a = ok(url, "POST", PODS, pod("kt-a"))
    ok(url, "POST", PODS, pod("kt-b"))
    ok(url, "POST", "/api/v1/namespaces/kube-system/pods", pod("kt-c"))
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "kt-a"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "kt-node"},
    }
    ok(url, "POST", f"{PODS}/kt-a/binding", binding)
    ok(url, "PATCH", f"{PODS}/kt-b/status", {"status": {"phase": "Running"}}, content_type=MERGE)
    assert _names(url, "fieldSelector=metadata.name%3Dkt-a") == ["kt-a"]
    assert _names(url, "fieldSelector=metadata.name%21%3Dkt-a") == ["kt-b"]
    assert _names(url, "fieldSelector=spec.nodeName%3Dkt-node", "/api/v1/pods") == ["kt-a"]
    assert _names(url, "fieldSelector=spec.nodeName%3D", "/api/v1/pods") == ["kt-b", "kt-c"]
    query = "fieldSelector=metadata.namespace%21%3Ddefault,status.phase%21%3DRunning"
    assert _names(url, query, "/api/v1/pods") == ["kt-c"]
    events = "/api/v1/namespaces/default/events"
    for name, about, uid, type_ in (
        ("kt-a.1", "kt-a", a["metadata"]["uid"], "Warning"),
        ("kt-b.1", "kt-b", "kt-other", "Normal"),
    ):
        ev = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name},
            "involvedObject": {"kind": "Pod", "name": about, "namespace": "default", "uid": uid},
            "reason": "KtTest",
            "message": "m",
            "type": type_,
        }
        ok(url, "POST", events, ev)
    uid = a["metadata"]["uid"]
    assert _names(url, f"fieldSelector=involvedObject.uid%3D{uid}", events) == ["kt-a.1"]
    query = "fieldSelector=involvedObject.name%3Dkt-b,involvedObject.kind%3DPod"
    assert _names(url, query, events) == ["kt-b.1"]
    assert _names(url, "fieldSelector=type%21%3DNormal", events) == ["kt-a.1"]


def test_field_validation(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    body = pod("kt-a")
    body["bogus"] = 1
    status = assert_status(
        request(url, "POST", f"{PODS}?fieldValidation=Strict", body), 400, "BadRequest"
    )
    assert 'unknown field "bogus"' in status["message"]
    assert_status(request(url, "GET", f"{PODS}/kt-a"), 404, "NotFound")
    reply = request(url, "POST", f"{PODS}?fieldValidation=Warn", body)
    assert reply.status == 201
    # warn-text is a quoted-string: its quotes escaped, as kubectl needs to print it
    assert reply.headers.get("warning") == '299 - "unknown field \\"bogus\\""'
    body["metadata"]["name"] = "kt-b"
    assert request(url, "POST", f"{PODS}?fieldValidation=Ignore", body).status == 201


# ------------------------------------------------------------------------------ allocation


def test_cluster_ips_and_node_ports_are_unique_and_released(apiserver: ApiServerProcess) -> None:
    url = apiserver.url
    body = service("kt-a")
    body["spec"].update(type="NodePort", clusterIP="10.96.0.50")
    body["spec"]["ports"][0]["nodePort"] = 30555
    created = ok(url, "POST", SERVICES, body)
    assert created["spec"]["clusterIPs"] == ["10.96.0.50"]
    dup = service("kt-b")
    dup["spec"]["clusterIP"] = "10.96.0.50"
    status = assert_status(request(url, "POST", SERVICES, dup), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "spec.clusterIPs"
    dup = service("kt-b")
    dup["spec"]["type"] = "NodePort"
    dup["spec"]["ports"][0]["nodePort"] = 30555
    status = assert_status(request(url, "POST", SERVICES, dup), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "spec.ports[0].nodePort"
    outside = service("kt-b")
    outside["spec"]["clusterIP"] = "10.200.0.1"
    assert_status(request(url, "POST", SERVICES, outside), 422, "Invalid")
    # the allocations survive a restart...
    apiserver.stop()
    apiserver.start()
    dup = service("kt-b")
    dup["spec"]["clusterIP"] = "10.96.0.50"
    assert_status(request(url, "POST", SERVICES, dup), 422, "Invalid")
    # ... and are released on delete
    ok(url, "DELETE", f"{SERVICES}/kt-a")
    again = service("kt-b")
    again["spec"].update(type="NodePort", clusterIP="10.96.0.50")
    again["spec"]["ports"][0]["nodePort"] = 30555
    ok(url, "POST", SERVICES, again)
    # automatic ones are distinct and inside the range
    ips = {ok(url, "POST", SERVICES, service(f"kt-s{i}"))["spec"]["clusterIP"] for i in range(20)}
    assert len(ips) == 20 and "10.96.0.50" not in ips
    net = ipaddress.ip_network("10.96.0.0/12")
    assert all(ipaddress.ip_address(ip) in net for ip in ips)


def test_list_resource_version_follows_the_store(apiserver: ApiServerProcess) -> None:
    """Every collection's list RV is the store's global revision (as etcd's)."""
    url = apiserver.url
    created = ok(url, "POST", PODS, pod("kt-a"))
    rv = int(created["metadata"]["resourceVersion"])
    assert list_rv(url, PODS) == rv
    assert list_rv(url, SERVICES) == rv
    assert list_rv(url, "/api/v1/nodes") == rv
