"""Validation of the workload kinds (DaemonSet, StatefulSet, ControllerRevision,
ReplicationController, Job, CronJob), as upstream's apps, batch and core validation words it.

It builds on `validation.py`'s helpers and adds `VALIDATORS` to its table when imported
(`knet.apiserver.app` imports it, so the server always has them).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from typing import Any

from croniter import croniter

from knet.api.selectors import SelectorError, selector_from_label_selector
from knet.apiserver import validation as base
from knet.apiserver.fielderrors import Cause, forbidden, invalid, not_supported, required

Causes = list[Cause]
Obj = dict[str, Any]

DS_STRATEGIES = ("OnDelete", "RollingUpdate")
STS_STRATEGIES = ("OnDelete", "RollingUpdate")
POD_MANAGEMENT = ("OrderedReady", "Parallel")
RETENTION = ("Retain", "Delete")
COMPLETION_MODES = ("NonIndexed", "Indexed")
JOB_RESTART_POLICIES = ("OnFailure", "Never")
FAILURE_ACTIONS = ("Count", "FailIndex", "FailJob", "Ignore")
CONCURRENCY = ("Allow", "Forbid", "Replace")
CRONJOB_NAME_MAX = 52  # the Job name adds an 11-character suffix and must stay a label (63)
_PERCENT_MESSAGE = (
    "a valid percent string must be a numeric string followed by an ending '%' "
    "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
)
STS_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)


def _spec(obj: Obj) -> Obj:
    return base._dict_or_empty(obj.get("spec"))


def _selector_kind(causes: Causes, kind: str) -> Causes:
    """The shared workload check says "deployment" where upstream names the kind."""
    wrong = "empty selector is invalid for deployment"
    right = f"empty selector is invalid for {kind.lower()}"
    return [
        Cause(c.reason, c.message.replace(wrong, right), c.field) if wrong in c.message else c
        for c in causes
    ]


def _int_or_percent(value: Any, path: str, out: Causes) -> int | None:
    """A count or "N%"; returns the count (percentages as given) to compare with zero."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            out.append(invalid(path, value, "must be greater than or equal to 0"))
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        return int(value[:-1])
    out.append(invalid(path, value, _PERCENT_MESSAGE))
    return None


# ---------------------------------------------------------------------------------- apps


def validate_daemonset(obj: Obj, old: Obj | None) -> Causes:
    out = _selector_kind(base._validate_workload(obj, old, "DaemonSet"), "DaemonSet")
    strategy = base._as_dict(_spec(obj).get("updateStrategy"), "spec.updateStrategy", out) or {}
    kind = base._choice(strategy.get("type"), "spec.updateStrategy.type", DS_STRATEGIES, out)
    ru = base._as_dict(strategy.get("rollingUpdate"), "spec.updateStrategy.rollingUpdate", out)
    if kind == "RollingUpdate" and ru is not None:
        p = "spec.updateStrategy.rollingUpdate"
        unavailable = _int_or_percent(ru.get("maxUnavailable"), f"{p}.maxUnavailable", out)
        surge = _int_or_percent(ru.get("maxSurge"), f"{p}.maxSurge", out)
        if unavailable == 0 and surge == 0:
            out.append(
                invalid(
                    f"{p}.maxUnavailable",
                    ru.get("maxUnavailable"),
                    "may not be 0 when `maxSurge` is 0",
                )
            )
    base._non_negative(_spec(obj).get("revisionHistoryLimit"), "spec.revisionHistoryLimit", out)
    return out


def validate_statefulset(obj: Obj, old: Obj | None) -> Causes:
    out = _selector_kind(base._validate_workload(obj, old, "StatefulSet"), "StatefulSet")
    spec = _spec(obj)
    base._choice(spec.get("podManagementPolicy"), "spec.podManagementPolicy", POD_MANAGEMENT, out)
    strategy = base._as_dict(spec.get("updateStrategy"), "spec.updateStrategy", out) or {}
    base._choice(strategy.get("type"), "spec.updateStrategy.type", STS_STRATEGIES, out)
    ru = base._dict_or_empty(strategy.get("rollingUpdate"))
    base._non_negative(ru.get("partition"), "spec.updateStrategy.rollingUpdate.partition", out)
    policy = base._dict_or_empty(spec.get("persistentVolumeClaimRetentionPolicy"))
    for key in ("whenDeleted", "whenScaled"):
        base._choice(
            policy.get(key), f"spec.persistentVolumeClaimRetentionPolicy.{key}", RETENTION, out
        )
    base._as_str(spec.get("serviceName"), "spec.serviceName", out)
    if old is not None:
        old_spec = _spec(old)
        rest = {k: v for k, v in spec.items() if k not in STS_MUTABLE}
        old_rest = {k: v for k, v in old_spec.items() if k not in STS_MUTABLE}
        if rest != old_rest:
            out.append(
                forbidden(
                    "spec",
                    "updates to statefulset spec for fields other than 'replicas', 'ordinals',"
                    " 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and"
                    " 'minReadySeconds' are forbidden",
                )
            )
    return out


