"""The watch cache seen from outside: the key watch tests of test_apiserver_semantics (which run
there with the cache on, the default, on SQLite) run here again with `--watch-cache=false` and on a
real etcd both ways; lists that the cache may serve (resourceVersion=0, NotOlderThan) and those
it may not; the flag's bad values."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _apiserver_http import list_rv, ok, pod, watch_lines

# Imported so that pytest runs them here too, against this module's `apiserver` fixture.
from test_apiserver_semantics import (
    test_a_watcher_that_never_reads_blocks_nobody,
    test_field_selector_transitions,
    test_label_selector_transitions,
    test_streaming_list_ends_initial_events_with_a_bookmark,
    test_watch_from_rv_replays_exactly_the_later_changes,
    test_watch_without_exact_rv_starts_with_the_current_state,
)

from knet.testing.apiserver import ApiServerProcess, free_port
from knet.testing.etcd import etcd_binary, running_etcd

__all__ = [
    "test_a_watcher_that_never_reads_blocks_nobody",
    "test_field_selector_transitions",
    "test_label_selector_transitions",
    "test_streaming_list_ends_initial_events_with_a_bookmark",
    "test_watch_from_rv_replays_exactly_the_later_changes",
    "test_watch_without_exact_rv_starts_with_the_current_state",
]

PODS = "/api/v1/namespaces/default/pods"
_no_etcd = pytest.mark.skipif(etcd_binary() is None, reason="etcd is not installed")


@pytest.fixture(
    params=[
        pytest.param(("sqlite", "false"), id="sqlite-nocache"),
        pytest.param(("etcd", "true"), id="etcd-cache", marks=_no_etcd),
        pytest.param(("etcd", "false"), id="etcd-nocache", marks=_no_etcd),
    ]
)
def apiserver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiServerProcess]:
    store, cache = request.param
    with contextlib.ExitStack() as stack:
        args = [f"--watch-cache={cache}"]
        if store == "etcd":
            etcd = stack.enter_context(running_etcd(tmp_path))
            args += ["--etcd-servers", etcd.url]
        server = ApiServerProcess(
            data_dir=tmp_path / "data",
            port=free_port(),
            log_path=tmp_path / "apiserver.log",
            extra_args=tuple(args),
        )
        server.start()
        stack.callback(server.stop)
        yield server


@pytest.fixture(params=["true", "false"], ids=["cache", "nocache"])
def sqlite_apiserver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiServerProcess]:
    server = ApiServerProcess(
        data_dir=tmp_path / "data",
        port=free_port(),
        log_path=tmp_path / "apiserver.log",
        extra_args=(f"--watch-cache={request.param}",),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _names(body: dict[str, object]) -> list[str]:
    items = body["items"]
    assert isinstance(items, list)
    return [item["metadata"]["name"] for item in items]


def test_a_not_older_than_list_holds_the_write(sqlite_apiserver: ApiServerProcess) -> None:
    url = sqlite_apiserver.url
    for i in range(5):
        rv = ok(url, "POST", PODS, pod(f"kt-{i}"))["metadata"]["resourceVersion"]
        listed = ok(url, "GET", f"{PODS}?resourceVersion={rv}&resourceVersionMatch=NotOlderThan")
        assert f"kt-{i}" in _names(listed)
        assert int(listed["metadata"]["resourceVersion"]) >= int(rv)


def test_a_resource_version_zero_list_catches_up(sqlite_apiserver: ApiServerProcess) -> None:
    url = sqlite_apiserver.url
    ok(url, "POST", PODS, pod("kt-a", labels={"app": "x"}))
    ok(url, "POST", PODS, pod("kt-b", labels={"app": "y"}))
    target = list_rv(url, PODS)
    deadline = time.monotonic() + 10
    while True:  # "any" resourceVersion may be a little stale; never older than what it says
        listed = ok(url, "GET", f"{PODS}?resourceVersion=0&labelSelector=app%3Dy")
        if int(listed["metadata"]["resourceVersion"]) >= target or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert _names(listed) == ["kt-b"]
    assert int(listed["metadata"]["resourceVersion"]) == target
    # an exact list still reads the store, and agrees
    exact = ok(url, "GET", f"{PODS}?labelSelector=app%3Dy")
    assert _names(exact) == ["kt-b"]


def test_many_watchers_see_every_event_once(sqlite_apiserver: ApiServerProcess) -> None:
    url = sqlite_apiserver.url
    rv = list_rv(url, PODS)
    streams = [
        watch_lines(url, f"{PODS}?watch=true&resourceVersion={rv}&timeoutSeconds=20")
        for _ in range(10)
    ]
    try:
        for i in range(3):
            ok(url, "POST", PODS, pod(f"kt-{i}"))
        for stream in streams:
            got = [next(stream)["object"]["metadata"]["name"] for _ in range(3)]
            assert got == ["kt-0", "kt-1", "kt-2"]
    finally:
        for stream in streams:
            stream.close()


@pytest.mark.parametrize("value", ["maybe", ""])
def test_a_bad_watch_cache_flag_is_one_line_and_exit_2(tmp_path: Path, value: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "knet.cli",
            "apiserver",
            "--data-dir",
            str(tmp_path),
            f"--watch-cache={value}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--watch-cache" in done.stderr and "Traceback" not in done.stderr


def test_a_watch_resumes_across_a_restart(tmp_path: Path) -> None:
    """A watch from before a restart replays from the store's history both ways: the cache fills
    its ring from that history when it starts (where kube-apiserver would answer 410)."""
    data = tmp_path / "data"
    outcomes = {}
    for cache in ("false", "true"):
        server = ApiServerProcess(
            data_dir=data,
            port=free_port(),
            log_path=tmp_path / f"{cache}.log",
            extra_args=(f"--watch-cache={cache}",),
        )
        server.start()
        try:
            rv = list_rv(server.url, PODS)
            ok(server.url, "POST", PODS, pod(f"kt-{cache}"))
        finally:
            server.stop()
        server.start()  # a restart: the cache starts at the store's current revision
        try:
            stream = watch_lines(
                server.url, f"{PODS}?watch=true&resourceVersion={rv}&timeoutSeconds=5"
            )
            first = next(stream)
            stream.close()
            outcomes[cache] = first["type"], first["object"].get("code")
        finally:
            server.stop()
    assert outcomes == {"false": ("ADDED", None), "true": ("ADDED", None)}
