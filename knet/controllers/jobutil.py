"""Pure decisions of the Job controller: which pods count as what, how many to run, which
completion indexes are done, when the Job has succeeded or failed, and the conditions upstream
1.32 writes (SuccessCriteriaMet / FailureTarget first, Complete / Failed once no pod is left)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from knet.api.objects import Obj, is_deleting, meta, name_of, uid_of
from knet.api.pods import FAILED, SUCCEEDED, phase
from knet.api.times import parse_time_or_none, rfc3339
from knet.controllers.replicaset import pod_from_template

JOB_API_VERSION, JOB_KIND = "batch/v1", "Job"
TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
INDEX_ENV = "JOB_COMPLETION_INDEX"
BACKOFF_BASE = 10.0  # upstream DefaultJobPodFailureBackOff
BACKOFF_MAX = 360.0  # upstream MaxJobPodFailureBackOff

COMPLETE, FAILED_COND = "Complete", "Failed"
SUCCESS_CRITERIA_MET, FAILURE_TARGET, SUSPENDED = "SuccessCriteriaMet", "FailureTarget", "Suspended"


def spec_of(job: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = job.get("spec")
    return spec if isinstance(spec, dict) else {}


def status_of(job: Mapping[str, Any]) -> Mapping[str, Any]:
    status = job.get("status")
    return status if isinstance(status, dict) else {}


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def is_indexed(job: Mapping[str, Any]) -> bool:
    return spec_of(job).get("completionMode") == "Indexed"


def has_condition(job: Mapping[str, Any], ctype: str) -> bool:
    return any(
        c.get("type") == ctype and c.get("status") == "True"
        for c in status_of(job).get("conditions") or []
        if isinstance(c, dict)
    )


def is_finished(job: Mapping[str, Any]) -> bool:
    return has_condition(job, COMPLETE) or has_condition(job, FAILED_COND)


# ---------------------------------------------------------------------------- pods


def pod_index(pod: Mapping[str, Any]) -> int | None:
    raw = (meta(pod).get("annotations") or {}).get(INDEX_ANNOTATION)
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    return None


def is_pod_finished(pod: Mapping[str, Any]) -> bool:
    """Succeeded or failed; a pod deleted before it succeeded counts as failed (upstream, with
    podReplacementPolicy TerminatingOrFailed, once it is gone or has finished)."""
    return phase(pod) in (SUCCEEDED, FAILED)


def is_pod_active(pod: Mapping[str, Any]) -> bool:
    return not is_pod_finished(pod) and not is_deleting(pod)


def has_tracking_finalizer(pod: Mapping[str, Any]) -> bool:
    return TRACKING_FINALIZER in (meta(pod).get("finalizers") or [])


def job_pod(job: Mapping[str, Any], index: int | None) -> Obj:
    """A pod for the Job: the template, the tracking finalizer, and for Indexed Jobs the index
    (annotation, label, hostname, and JOB_COMPLETION_INDEX read from the annotation)."""
    pod = pod_from_template(job, JOB_API_VERSION, JOB_KIND)
    pod_meta = pod["metadata"]
    pod_meta["finalizers"] = [*pod_meta.get("finalizers", []), TRACKING_FINALIZER]
    if index is None:
        return pod
    pod_meta["generateName"] = f"{name_of(job)}-{index}-"
    pod_meta.setdefault("annotations", {})[INDEX_ANNOTATION] = str(index)
    pod_meta["labels"][INDEX_LABEL] = str(index)
    spec = pod["spec"]
    spec["hostname"] = f"{name_of(job)}-{index}"
    env_var = {
        "name": INDEX_ENV,
        "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}},
    }
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            c["env"] = [env_var, *[e for e in c.get("env") or [] if e.get("name") != INDEX_ENV]]
    return pod


# ---------------------------------------------------------------------------- indexes


def parse_indexes(text: str | None) -> set[int]:
    """ "1,3-5" -> {1, 3, 4, 5} (status.completedIndexes)."""
    out: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        first, _, last = part.partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            out.update(range(int(first), int(last or first) + 1))
    return out


def format_indexes(indexes: Iterable[int]) -> str:
    """{1, 3, 4, 5} -> "1,3-5": runs of consecutive indexes as intervals."""
    runs: list[list[int]] = []
    for i in sorted(set(indexes)):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def indexes_to_start(
    completions: int, done: set[int], active: Sequence[Obj], room: int
) -> list[int]:
    """The lowest indexes neither completed nor running, at most `room` of them."""
    running = {i for p in active if (i := pod_index(p)) is not None}
    out: list[int] = []
    for i in range(completions):
        if len(out) >= room:
            break
        if i not in done and i not in running:
            out.append(i)
    return out


# ---------------------------------------------------------------------------- counts


def want_active(job: Mapping[str, Any], succeeded: int) -> int:
    """How many pods should run now (upstream's wantActive)."""
    spec = spec_of(job)
    parallelism = _int(spec.get("parallelism"), 1)
    completions = spec.get("completions")
    if not isinstance(completions, int):
        # Without completions, the first success ends the work: no new pods after it.
        return 0 if succeeded > 0 else parallelism
    return max(0, min(parallelism, completions - succeeded))


def backoff_delay(failures: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_MAX) -> float:
    """Seconds to wait before replacing a failed pod: base, 2 base, 4 base ..., capped."""
    if failures <= 0:
        return 0.0
    return float(min(cap, base * 2.0 ** min(failures - 1, 30)))


# ---------------------------------------------------------------------------- pod failure policy


def _exit_codes_match(pod: Mapping[str, Any], req: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first container whose non-zero exit code the requirement matches."""
    name = req.get("containerName")
    values = set(req.get("values") or [])
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    statuses += (pod.get("status") or {}).get("initContainerStatuses") or []
    for cs in statuses:
        if name and cs.get("name") != name:
            continue
        terminated = (cs.get("state") or {}).get("terminated") or {}
        code = terminated.get("exitCode")
        if not isinstance(code, int) or code == 0:
            continue  # successful containers never match
        if (req.get("operator") == "In") == (code in values):
            return {"name": cs.get("name"), "exitCode": code}
    return None


def _conditions_match(pod: Mapping[str, Any], patterns: Sequence[Mapping[str, Any]]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    for pattern in patterns:
        for c in conditions:
            if c.get("type") == pattern.get("type") and c.get("status") == pattern.get(
                "status", "True"
            ):
                return True
    return False


def failure_policy_action(job: Mapping[str, Any], pod: Mapping[str, Any]) -> tuple[str, str]:
    """(action, message) of the first podFailurePolicy rule matching a failed pod; ("Count", "")
    when no rule matches or there is no policy."""
    rules = (spec_of(job).get("podFailurePolicy") or {}).get("rules") or []
    ns_name = f"{meta(pod).get('namespace')}/{name_of(pod)}"
    for i, rule in enumerate(rules):
        action = str(rule.get("action") or "Count")
        if rule.get("onExitCodes"):
            hit = _exit_codes_match(pod, rule["onExitCodes"])
            if hit is not None:
                return action, (
                    f"Container {hit['name']} for pod {ns_name} failed with exit code "
                    f"{hit['exitCode']} matching {action} rule at index {i}"
                )
        elif rule.get("onPodConditions") and _conditions_match(pod, rule["onPodConditions"]):
            return action, f"Pod {ns_name} has condition matching {action} rule at index {i}"
    return "Count", ""


# ---------------------------------------------------------------------------- outcome


@dataclass(frozen=True)
class Outcome:
    """What the counted pods say about the Job: nothing yet, success, or failure (with the
    condition reason and message upstream uses)."""

    kind: str  # "", "success", "failure"
    reason: str = ""
    message: str = ""


def outcome(
    job: Mapping[str, Any],
    succeeded: int,
    failed: int,
    completed_indexes: set[int],
    policy_failure: str,
    now: datetime,
) -> Outcome:
    spec = spec_of(job)
    if policy_failure:
        return Outcome("failure", "PodFailurePolicy", policy_failure)
    if failed > _int(spec.get("backoffLimit"), 6):
        return Outcome(
            "failure", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        )
    deadline = spec.get("activeDeadlineSeconds")
    start = parse_time_or_none(status_of(job).get("startTime"))
    if (
        isinstance(deadline, int)
        and start is not None
        and now - start >= timedelta(seconds=deadline)
    ):
        return Outcome(
            "failure", "DeadlineExceeded", "Job was active longer than specified deadline"
        )
    completions = spec.get("completions")
    if is_indexed(job):
        if isinstance(completions, int) and len(completed_indexes) >= completions:
            return Outcome(
                "success", "CompletionsReached", "Reached expected number of succeeded pods"
            )
    elif isinstance(completions, int):
        if succeeded >= completions:
            return Outcome(
                "success", "CompletionsReached", "Reached expected number of succeeded pods"
            )
    elif succeeded > 0:
        return Outcome("success", "CompletionsReached", "Reached expected number of succeeded pods")
    return Outcome("")


def deadline_remaining(job: Mapping[str, Any], now: datetime) -> float | None:
    deadline = spec_of(job).get("activeDeadlineSeconds")
    start = parse_time_or_none(status_of(job).get("startTime"))
    if not isinstance(deadline, int) or start is None:
        return None
    return max(0.0, deadline - (now - start).total_seconds())


def ttl_remaining(job: Mapping[str, Any], now: datetime) -> float | None:
    """Seconds until a finished Job with ttlSecondsAfterFinished may be deleted; None if never."""
    ttl = spec_of(job).get("ttlSecondsAfterFinished")
    if not isinstance(ttl, int) or not is_finished(job):
        return None
    finished = parse_time_or_none(status_of(job).get("completionTime"))
    if finished is None:
        for c in status_of(job).get("conditions") or []:
            if c.get("type") in (COMPLETE, FAILED_COND) and c.get("status") == "True":
                finished = parse_time_or_none(c.get("lastTransitionTime"))
    if finished is None:
        return 0.0
    return max(0.0, ttl - (now - finished).total_seconds())


# ---------------------------------------------------------------------------- conditions


def _cond(ctype: str, status: str, reason: str, message: str, now: datetime) -> Obj:
    stamp = rfc3339(now)
    return {
        "type": ctype,
        "status": status,
        "lastProbeTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    ctype: str,
    status: str,
    reason: str,
    message: str,
    now: datetime,
) -> list[Obj]:
    """Conditions with `ctype` set; an unchanged status keeps its transition time."""
    out = [copy.deepcopy(dict(c)) for c in conditions]
    for c in out:
        if c.get("type") == ctype:
            if c.get("status") != status:
                c.update(_cond(ctype, status, reason, message, now))
            else:
                c.update(reason=reason, message=message)
            return out
    out.append(_cond(ctype, status, reason, message, now))
    return out


def uid_list(pods: Iterable[Mapping[str, Any]]) -> list[str]:
    return sorted(uid_of(p) for p in pods)


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> Obj:
    """The JSON merge patch turning `old` into `new` (keys `new` drops become null)."""
    out: Obj = {}
    for k in old:
        if k not in new:
            out[k] = None
    for k, v in new.items():
        before = old.get(k)
        if isinstance(v, dict) and isinstance(before, dict):
            sub = merge_patch(before, v)
            if sub:
                out[k] = sub
        elif v != before or k not in old:
            out[k] = v
    return out


# ---------------------------------------------------------------------------- counting


@dataclass
class Tally:
    """Finished pods sorted for counting: uids to count as succeeded / failed (those already in
    status.uncountedTerminatedPods first), the completed indexes, pods to let go uncounted
    (Ignore rule, a repeated index), and the message of a matching FailJob rule."""

    succeeded: list[str]
    failed: list[str]
    done_indexes: set[int]
    ignored: list[Obj]
    policy_failure: str = ""
    new: bool = False  # whether any pod was added to the uncounted lists


def tally(job: Mapping[str, Any], pods: Sequence[Obj], counted: set[str]) -> Tally:
    """Sort the Job's finished pods that still carry the tracking finalizer (`counted`: uids
    already counted, which a stale cache may still show with it)."""
    uncounted = status_of(job).get("uncountedTerminatedPods") or {}
    out = Tally(
        list(uncounted.get("succeeded") or []),
        list(uncounted.get("failed") or []),
        parse_indexes(status_of(job).get("completedIndexes")),
        [],
    )
    seen = counted | set(out.succeeded) | set(out.failed)
    for pod in pods:
        uid = uid_of(pod)
        finished = is_pod_finished(pod) or is_deleting(pod)
        if not finished or not has_tracking_finalizer(pod) or uid in seen:
            continue
        if phase(pod) == SUCCEEDED:
            index = pod_index(pod)
            if is_indexed(job):
                if index is None or index in out.done_indexes:
                    out.ignored.append(pod)
                    continue
                out.done_indexes.add(index)
            out.succeeded.append(uid)
            out.new = True
            continue
        action, message = failure_policy_action(job, pod)
        if action == "Ignore":
            out.ignored.append(pod)
            continue
        if action == "FailJob" and not out.policy_failure:
            out.policy_failure = message
        out.failed.append(uid)
        out.new = True
    return out


def finish_conditions(
    conditions: Sequence[Mapping[str, Any]], result: Outcome, pods_left: bool, now: datetime
) -> tuple[list[Obj], bool]:
    """The interim condition (SuccessCriteriaMet / FailureTarget) now, and the terminal one
    (Complete / Failed) once no pod of the Job is left; returns (conditions, terminal added)."""
    success = result.kind == "success"
    interim = SUCCESS_CRITERIA_MET if success else FAILURE_TARGET
    out = set_condition(conditions, interim, "True", result.reason, result.message, now)
    if pods_left:
        return out, False
    final = COMPLETE if success else FAILED_COND
    return set_condition(out, final, "True", result.reason, result.message, now), True


def policy_target_message(job: Mapping[str, Any]) -> str:
    """A FailureTarget set by a policy rule keeps failing the Job once its pods are gone."""
    for c in status_of(job).get("conditions") or []:
        if c.get("type") == FAILURE_TARGET and c.get("reason") == "PodFailurePolicy":
            return str(c.get("message") or "")
    return ""
