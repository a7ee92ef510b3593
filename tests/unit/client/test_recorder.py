"""The one event recorder: the Event's shape per source, repeats counted instead of
duplicated (within ten minutes), a bounded queue that never blocks, and events that wait their
turn."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from knet.api.base import from_wire
from knet.api.core import Event
from knet.client import ApiClient, ApiError
from knet.client.recorder import (
    NORMAL,
    REPEAT_WINDOW,
    WARNING,
    EventRecorder,
    EventSource,
    event_object,
    object_reference,
)

POD = {"metadata": {"name": "web", "namespace": "prod", "uid": "u-1", "resourceVersion": "7"}}
NODE = {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "node-a", "uid": "n-1"}}
KUBELET = EventSource("kubelet", host="node-a")


class FakeClient(ApiClient):
    """Records writes; rejects what the API server would reject."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.patched: list[tuple[str, dict[str, Any]]] = []
        self.forget = False  # act as if the Events written so far expired

    async def create(self, obj: Any, namespace: str | None = None) -> dict[str, Any]:
        from_wire(Event, obj)  # the typed model accepts it
        assert namespace == obj["metadata"]["namespace"]
        self.created.append(obj)
        return obj  # type: ignore[no-any-return]

    async def patch(self, kind: str, name: str, patch: Any, **kw: Any) -> dict[str, Any]:
        if self.forget or not any(e["metadata"]["name"] == name for e in self.created):
            raise ApiError(404, "NotFound", f"events {name!r} not found")
        self.patched.append((name, dict(patch)))
        return {}


def test_kubelet_event_shape() -> None:
    ref = object_reference(POD, "spec.containers{web}", kind="Pod", api_version="v1")
    ev = event_object(ref, WARNING, "BackOff", "m" * 5000, KUBELET, 0.0, suffix="abc")
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
    assert ev["reportingComponent"] == "kubelet" and ev["reportingInstance"] == "node-a"
    assert ev["count"] == 1 and ev["type"] == "Warning" and len(ev["message"]) == 1024
    assert ev["firstTimestamp"] == ev["lastTimestamp"] == "1970-01-01T00:00:00Z"
    with pytest.raises(ValueError):
        event_object(ref, "Error", "x", "y", KUBELET, 0.0)


def test_controller_event_about_a_cluster_scoped_object_goes_to_default() -> None:
    source = EventSource("node-controller")
    ev = event_object(object_reference(NODE), NORMAL, "RegisteredNode", "x", source, 0.0)
    assert ev["metadata"]["namespace"] == "default"
    assert ev["involvedObject"] == {
        "kind": "Node",
        "apiVersion": "v1",
        "name": "node-a",
        "uid": "n-1",
    }
    assert ev["source"] == {"component": "node-controller"}
    assert ev["reportingInstance"].startswith("node-controller-")
    assert EventSource("c", instance="i").reporting_instance == "i"


def test_long_object_names_give_valid_event_names() -> None:
    pod = {"metadata": {"name": "p" * 253, "namespace": "d", "uid": "u"}}
    ev = event_object(object_reference(pod), NORMAL, "Started", "x", KUBELET, 0.0)
    assert len(ev["metadata"]["name"]) <= 253


async def test_repeats_bump_the_count() -> None:
    client = FakeClient()
    rec = EventRecorder(client, KUBELET, concurrency=1)
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


async def test_repeat_after_the_window_or_of_a_deleted_event_writes_a_new_one() -> None:
    client = FakeClient()
    now = [1000.0]
    rec = EventRecorder(client, "replicaset-controller", concurrency=1, clock=lambda: now[0])
    rs = {"kind": "ReplicaSet", "apiVersion": "apps/v1", "metadata": {"name": "r", "uid": "u"}}
    rec.event(rs, NORMAL, "SuccessfulCreate", "Created pod: r-1")
    await rec.flush()
    now[0] += REPEAT_WINDOW + 1
    rec.event(rs, NORMAL, "SuccessfulCreate", "Created pod: r-1")
    await rec.flush()
    client.forget = True
    rec.event(rs, NORMAL, "SuccessfulCreate", "Created pod: r-1")
    await rec.close(flush_timeout=5)
    assert len(client.created) == 3 and client.patched == []
    assert client.created[0]["source"] == {"component": "replicaset-controller"}


async def test_events_wait_their_turn() -> None:
    client = FakeClient()
    turn = asyncio.Event()

    async def wait_turn() -> None:
        await turn.wait()

    rec = EventRecorder(client, KUBELET, wait_turn=wait_turn, concurrency=1)
    rec.start()
    rec.pod_event(POD, "Normal", "Started", "Started container c")
    await asyncio.sleep(0.01)
    assert client.created == []
    turn.set()
    await rec.close(flush_timeout=5)
    assert len(client.created) == 1


async def test_full_queue_drops_instead_of_blocking() -> None:
    rec = EventRecorder(FakeClient(), KUBELET, max_queue=2)
    for i in range(5):
        rec.pod_event(POD, "Normal", "Started", f"m{i}")
    assert rec.dropped == 3
    await rec.close(flush_timeout=0)


async def test_events_after_close_are_dropped() -> None:
    client = FakeClient()
    rec = EventRecorder(client, KUBELET)
    await rec.close()
    rec.pod_event(POD, "Normal", "Started", "late")
    await asyncio.sleep(0.01)
    assert rec.dropped == 1 and client.created == []