def validate_controllerrevision(obj: Obj, old: Obj | None) -> Causes:
    out: Causes = []
    revision = base._as_int(obj.get("revision"), "revision", out)
    if revision is not None and revision < 0:
        out.append(invalid("revision", revision, "must be greater than or equal to 0"))
    if old is not None and obj.get("data") != old.get("data"):
        out.append(invalid("data", "", "field is immutable"))
    return out


# ---------------------------------------------------------------------------------- core


def validate_replicationcontroller(obj: Obj, old: Obj | None) -> Causes:
    out: Causes = []
    spec = base._as_dict(obj.get("spec"), "spec", out) or {}
    base._non_negative(spec.get("replicas"), "spec.replicas", out)
    base._non_negative(spec.get("minReadySeconds"), "spec.minReadySeconds", out)
    selector = base._as_dict(spec.get("selector"), "spec.selector", out)
    if not selector:
        out.append(required("spec.selector"))
    else:
        out.extend(base.validate_labels(selector, "spec.selector"))
    template = base._as_dict(spec.get("template"), "spec.template", out)
    if template is None:
        if "template" not in spec:
            out.append(required("spec.template"))
        return out
    labels = base._dict_or_empty(base._dict_or_empty(template.get("metadata")).get("labels"))
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        out.append(
            invalid(
                "spec.template.metadata.labels",
                labels,
                "`selector` does not match template `labels`",
            )
        )
    out.extend(base._pod_spec(template.get("spec"), "spec.template.spec", template=True))
    return out


# ---------------------------------------------------------------------------------- batch


def _pod_failure_policy(value: Any, path: str, out: Causes) -> None:
    policy = base._as_dict(value, path, out)
    if policy is None:
        return
    for i, raw in enumerate(base._as_list(policy.get("rules"), f"{path}.rules", out) or []):
        p = f"{path}.rules[{i}]"
        rule = base._as_dict(raw, p, out) or {}
        if rule.get("action") is None:
            out.append(required(f"{p}.action"))
        else:
            base._choice(rule.get("action"), f"{p}.action", FAILURE_ACTIONS, out)
        on_codes = base._dict_or_empty(rule.get("onExitCodes"))
        on_conditions = rule.get("onPodConditions")
        if bool(on_codes) == bool(on_conditions):
            out.append(
                invalid(p, "", "specifying one of OnExitCodes and OnPodConditions is required")
            )
        if on_codes:
            base._choice(
                on_codes.get("operator"), f"{p}.onExitCodes.operator", ("In", "NotIn"), out
            )
            if not on_codes.get("values"):
                out.append(required(f"{p}.onExitCodes.values"))


def validate_job_spec(spec: Obj, path: str, out: Causes, *, selector_needed: bool) -> None:
    for key in ("parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished"):
        base._non_negative(spec.get(key), f"{path}.{key}", out)
    deadline = base._as_int(spec.get("activeDeadlineSeconds"), f"{path}.activeDeadlineSeconds", out)
    if deadline is not None and deadline <= 0:
        out.append(invalid(f"{path}.activeDeadlineSeconds", deadline, "must be greater than 0"))
    mode = base._choice(spec.get("completionMode"), f"{path}.completionMode", COMPLETION_MODES, out)
    if mode == "Indexed" and spec.get("completions") is None:
        out.append(required(f"{path}.completions", "when completion mode is Indexed"))
    _pod_failure_policy(spec.get("podFailurePolicy"), f"{path}.podFailurePolicy", out)
    raw_sel = spec.get("selector")
    if selector_needed and raw_sel is None:
        out.append(required(f"{path}.selector"))
    elif raw_sel is not None:
        out.extend(base.validate_label_selector(raw_sel, f"{path}.selector"))
    template = base._as_dict(spec.get("template"), f"{path}.template", out)
    if template is None:
        if "template" not in spec:
            out.append(required(f"{path}.template"))
        return
    tpath = f"{path}.template.spec"
    pod_causes = base._pod_spec(template.get("spec"), tpath, template=False)
    out.extend(pod_causes)
    policy = base._dict_or_empty(template.get("spec")).get("restartPolicy")
    if isinstance(policy, str) and policy not in JOB_RESTART_POLICIES:
        out.append(not_supported(f"{tpath}.restartPolicy", policy, JOB_RESTART_POLICIES))
    elif spec.get("podFailurePolicy") is not None and policy != "Never":
        out.append(
            invalid(
                f"{tpath}.restartPolicy",
                policy,
                'only "Never" is supported when podFailurePolicy is specified',
            )
        )
    if isinstance(raw_sel, dict) and not any(c.field.startswith(f"{path}.selector") for c in out):
        labels = base._dict_or_empty(base._dict_or_empty(template.get("metadata")).get("labels"))
        try:
            sel = selector_from_label_selector(raw_sel)
        except SelectorError:
            return
        if not sel.matches(labels):
            out.append(
                invalid(
                    f"{path}.template.metadata.labels",
                    labels,
                    "`selector` does not match template `labels`",
                )
            )


