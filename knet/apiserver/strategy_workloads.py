"""Defaulting and initial status of the workload kinds (DaemonSet, StatefulSet, Job, CronJob,
ReplicationController), as upstream's apps/v1, batch/v1 and core/v1 defaults and strategies.

`strategy.py` calls `apply_workload_defaults` (handing it its pod-spec defaulting) and
`prepare_workload_create`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_JOB_UID_LABEL = "controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"
MAX_INT32 = 2**31 - 1

# What a created object's status starts as: Go's zero status, non-omitempty fields included.
_INITIAL_STATUS: dict[str, dict[str, Any]] = {
    "DaemonSet": {
        "currentNumberScheduled": 0,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 0,
        "numberReady": 0,
    },
    "StatefulSet": {"replicas": 0, "availableReplicas": 0},
    "ReplicationController": {"replicas": 0},
    "Job": {},
    "CronJob": {},
}


def _dict(parent: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = parent.setdefault(key, {})
    return value if isinstance(value, dict) else None


PodSpecDefaults = Callable[[Any], None]


def _template_spec(spec: dict[str, Any], pod_defaults: PodSpecDefaults) -> None:
    template = spec.get("template")
    if isinstance(template, dict):
        pod_defaults(template.get("spec"))


def _default_daemonset(spec: dict[str, Any]) -> None:
    strategy = _dict(spec, "updateStrategy")
    if strategy is not None:
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = _dict(strategy, "rollingUpdate")
            if ru is not None:
                ru.setdefault("maxUnavailable", 1)
                ru.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)


def _default_statefulset(spec: dict[str, Any]) -> None:
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("revisionHistoryLimit", 10)
    strategy = _dict(spec, "updateStrategy")
    if strategy is not None:
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = _dict(strategy, "rollingUpdate")
            if ru is not None:
                ru.setdefault("partition", 0)
    policy = _dict(spec, "persistentVolumeClaimRetentionPolicy")
    if policy is not None:
        policy.setdefault("whenDeleted", "Retain")
        policy.setdefault("whenScaled", "Retain")
    for pvc in spec.get("volumeClaimTemplates") or []:
        if isinstance(pvc, dict):
            pvc.setdefault("apiVersion", "v1")
            pvc.setdefault("kind", "PersistentVolumeClaim")
            pvc_spec = _dict(pvc, "spec")
            if pvc_spec is not None:
                pvc_spec.setdefault("volumeMode", "Filesystem")
            pvc.setdefault("status", {"phase": "Pending"})


def _default_rc(obj: dict[str, Any], spec: dict[str, Any]) -> None:
    spec.setdefault("replicas", 1)
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if isinstance(labels, dict) and labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = obj.setdefault("metadata", {})
        if isinstance(meta, dict) and not meta.get("labels"):
            meta["labels"] = dict(labels)


def default_job_spec(spec: dict[str, Any]) -> None:
    """SetDefaults_Job: one completion at a time unless asked, six retries, non-indexed."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    if spec.get("backoffLimitPerIndex") is not None:
        spec.setdefault("backoffLimit", MAX_INT32)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault(
        "podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed"
    )
    for rule in (spec.get("podFailurePolicy") or {}).get("rules") or []:
        for pattern in (rule or {}).get("onPodConditions") or []:
            if isinstance(pattern, dict):
                pattern.setdefault("status", "True")


def _generate_job_selector(obj: dict[str, Any], spec: dict[str, Any]) -> None:
    """The Job strategy's generateSelector: pods are matched by the Job's own uid."""
    if spec.get("manualSelector") is True:
        return
    meta = obj.get("metadata") or {}
    uid, name = meta.get("uid"), meta.get("name")
    if not uid:
        return
    template = _dict(spec, "template")
    if template is None:
        return
    tmeta = _dict(template, "metadata")
    if tmeta is None:
        return
    labels = _dict(tmeta, "labels")
    if labels is None:
        return
    labels.setdefault(LEGACY_JOB_UID_LABEL, uid)
    labels.setdefault(LEGACY_JOB_NAME_LABEL, name)
    labels.setdefault(JOB_UID_LABEL, uid)
    labels.setdefault(JOB_NAME_LABEL, name)
    if spec.get("selector") is None:
        spec["selector"] = {"matchLabels": {JOB_UID_LABEL: uid}}


def _default_cronjob(spec: dict[str, Any], pod_defaults: PodSpecDefaults) -> None:
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_spec = (spec.get("jobTemplate") or {}).get("spec")
    if isinstance(job_spec, dict):
        _template_spec(job_spec, pod_defaults)


def apply_workload_defaults(kind: str, obj: dict[str, Any], pod_defaults: PodSpecDefaults) -> bool:
    """Default `obj` if it is a workload kind of this module; False for other kinds."""
    if kind not in _INITIAL_STATUS:
        return False
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return True
    if kind == "DaemonSet":
        _default_daemonset(spec)
    elif kind == "StatefulSet":
        _default_statefulset(spec)
    elif kind == "ReplicationController":
        _default_rc(obj, spec)
    elif kind == "Job":
        default_job_spec(spec)
    elif kind == "CronJob":
        _default_cronjob(spec, pod_defaults)
    _template_spec(spec, pod_defaults)
    return True


def prepare_workload_create(kind: str, obj: dict[str, Any]) -> None:
    """Server-set fields of a new workload object: the Job's selector, the zero status."""
    if kind == "Job":
        spec = obj.get("spec")
        if isinstance(spec, dict):
            _generate_job_selector(obj, spec)
    if kind in _INITIAL_STATUS:
        obj["status"] = dict(_INITIAL_STATUS[kind])
