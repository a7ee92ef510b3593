"""Table columns and cells of the workload kinds (DaemonSet, StatefulSet, ControllerRevision,
ReplicationController, Job, CronJob), as kube-apiserver 1.32's printers render them.

It builds on `printers.py`'s helpers and adds itself to its tables when imported
(`knet.apiserver.app` imports it, so the server always has them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from knet.api.selectors import format_label_selector, format_labels
from knet.api.times import parse_time_or_none
from knet.apiserver import printers as base

_NAME = "Name of the object, unique within its namespace."
_AGE = "Time since the object was created (metadata.creationTimestamp)."
_CONTAINERS = "Names of the containers in the pod template."
_IMAGES = "Images of the containers in the pod template."


def columns() -> dict[str, tuple[dict[str, Any], ...]]:
    col = base._col
    wide = (
        col("Containers", _CONTAINERS, priority=1),
        col("Images", _IMAGES, priority=1),
        col("Selector", "Label selector of the pods.", priority=1),
    )
    return {
        "daemonsets": (
            col("Name", _NAME),
            col("Desired", "Nodes that should run the daemon pod.", type_="integer"),
            col("Current", "Nodes running at least one daemon pod.", type_="integer"),
            col("Ready", "Nodes whose daemon pod is ready.", type_="integer"),
            col("Up-to-date", "Nodes running the latest template.", type_="integer"),
            col("Available", "Nodes whose daemon pod is available.", type_="integer"),
            col("Node Selector", "Labels a node must have to run the pod."),
            col("Age", _AGE),
            *wide,
        ),
        "statefulsets": (
            col("Name", _NAME),
            col("Ready", "Ready pods over desired pods."),
            col("Age", _AGE),
            wide[0],
            wide[1],
        ),
        "controllerrevisions": (
            col("Name", _NAME),
            col("Controller", "The object that owns the revision."),
            col("Revision", "Revision number.", type_="integer"),
            col("Age", _AGE),
        ),
        "replicationcontrollers": (
            col("Name", _NAME),
            col("Desired", "Desired number of pods.", type_="integer"),
            col("Current", "Pods currently created.", type_="integer"),
            col("Ready", "Pods that are ready.", type_="integer"),
            col("Age", _AGE),
            *wide,
        ),
        "jobs": (
            col("Name", _NAME),
            col("Status", "Complete, Failed, Suspended, Running ..."),
            col("Completions", "Succeeded pods over desired completions."),
            col("Duration", "Time the job took, or has run so far."),
            col("Age", _AGE),
            *wide,
        ),
        "cronjobs": (
            col("Name", _NAME),
            col("Schedule", "The cron schedule."),
            col("Timezone", "Time zone of the schedule."),
            col("Suspend", "Whether new runs are held back."),
            col("Active", "Running jobs.", type_="integer"),
            col("Last Schedule", "Time since a job was last scheduled."),
            col("Age", _AGE),
            *wide,
        ),
    }


def _selector(value: Any) -> str:
    return format_label_selector(base._dict(value))


def _template_cells(template: Any, selector: str) -> list[Any]:
    names, images = base._containers_cells(base._get(template, "spec"))
    return [names, images, selector]


def _daemonset_cells(ds: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec, st = (base._dict(ds.get(k)) for k in ("metadata", "spec", "status"))
    node_selector = base._dict(base._get(spec, "template", "spec", "nodeSelector"))
    return [
        base._str(meta.get("name")),
        base._int(st.get("desiredNumberScheduled")),
        base._int(st.get("currentNumberScheduled")),
        base._int(st.get("numberReady")),
        base._int(st.get("updatedNumberScheduled")),
        base._int(st.get("numberAvailable")),
        format_labels(node_selector),
        base._since(meta.get("creationTimestamp"), now),
        *_template_cells(spec.get("template"), _selector(spec.get("selector"))),
    ]


def _statefulset_cells(sts: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec, st = (base._dict(sts.get(k)) for k in ("metadata", "spec", "status"))
    names, images = base._containers_cells(base._get(spec, "template", "spec"))
    return [
        base._str(meta.get("name")),
        f"{base._int(st.get('readyReplicas'))}/{base._int(spec.get('replicas'), default=1)}",
        base._since(meta.get("creationTimestamp"), now),
        names,
        images,
    ]


def _controller_name(meta: dict[str, Any]) -> str:
    for ref in base._dicts(meta.get("ownerReferences")):
        if ref.get("controller") is True:
            group = base._str(ref.get("apiVersion")).rpartition("/")[0]
            kind = base._str(ref.get("kind"))
            group_kind = f"{kind}.{group}" if group else kind
            return f"{group_kind.lower()}/{base._str(ref.get('name'))}"
    return base.NONE


def _controllerrevision_cells(cr: dict[str, Any], now: datetime) -> list[Any]:
    meta = base._dict(cr.get("metadata"))
    return [
        base._str(meta.get("name")),
        _controller_name(meta),
        base._int(cr.get("revision")),
        base._since(meta.get("creationTimestamp"), now),
    ]


def _rc_cells(rc: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec, st = (base._dict(rc.get(k)) for k in ("metadata", "spec", "status"))
    return [
        base._str(meta.get("name")),
        base._int(spec.get("replicas"), default=1),
        base._int(st.get("replicas")),
        base._int(st.get("readyReplicas")),
        base._since(meta.get("creationTimestamp"), now),
        *_template_cells(spec.get("template"), format_labels(base._dict(spec.get("selector")))),
    ]


def _has_condition(status: dict[str, Any], ctype: str) -> bool:
    return any(
        c.get("type") == ctype and c.get("status") == "True"
        for c in base._dicts(status.get("conditions"))
    )


def job_status_cell(job: dict[str, Any]) -> str:
    st = base._dict(job.get("status"))
    if _has_condition(st, "Complete"):
        return "Complete"
    if _has_condition(st, "Failed"):
        return "Failed"
    if base._get(job, "metadata", "deletionTimestamp"):
        return "Terminating"
    for ctype in ("SuccessCriteriaMet", "FailureTarget", "Suspended"):
        if _has_condition(st, ctype):
            return ctype
    return "Running"


def _completions(spec: dict[str, Any], succeeded: int) -> str:
    completions = spec.get("completions")
    parallelism = spec.get("parallelism")
    if isinstance(completions, int):
        return f"{succeeded}/{completions}"
    if isinstance(parallelism, int) and parallelism > 1:
        return f"{succeeded}/1 of {parallelism}"
    return f"{succeeded}/1"


def _duration(st: dict[str, Any], now: datetime) -> str:
    start = parse_time_or_none(st.get("startTime"))
    if start is None:
        return ""
    end = parse_time_or_none(st.get("completionTime")) or base._aware(now)
    return base.human_duration((end - start).total_seconds())


def _job_cells(job: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec, st = (base._dict(job.get(k)) for k in ("metadata", "spec", "status"))
    return [
        base._str(meta.get("name")),
        job_status_cell(job),
        _completions(spec, base._int(st.get("succeeded"))),
        _duration(st, now),
        base._since(meta.get("creationTimestamp"), now),
        *_template_cells(spec.get("template"), _selector(spec.get("selector"))),
    ]


def _cronjob_cells(cj: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec, st = (base._dict(cj.get(k)) for k in ("metadata", "spec", "status"))
    job_spec = base._dict(base._get(spec, "jobTemplate", "spec"))
    suspend = spec.get("suspend")
    last = st.get("lastScheduleTime")
    return [
        base._str(meta.get("name")),
        base._str(spec.get("schedule")),
        base._str(spec.get("timeZone")) or base.NONE,
        base.UNSET if not isinstance(suspend, bool) else str(suspend),
        len(base._list(st.get("active"))),
        base._since(last, now) if last else base.NONE,
        base._since(meta.get("creationTimestamp"), now),
        *_template_cells(job_spec.get("template"), _selector(job_spec.get("selector"))),
    ]


PRINTERS = {
    "daemonsets": _daemonset_cells,
    "statefulsets": _statefulset_cells,
    "controllerrevisions": _controllerrevision_cells,
    "replicationcontrollers": _rc_cells,
    "jobs": _job_cells,
    "cronjobs": _cronjob_cells,
}


base._COLUMNS.update(columns())
base._PRINTERS.update(PRINTERS)
