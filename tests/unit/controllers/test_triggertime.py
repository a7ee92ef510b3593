"""The trigger time an endpoints write carries: the earliest change since the previous sync."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from knet.api.times import parse_time_or_none
from knet.controllers.triggertime import (
    LAST_CHANGE_TRIGGER_TIME,
    TriggerTimeTracker,
    annotate,
)


def pod(name: str, ready_moved: str | None) -> dict[str, Any]:
    conds = [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}
    ]
    if ready_moved is not None:
        conds.append({"type": "Ready", "status": "True", "lastTransitionTime": ready_moved})
    return {"metadata": {"name": name}, "status": {"conditions": conds}}


SVC = {"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"}}


def t(text: str) -> datetime:
    moment = parse_time_or_none(text)
    assert moment is not None
    return moment


def test_first_sync_is_triggered_by_the_earliest_of_service_and_pods() -> None:
    tr = TriggerTimeTracker()
    got = tr.compute("default/web", SVC, [pod("a", "2026-01-01T00:00:05Z"), pod("b", None)])
    assert got == t("2026-01-01T00:00:00Z")  # the Service's creation came first


def test_only_changes_since_the_last_successful_sync_count() -> None:
    tr = TriggerTimeTracker()
    pods = [pod("a", "2026-01-01T00:00:05Z"), pod("b", "2026-01-01T00:00:07Z")]
    tr.compute("default/web", SVC, pods)
    tr.synced("default/web")
    assert tr.compute("default/web", SVC, pods) is None  # nothing moved
    tr.synced("default/web")
    moved = [pod("a", "2026-01-01T00:00:05Z"), pod("b", "2026-01-01T00:01:00Z")]
    assert tr.compute("default/web", SVC, moved) == t("2026-01-01T00:01:00Z")


def test_a_failed_sync_keeps_its_trigger_for_the_retry() -> None:
    tr = TriggerTimeTracker()
    tr.compute("default/web", SVC, [])
    tr.synced("default/web")
    moved = [pod("a", "2026-01-01T00:02:00Z")]
    assert tr.compute("default/web", SVC, moved) == t("2026-01-01T00:02:00Z")
    # no synced(): the writes failed
    assert tr.compute("default/web", SVC, moved) == t("2026-01-01T00:02:00Z")


def test_a_recreated_service_triggers_again_after_forget() -> None:
    tr = TriggerTimeTracker()
    tr.compute("default/web", SVC, [])
    tr.synced("default/web")
    tr.forget("default/web")
    assert tr.compute("default/web", SVC, []) == t("2026-01-01T00:00:00Z")


def test_annotate_keeps_other_annotations_and_skips_none() -> None:
    obj: dict[str, Any] = {"metadata": {"annotations": {"x": "1"}}}
    assert annotate(obj, None) == {"metadata": {"annotations": {"x": "1"}}}
    annotate(obj, t("2026-01-01T00:00:00Z"))
    assert obj["metadata"]["annotations"] == {
        "x": "1",
        LAST_CHANGE_TRIGGER_TIME: "2026-01-01T00:00:00Z",
    }
