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
from knet.apiserver import printcells as cells
from knet.apiserver import printers as base

_NAME = "Name of the object, unique within its namespace."
_AGE = "Time since the object was created (metadata.creationTimestamp)."
_CONTAINERS = "Names of the containers in the pod template."
_IMAGES = "Images of the containers in the pod template."


def columns() -> dict[str, tuple[dict[str, Any], ...]]:
    col = cells._col
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
    return format_label_selector(cells._dict(value))


def _template_cells(template: Any, selector: str) -> list[Any]:
    names, images = cells._containers_cells(cells._get(template, "spec"))
    return [names, images, selector]


def _daemonset_cells(ds: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec, st = (cells._dict(ds.get(k)) for k in ("metadata", "spec", "status"))
    node_selector = cells._dict(cells._get(spec, "template", "spec", "nodeSelector"))
    return [
        cells._str(meta.get("name")),
        cells._int(st.get("desiredNumberScheduled")),
        cells._int(st.get("currentNumberScheduled")),
        cells._int(st.get("numberReady")),
        cells._int(st.get("updatedNumberScheduled")),
        cells._int(st.get("numberAvailable")),
        format_labels(node_selector),
        cells._since(meta.get("creationTimestamp"), now),
        *_template_cells(spec.get("template"), _selector(spec.get("selector"))),
    ]


def _statefulset_cells(sts: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec, st = (cells._dict(sts.get(k)) for k in ("metadata", "spec", "status"))
    names, images = cells._containers_cells(cells._get(spec, "template", "spec"))
    return [
        cells._str(meta.get("name")),
        f"{cells._int(st.get('readyReplicas'))}/{cells._int(spec.get('replicas'), default=1)}",
        cells._since(meta.get("creationTimestamp"), now),
        names,
        images,
    ]


def _controller_name(meta: dict[str, Any]) -> str:
    for ref in cells._dicts(meta.get("ownerReferences")):
        if ref.get("controller") is True:
            group = cells._str(ref.get("apiVersion")).rpartition("/")[0]
            kind = cells._str(ref.get("kind"))
            group_kind = f"{kind}.{group}" if group else kind
            return f"{group_kind.lower()}/{cells._str(ref.get('name'))}"
    return cells.NONE


def _controllerrevision_cells(cr: dict[str, Any], now: datetime) -> list[Any]:
    meta = cells._dict(cr.get("metadata"))
    return [
        cells._str(meta.get("name")),
        _controller_name(meta),
        cells._int(cr.get("revision")),
        cells._since(meta.get("creationTimestamp"), now),
    ]


def _rc_cells(rc: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec, st = (cells._dict(rc.get(k)) for k in ("metadata", "spec", "status"))
    return [
        cells._str(meta.get("name")),
        cells._int(spec.get("replicas"), default=1),
        cells._int(st.get("replicas")),
        cells._int(st.get("readyReplicas")),
        cells._since(meta.get("creationTimestamp"), now),
        *_template_cells(spec.get("template"), format_labels(cells._dict(spec.get("selector")))),
    ]


def _has_condition(status: dict[str, Any], ctype: str) -> bool:
    return any(
        c.get("type") == ctype and c.get("status") == "True"
        for c in cells._dicts(status.get("conditions"))
    )


def job_status_cell(job: dict[str, Any]) -> str:
    st = cells._dict(job.get("status"))
    if _has_condition(st, "Complete"):
        return "Complete"
    if _has_condition(st, "Failed"):
        return "Failed"
    if cells._get(job, "metadata", "deletionTimestamp"):
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
    end = parse_time_or_none(st.get("completionTime")) or cells._aware(now)
    return cells.human_duration((end - start).total_seconds())


def _job_cells(job: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec, st = (cells._dict(job.get(k)) for k in ("metadata", "spec", "status"))
    return [
        cells._str(meta.get("name")),
        job_status_cell(job),
        _completions(spec, cells._int(st.get("succeeded"))),
        _duration(st, now),
        cells._since(meta.get("creationTimestamp"), now),
        *_template_cells(spec.get("template"), _selector(spec.get("selector"))),
    ]


def _cronjob_cells(cj: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec, st = (cells._dict(cj.get(k)) for k in ("metadata", "spec", "status"))
    job_spec = cells._dict(cells._get(spec, "jobTemplate", "spec"))
    suspend = spec.get("suspend")
    last = st.get("lastScheduleTime")
    return [
        cells._str(meta.get("name")),
        cells._str(spec.get("schedule")),
        cells._str(spec.get("timeZone")) or cells.NONE,
        cells.UNSET if not isinstance(suspend, bool) else str(suspend),
        len(cells._list(st.get("active"))),
        cells._since(last, now) if last else cells.NONE,
        cells._since(meta.get("creationTimestamp"), now),
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
