"""The pure parts of watching: stream splitting, event decoding, relist diffs, backoff."""

from __future__ import annotations

from typing import Any

import pytest

from knet.client.errors import ApiError, ExpiredError
from knet.client.events import (
    ADDED,
    DELETED,
    MODIFIED,
    LineSplitter,
    WatchEvent,
    WatchProtocolError,
    decode_event,
)
from knet.client.watch import Backoff, apply_event, relist_diff


def obj(name: str, rv: str, ns: str = "default") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": rv}}


def test_line_splitter_reassembles_lines_across_any_chunking() -> None:
    stream = b'{"a":1}\n{"b":2}\n\n{"c":3}\n{"d":'
    for size in (1, 2, 3, 7, len(stream)):
        s = LineSplitter()
        lines: list[bytes] = []
        for i in range(0, len(stream), size):
            lines.extend(s.feed(stream[i : i + size]))
        assert lines == [b'{"a":1}', b'{"b":2}', b'{"c":3}'], size
        assert s.pending() == b'{"d":'


def test_line_splitter_handles_lines_larger_than_aiohttps_limit() -> None:
    big = b'{"x":"' + b"y" * 300_000 + b'"}'
    s = LineSplitter()
    out = s.feed(big[:100_000]) + s.feed(big[100_000:] + b"\n")
    assert out == [big]


def test_decode_event_types_and_resource_version() -> None:
    ev = decode_event(b'{"type":"MODIFIED","object":{"metadata":{"resourceVersion":"42"}}}')
    assert ev == WatchEvent(MODIFIED, {"metadata": {"resourceVersion": "42"}})
    assert ev.resource_version == "42"
    bookmark = decode_event(b'{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"7"}}}')
    assert bookmark.resource_version == "7"


def test_decode_error_event_raises_its_status() -> None:
    expired = (
        b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",'
        b'"message":"too old resource version: 1 (5)","reason":"Expired","code":410}}'
    )
    with pytest.raises(ExpiredError) as e:
        decode_event(expired)
    assert e.value.code == 410 and e.value.reason == "Expired"
    other = b'{"type":"ERROR","object":{"kind":"Status","reason":"InternalError","code":500}}'
    with pytest.raises(ApiError) as e2:
        decode_event(other)
    assert not isinstance(e2.value, ExpiredError) and e2.value.code == 500


@pytest.mark.parametrize(
    "line",
    [b"not json", b"[1,2]", b'{"type":"ADDED"}', b'{"type":"WHAT","object":{}}'],
)
def test_decode_rejects_malformed_lines(line: bytes) -> None:
    with pytest.raises(WatchProtocolError):
        decode_event(line)


def test_relist_diff_yields_deletes_adds_and_changes_only() -> None:
    known = {
        "default/same": obj("same", "1"),
        "default/changed": obj("changed", "2"),
        "default/gone": obj("gone", "3"),
    }
    listed = [obj("same", "1"), obj("changed", "9"), obj("new", "10")]
    events, now = relist_diff(known, listed)
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        (DELETED, "gone"),
        (MODIFIED, "changed"),
        (ADDED, "new"),
    ]
    assert events[0].object is known["default/gone"], "a delete carries the last state known"
    assert sorted(now) == ["default/changed", "default/new", "default/same"]


def test_relist_diff_then_applying_it_reaches_the_listed_state() -> None:
    known = {f"default/o{i}": obj(f"o{i}", str(i)) for i in range(10)}
    listed = [obj(f"o{i}", str(i if i % 2 else i + 100)) for i in range(5, 15)]
    events, now = relist_diff(known, listed)
    state = dict(known)
    for ev in events:
        apply_event(state, ev)
    assert state == now


def test_backoff_grows_to_its_cap_with_bounded_jitter() -> None:
    b = Backoff(initial=0.1, maximum=1.0, factor=2.0, jitter=0.2)
    for failures, base in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (50, 1.0)]:
        d = b.delay(failures)
        assert base <= d <= base * 1.2 + 1e-9, (failures, d)