def validate_job(obj: Obj, old: Obj | None) -> Causes:
    out: Causes = []
    spec = base._as_dict(obj.get("spec"), "spec", out)
    if spec is None:
        if not out:
            out.append(required("spec.template"))
        return out
    validate_job_spec(spec, "spec", out, selector_needed=True)
    if old is not None:
        old_spec = _spec(old)
        for key in ("selector", "completionMode", "podFailurePolicy", "backoffLimitPerIndex"):
            if spec.get(key) != old_spec.get(key):
                out.append(invalid(f"spec.{key}", spec.get(key), "field is immutable"))
        if spec.get("completions") != old_spec.get("completions") and not (
            spec.get("completionMode") == "Indexed"
            and spec.get("completions") == spec.get("parallelism")
        ):
            out.append(invalid("spec.completions", spec.get("completions"), "field is immutable"))
        if spec.get("template") != old_spec.get("template") and not old_spec.get("suspend"):
            out.append(invalid("spec.template", spec.get("template"), "field is immutable"))
    return out


def schedule_errors(schedule: str) -> list[str]:
    """Why a cron schedule cannot be used (upstream: robfig/cron's standard parser)."""
    if "TZ" in schedule:
        return ["cannot use TZ or CRON_TZ in schedule, use timeZone field instead"]
    fields = schedule.split()
    if not schedule.startswith("@") and len(fields) != 5:
        return [f"expected exactly 5 fields, found {len(fields)}: {schedule}"]
    if not croniter.is_valid(schedule):
        return [f"unparseable schedule: {schedule}"]
    return []


def timezone_errors(tz: str) -> list[str]:
    if not tz:
        return ["timeZone must be nil or non-empty string"]
    if tz.lower() == "local":
        return [
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
        ]
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return [f"unknown time zone {tz}"]
    return []


def validate_cronjob(obj: Obj, old: Obj | None) -> Causes:
    out: Causes = []
    name = base._dict_or_empty(obj.get("metadata")).get("name")
    if isinstance(name, str) and len(name) > CRONJOB_NAME_MAX:
        out.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    spec = base._as_dict(obj.get("spec"), "spec", out) or {}
    schedule = base._as_str(spec.get("schedule"), "spec.schedule", out)
    if not schedule:
        out.append(required("spec.schedule"))
    else:
        out.extend(base._invalid_each("spec.schedule", schedule, schedule_errors(schedule)))
    tz = base._as_str(spec.get("timeZone"), "spec.timeZone", out)
    if tz is not None:
        out.extend(base._invalid_each("spec.timeZone", tz, timezone_errors(tz)))
    base._choice(spec.get("concurrencyPolicy"), "spec.concurrencyPolicy", CONCURRENCY, out)
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        base._non_negative(spec.get(key), f"spec.{key}", out)
    job_template = base._as_dict(spec.get("jobTemplate"), "spec.jobTemplate", out)
    if job_template is None:
        out.append(required("spec.jobTemplate"))
        return out
    job_spec = base._as_dict(job_template.get("spec"), "spec.jobTemplate.spec", out)
    if job_spec is None:
        out.append(required("spec.jobTemplate.spec.template"))
    else:
        validate_job_spec(job_spec, "spec.jobTemplate.spec", out, selector_needed=False)
    return out


VALIDATORS: dict[str, Callable[[Obj, Obj | None], Causes]] = {
    "DaemonSet": validate_daemonset,
    "StatefulSet": validate_statefulset,
    "ControllerRevision": validate_controllerrevision,
    "ReplicationController": validate_replicationcontroller,
    "Job": validate_job,
    "CronJob": validate_cronjob,
}

base._VALIDATORS.update(VALIDATORS)
