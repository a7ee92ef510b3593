"""Pure decisions of the CronJob controller: the schedule times that are due (croniter, in the
CronJob's time zone), the Job for one time, which Jobs are active or finished, and which old
Jobs the history limits remove."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from knet.api.objects import Obj, meta, name_of, uid_of
from knet.api.times import parse_time_or_none, rfc3339
from knet.controllers.jobutil import COMPLETE, FAILED_COND, has_condition

CJ_API_VERSION, CJ_KIND = "batch/v1", "CronJob"
SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MAX_MISSED = 100  # upstream stops counting (and warns) past 100 missed start times


def _spec(cj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = cj.get("spec")
    return spec if isinstance(spec, dict) else {}


def time_zone(cj: Mapping[str, Any]) -> ZoneInfo | None:
    """The schedule's zone; None for a name this machine does not know. Unset is UTC (the
    controller-manager's local time upstream; knet's processes run in UTC)."""
    name = _spec(cj).get("timeZone")
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class Due:
    """The latest start time that has come (None if none has since the last run), how many
    start times were missed, and the next start time."""

    scheduled: datetime | None
    missed: int
    next_time: datetime | None


def due(cj: Mapping[str, Any], now: datetime) -> Due:
    zone = time_zone(cj)
    schedule = _spec(cj).get("schedule")
    if zone is None or not isinstance(schedule, str) or not croniter.is_valid(schedule):
        return Due(None, 0, None)
    status = cj.get("status") or {}
    since = parse_time_or_none(status.get("lastScheduleTime")) or parse_time_or_none(
        meta(cj).get("creationTimestamp")
    )
    if since is None:
        since = now
    deadline = _spec(cj).get("startingDeadlineSeconds")
    if isinstance(deadline, int):
        # Times before the deadline window cannot start any more: do not walk through them.
        since = max(since, now - timedelta(seconds=deadline))
    it = croniter(schedule, since.astimezone(zone))
    scheduled: datetime | None = None
    missed = 0
    while True:
        t = it.get_next(datetime)
        if t > now:
            return Due(scheduled, missed, t)
        scheduled = t
        missed += 1
        if missed > MAX_MISSED:
            # Too many to count: jump to the latest one before now.
            back = croniter(schedule, now.astimezone(zone))
            latest = back.get_prev(datetime)
            return Due(latest, missed, croniter(schedule, now.astimezone(zone)).get_next(datetime))


def too_late(cj: Mapping[str, Any], scheduled: datetime, now: datetime) -> bool:
    deadline = _spec(cj).get("startingDeadlineSeconds")
    return isinstance(deadline, int) and now - scheduled > timedelta(seconds=deadline)


def job_name(cj: Mapping[str, Any], scheduled: datetime) -> str:
    """Upstream's name: the CronJob's and the start time in minutes since the epoch."""
    return f"{name_of(cj)}-{int(scheduled.timestamp()) // 60}"


def go_rfc3339(t: datetime) -> str:
    """Go's time.RFC3339 in the time's own zone: "Z" for UTC, else the offset."""
    text = t.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def job_for(cj: Mapping[str, Any], scheduled: datetime) -> Obj:
    template = _spec(cj).get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    annotations = dict(tmeta.get("annotations") or {})
    annotations[SCHEDULED_ANNOTATION] = go_rfc3339(scheduled)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(cj, scheduled),
            "namespace": meta(cj).get("namespace"),
            "labels": dict(tmeta.get("labels") or {}),
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": CJ_API_VERSION,
                    "kind": CJ_KIND,
                    "name": name_of(cj),
                    "uid": uid_of(cj),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def is_job_finished(job: Mapping[str, Any]) -> bool:
    return has_condition(job, COMPLETE) or has_condition(job, FAILED_COND)


def job_ref(job: Mapping[str, Any]) -> Obj:
    return {
        "kind": "Job",
        "namespace": meta(job).get("namespace"),
        "name": name_of(job),
        "uid": uid_of(job),
        "apiVersion": "batch/v1",
        "resourceVersion": meta(job).get("resourceVersion"),
    }


def last_successful(jobs: Sequence[Mapping[str, Any]], current: str | None) -> str | None:
    """The latest completionTime of a Complete Job, or the one already recorded."""
    best = parse_time_or_none(current)
    for job in jobs:
        if has_condition(job, COMPLETE):
            t = parse_time_or_none((job.get("status") or {}).get("completionTime"))
            if t is not None and (best is None or t > best):
                best = t
    return rfc3339(best) if best is not None else None


def _start(job: Mapping[str, Any]) -> datetime:
    t = parse_time_or_none((job.get("status") or {}).get("startTime")) or parse_time_or_none(
        meta(job).get("creationTimestamp")
    )
    return t or datetime.min.replace(tzinfo=UTC)


def history_to_delete(cj: Mapping[str, Any], jobs: Sequence[Obj]) -> list[Obj]:
    """Finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit, oldest first."""
    spec = _spec(cj)
    out: list[Obj] = []
    for cond, key, default in (
        (COMPLETE, "successfulJobsHistoryLimit", 3),
        (FAILED_COND, "failedJobsHistoryLimit", 1),
    ):
        limit = spec.get(key)
        limit = limit if isinstance(limit, int) else default
        done = sorted((j for j in jobs if has_condition(j, cond)), key=_start)
        if len(done) > limit:
            out.extend(done[: len(done) - limit])
    return out
