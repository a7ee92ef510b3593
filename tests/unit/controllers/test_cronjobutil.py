"""The CronJob controller's pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from knet.controllers import cronjobutil as cu

NOW = datetime(2026, 12, 1, 12, 7, 30, tzinfo=UTC)
Obj = dict[str, Any]


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def cronjob(schedule: str = "*/5 * * * *", last: datetime | None = None, **spec: Any) -> Obj:
    obj: Obj = {
        "metadata": {
            "name": "tick",
            "namespace": "default",
            "uid": "cj-1",
            "creationTimestamp": stamp(NOW - timedelta(hours=1)),
        },
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "metadata": {"labels": {"team": "a"}},
                "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}},
            },
            **spec,
        },
        "status": {},
    }
    if last is not None:
        obj["status"]["lastScheduleTime"] = stamp(last)
    return obj


def test_due_is_the_latest_time_since_the_last_run() -> None:
    d = cu.due(cronjob(last=datetime(2026, 12, 1, 12, 0, tzinfo=UTC)), NOW)
    assert d.scheduled == datetime(2026, 12, 1, 12, 5, tzinfo=UTC)
    assert d.missed == 1
    assert d.next_time == datetime(2026, 12, 1, 12, 10, tzinfo=UTC)


def test_nothing_due_right_after_a_run() -> None:
    d = cu.due(cronjob(last=datetime(2026, 12, 1, 12, 5, tzinfo=UTC)), NOW)
    assert d.scheduled is None
    assert d.next_time == datetime(2026, 12, 1, 12, 10, tzinfo=UTC)


def test_first_run_counts_from_creation() -> None:
    d = cu.due(cronjob(), NOW)  # created an hour ago: twelve start times came
    assert d.scheduled == datetime(2026, 12, 1, 12, 5, tzinfo=UTC)
    assert d.missed == 12


def test_time_zone_shifts_the_schedule() -> None:
    # 09:00 in Tokyo is 00:00 UTC.
    cj = cronjob("0 9 * * *", last=NOW - timedelta(days=2), timeZone="Asia/Tokyo")
    d = cu.due(cj, NOW)
    assert d.scheduled is not None
    assert d.scheduled.astimezone(UTC) == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert cu.go_rfc3339(d.scheduled) == "2026-12-01T09:00:00+09:00"
    assert cu.due(cronjob(timeZone="Nowhere/Land"), NOW).scheduled is None


def test_starting_deadline() -> None:
    cj = cronjob("0 * * * *", last=NOW - timedelta(hours=3), startingDeadlineSeconds=60)
    d = cu.due(cj, NOW)
    # Only times inside the last minute count, and 12:00 is not one of them.
    assert d.scheduled is None
    cj = cronjob("0 * * * *", last=NOW - timedelta(hours=3), startingDeadlineSeconds=600)
    d = cu.due(cj, NOW)
    assert d.scheduled == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert not cu.too_late(cj, d.scheduled, NOW)
    assert cu.too_late(cj, d.scheduled, NOW + timedelta(minutes=10))


def test_many_missed_times_jump_to_the_latest() -> None:
    d = cu.due(cronjob("* * * * *", last=NOW - timedelta(days=1)), NOW)
    assert d.missed > cu.MAX_MISSED
    assert d.scheduled == datetime(2026, 12, 1, 12, 7, tzinfo=UTC)


def test_job_for_a_time() -> None:
    t = datetime(2026, 12, 1, 12, 5, tzinfo=UTC)
    job = cu.job_for(cronjob(), t)
    assert job["metadata"]["name"] == f"tick-{int(t.timestamp()) // 60}"
    assert job["metadata"]["labels"] == {"team": "a"}
    assert job["metadata"]["annotations"][cu.SCHEDULED_ANNOTATION] == "2026-12-01T12:05:00Z"
    ref = job["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["uid"], ref["controller"]) == ("CronJob", "cj-1", True)
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "x"


def finished(name: str, cond: str, minutes_ago: int) -> Obj:
    t = NOW - timedelta(minutes=minutes_ago)
    return {
        "metadata": {"name": name, "creationTimestamp": stamp(t)},
        "status": {
            "startTime": stamp(t),
            "completionTime": stamp(t + timedelta(seconds=30)),
            "conditions": [{"type": cond, "status": "True"}],
        },
    }


def test_history_limits_remove_the_oldest() -> None:
    jobs = [finished(f"ok-{i}", "Complete", 60 - i) for i in range(5)]
    jobs += [finished(f"bad-{i}", "Failed", 60 - i) for i in range(3)]
    gone = cu.history_to_delete(cronjob(), jobs)
    assert sorted(j["metadata"]["name"] for j in gone) == ["bad-0", "bad-1", "ok-0", "ok-1"]
    limits = {"successfulJobsHistoryLimit": 0, "failedJobsHistoryLimit": 5}
    assert len(cu.history_to_delete(cronjob(**limits), jobs)) == 5


def test_last_successful_time() -> None:
    jobs = [
        finished("a", "Complete", 30),
        finished("b", "Complete", 10),
        finished("c", "Failed", 1),
    ]
    assert cu.last_successful(jobs, None) == stamp(NOW - timedelta(minutes=10, seconds=-30))
    assert cu.last_successful([], "2026-01-01T00:00:00Z") == "2026-01-01T00:00:00Z"
