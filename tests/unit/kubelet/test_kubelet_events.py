"""Events about pods: the Event object's shape, and repeats counted instead of duplicated."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from knet.api.base import from_wire
from knet.api.core import Event
from knet.client import ApiClient, ApiError
from kubelet_lite.events import WARNING, EventRecorder, event_object, involved_pod

POD = {"metadata": {"name": "web", "namespace": "prod", "uid": "u-1", "resourceVersion": "7"}}


class FakeClient(ApiClient):
    """Records writes; rejects what the API server would reject."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.patched: list[tuple[str, dict[str, Any]]] = []

    async def create(self, obj: Any, namespace: str | None = None) -> dict[str, Any]:
        from_wire(Event, obj)  # the typed model accepts it
        assert namespace == obj["metadata"]["namespace"]
        self.created.append(obj)
        return obj  # type: ignore[no-any-return]

    async def patch(self, kind: str, name: str, patch: Any, **kw: Any) -> dict[str, Any]:
        if not any(e["metadata"]["name"] == name for e in self.created):
            raise ApiError(404, "NotFound", f"events {name!r} not found")
        self.patched.append((name, dict(patch)))
        return {}


def test_event_object_shape() -> None:
    ref = involved_pod(POD, "spec.containers{web}")
    ev = event_object(ref, WARNING, "BackOff", "m" * 5000, "node-a", 0.0, suffix="abc")
    assert ev["metadata"] == {"name": "web.abc", "namespace": "prod"}
    assert ev["involvedObject"] == {
        "kind": "Pod",
        "apiVersion": "v1",
        "namespace": "prod",
        "name": "web",
        "uid": "u-1",
        "resourceVersion": "7",
        "fieldPath": "spec.containers{web}",
    }
    assert ev["source"] == {"component": "kubelet", "host": "node-a"}
    assert ev["count"] == 1 and ev["type"] == "Warning" and len(ev["message"]) == 1024
    assert ev["firstTimestamp"] == ev["lastTimestamp"] == "1970-01-01T00:00:00Z"
    with pytest.raises(ValueError):
        event_object(ref, "Error", "x", "y", "n", 0.0)


def test_long_pod_names_give_valid_event_names() -> None:
    pod = {"metadata": {"name": "p" * 253, "namespace": "d", "uid": "u"}}
    ev = event_object(involved_pod(pod), "Normal", "Started", "x", "n", 0.0)
    assert len(ev["metadata"]["name"]) <= 253


async def test_repeats_bump_the_count() -> None:
    client = FakeClient()
    rec = EventRecorder(client, "node-a", concurrency=1)
    rec.start()
    for _ in range(3):
        rec.pod_event(
            POD, WARNING, "Unhealthy", "Liveness probe failed: boom", "spec.containers{c}"
        )
    rec.pod_event(POD, WARNING, "Unhealthy", "Readiness probe failed", "spec.containers{c}")
    await rec.close(flush_timeout=5)
    assert [e["message"] for e in client.created] == [
        "Liveness probe failed: boom",
        "Readiness probe failed",
    ]
    name = client.created[0]["metadata"]["name"]
    assert [(n, p["count"]) for n, p in client.patched] == [(name, 2), (name, 3)]


async def test_events_wait_their_turn() -> None:
    client = FakeClient()
    turn = asyncio.Event()

    async def wait_turn() -> None:
        await turn.wait()

    rec = EventRecorder(client, "node-a", wait_turn=wait_turn, concurrency=1)
    rec.start()
    rec.pod_event(POD, "Normal", "Started", "Started container c")
    await asyncio.sleep(0.01)
    assert client.created == []
    turn.set()
    await rec.close(flush_timeout=5)
    assert len(client.created) == 1


async def test_full_queue_drops_instead_of_blocking() -> None:
    rec = EventRecorder(FakeClient(), "node-a", max_queue=2)
    for i in range(5):
        rec.pod_event(POD, "Normal", "Started", f"m{i}")
    assert rec.dropped == 3
