"""The Deployment controller's arithmetic, as upstream's deployment util computes it. Pure.

ReplicaSets are wire dicts. "Replicas" of a ReplicaSet means its spec.replicas unless a name
says status.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from knet.api.objects import Obj, meta, name_of
from knet.api.times import parse_time_or_none, rfc3339

TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Annotations of a Deployment that are not copied to its ReplicaSets.
_NOT_COPIED = frozenset(
    {REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS,
     "kubectl.kubernetes.io/last-applied-configuration"}
)  # fmt: skip

PROGRESSING, AVAILABLE = "Progressing", "Available"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
TIMED_OUT = "ProgressDeadlineExceeded"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # upstream's rand.SafeEncodeString alphabet


# ---------------------------------------------------------------------------- small readers


def replicas(obj: Mapping[str, Any]) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return value if isinstance(value, int) else 0


def desired(d: Mapping[str, Any]) -> int:
    """A Deployment's spec.replicas (the apiserver defaults it to 1)."""
    value = (d.get("spec") or {}).get("replicas")
    return value if isinstance(value, int) else 1


def status_int(obj: Mapping[str, Any], field: str) -> int:
    value = (obj.get("status") or {}).get(field)
    return value if isinstance(value, int) else 0


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    value = meta(obj).get("annotations")
    return dict(value) if isinstance(value, Mapping) else {}


def _int_annotation(obj: Mapping[str, Any], key: str) -> int | None:
    try:
        return int(annotations_of(obj)[key])
    except (KeyError, ValueError):
        return None


def revision(rs: Mapping[str, Any]) -> int:
    return _int_annotation(rs, REVISION) or 0


def max_revision(rss: Iterable[Mapping[str, Any]]) -> int:
    return max((revision(rs) for rs in rss), default=0)


def by_creation(rss: Iterable[Obj]) -> list[Obj]:
    """Oldest first; ties by name (upstream ReplicaSetsByCreationTimestamp)."""

    def key(rs: Obj) -> tuple[float, str]:
        t = parse_time_or_none(meta(rs).get("creationTimestamp"))
        return (t.timestamp() if t else 0.0, name_of(rs))

    return sorted(rss, key=key)


def strategy_type(d: Mapping[str, Any]) -> str:
    strategy = (d.get("spec") or {}).get("strategy") or {}
    return str(strategy.get("type") or "RollingUpdate")


# ---------------------------------------------------------------- maxSurge / maxUnavailable


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """An IntOrString against `total`: 3 is 3; "25%" of 10 is 3 rounded up, 2 down."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError(f"invalid value {value!r}: want an integer or a percentage")
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text.endswith("%"):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"invalid value {value!r}: want an integer or a percentage") from None
    try:
        percent = int(text[:-1])
    except ValueError:
        raise ValueError(f"invalid value {value!r}: want an integer or a percentage") from None
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def resolve_fenceposts(
    max_surge: int | str | None, max_unavailable: int | str | None, total: int
) -> tuple[int, int]:
    """(surge, unavailable) for `total` desired replicas: surge rounds up, unavailable down, and
    both zero would never progress, so unavailable becomes 1 then."""
    surge = scaled_value(max_surge, total, round_up=True)
    unavailable = scaled_value(max_unavailable, total, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling(d: Mapping[str, Any]) -> Mapping[str, Any]:
    strategy = (d.get("spec") or {}).get("strategy") or {}
    return strategy.get("rollingUpdate") or {}


def max_surge(d: Mapping[str, Any]) -> int:
    if strategy_type(d) != "RollingUpdate":
        return 0
    ru = _rolling(d)
    surge, _ = resolve_fenceposts(
        ru.get("maxSurge", "25%"), ru.get("maxUnavailable", "25%"), desired(d)
    )
    return surge


def max_unavailable(d: Mapping[str, Any]) -> int:
    if strategy_type(d) != "RollingUpdate" or desired(d) == 0:
        return 0
    ru = _rolling(d)
    _, unavailable = resolve_fenceposts(
        ru.get("maxSurge", "25%"), ru.get("maxUnavailable", "25%"), desired(d)
    )
    return min(unavailable, desired(d))


# ---------------------------------------------------------------------------- templates


def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def template_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """The pod-template-hash: FNV-32a over the template (canonical JSON here, where upstream
    prints the Go struct) and the collision count, written in upstream's safe alphabet."""
    data = orjson.dumps(template, option=orjson.OPT_SORT_KEYS)
    if collision_count:
        data += str(collision_count).encode()
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in str(_fnv32a(data)))


def _without_hash(template: Mapping[str, Any]) -> Obj:
    t = copy.deepcopy(dict(template))
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(TEMPLATE_HASH_LABEL, None)
        if not labels:
            t["metadata"].pop("labels")
    if isinstance(t.get("metadata"), dict) and not t["metadata"]:
        t.pop("metadata")
    return t


def _pruned(value: Any) -> Any:
    """The value with null, {} and [] fields dropped at every depth: Go compares structs, where
    an absent field and its zero value are the same; on the wire kubectl writes
    `creationTimestamp: null` and `resources: {}` that a stored template may lack."""
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def equal_ignore_hash(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two pod templates are the same but for pod-template-hash (upstream
    EqualIgnoreHash), so `kubectl rollout undo` scales the old revision's ReplicaSet back up."""
    return bool(_pruned(_without_hash(a)) == _pruned(_without_hash(b)))


def template_of(obj: Mapping[str, Any]) -> Obj:
    t = (obj.get("spec") or {}).get("template")
    return t if isinstance(t, dict) else {}


def find_new_and_old(d: Mapping[str, Any], rss: Sequence[Obj]) -> tuple[Obj | None, list[Obj]]:
    """The ReplicaSet running the Deployment's current template (the oldest such, if several),
    and all the others."""
    template = template_of(d)
    new: Obj | None = None
    old: list[Obj] = []
    for rs in by_creation(rss):
        if new is None and equal_ignore_hash(template_of(rs), template):
            new = rs
        else:
            old.append(rs)
    return new, old


def new_replica_set(d: Mapping[str, Any], old: Sequence[Obj], collision_count: int) -> Obj:
    """The ReplicaSet to create for the Deployment's current template (replicas left at 0:
    the caller sets them)."""
    template = copy.deepcopy(template_of(d))
    pth = template_hash(template, collision_count)
    tmeta = template.setdefault("metadata", {})
    tmeta.setdefault("labels", {})[TEMPLATE_HASH_LABEL] = pth
    selector = copy.deepcopy((d.get("spec") or {}).get("selector") or {})
    selector.setdefault("matchLabels", {})[TEMPLATE_HASH_LABEL] = pth
    notes = {k: v for k, v in annotations_of(d).items() if k not in _NOT_COPIED}
    notes[REVISION] = str(max_revision(old) + 1)
    spec: Obj = {"replicas": 0, "selector": selector, "template": template}
    if (d.get("spec") or {}).get("minReadySeconds"):
        spec["minReadySeconds"] = d["spec"]["minReadySeconds"]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{name_of(d)}-{pth}",
            "namespace": meta(d).get("namespace"),
            "labels": dict(tmeta["labels"]),
            "annotations": notes,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": name_of(d),
                    "uid": meta(d).get("uid"),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


def replica_annotations(d: Mapping[str, Any]) -> dict[str, str]:
    """What a ReplicaSet scaled by the Deployment is annotated with."""
    return {DESIRED_REPLICAS: str(desired(d)), MAX_REPLICAS: str(desired(d) + max_surge(d))}


# ---------------------------------------------------------------------------- rolling update


def total_replicas(rss: Iterable[Mapping[str, Any]]) -> int:
    return sum(replicas(rs) for rs in rss)


def new_rs_replicas(d: Mapping[str, Any], all_rss: Sequence[Obj], new_rs: Obj | None) -> int:
    """How many replicas the new ReplicaSet may have now (upstream NewRSNewReplicas)."""
    want = desired(d)
    current_new = replicas(new_rs) if new_rs is not None else 0
    if strategy_type(d) != "RollingUpdate":
        return want
    if current_new >= want:
        return want
    max_total = want + max_surge(d)
    current = total_replicas(all_rss)
    if current >= max_total:
        return current_new
    step = min(max_total - current, want - current_new)
    return current_new + step


def old_scale_down(d: Mapping[str, Any], old_rss: Sequence[Obj], new_rs: Obj) -> dict[str, int]:
    """Target replicas for old ReplicaSets this step (upstream reconcileOldReplicaSets): first
    drop their unavailable pods, then available ones while staying at or above
    `desired - maxUnavailable` available pods. Only ReplicaSets whose replicas change appear."""
    active_old = [rs for rs in old_rss if replicas(rs) > 0]
    if total_replicas(active_old) == 0:
        return {}
    all_rss = [*active_old, new_rs]
    min_available = desired(d) - max_unavailable(d)
    new_unavailable = replicas(new_rs) - status_int(new_rs, "availableReplicas")
    max_scaled_down = total_replicas(all_rss) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return {}
    targets: dict[str, int] = {}
    # 1. Unhealthy replicas of old sets go first: removing them costs no availability.
    cleaned = 0
    for rs in by_creation(active_old):
        if cleaned >= max_scaled_down:
            break
        unhealthy = replicas(rs) - status_int(rs, "availableReplicas")
        if unhealthy <= 0:
            continue
        step = min(max_scaled_down - cleaned, unhealthy)
        targets[name_of(rs)] = replicas(rs) - step
        cleaned += step

    def current(rs: Obj) -> int:
        return targets.get(name_of(rs), replicas(rs))

    # 2. Then available ones, as long as enough stay available.
    available = sum(status_int(rs, "availableReplicas") for rs in all_rss)
    if available > min_available:
        to_scale = available - min_available
        scaled = 0
        for rs in by_creation(active_old):
            if scaled >= to_scale:
                break
            if current(rs) == 0:
                continue
            step = min(current(rs), to_scale - scaled)
            targets[name_of(rs)] = current(rs) - step
            scaled += step
    return {n: r for n, r in targets.items() if r != replicas(_named(active_old, n))}


# ---------------------------------------------------------------------------- scaling events


def is_scaling_event(d: Mapping[str, Any], rss: Sequence[Obj]) -> bool:
    """Some active ReplicaSet was sized for a different spec.replicas than the Deployment's."""
    for rs in rss:
        if replicas(rs) <= 0:
            continue
        want = _int_annotation(rs, DESIRED_REPLICAS)
        if want is not None and want != desired(d):
            return True
    return False


def active_or_latest(new_rs: Obj | None, old_rss: Sequence[Obj]) -> Obj | None:
    """The one ReplicaSet with replicas, if exactly one has any (or the newest if none do)."""
    everyone = [*by_creation(old_rss), *([new_rs] if new_rs is not None else [])]
    active = [rs for rs in everyone if replicas(rs) > 0]
    if len(active) == 1:
        return active[0]
    if not active:
        return new_rs if new_rs is not None else (everyone[-1] if everyone else None)
    return None


def is_saturated(d: Mapping[str, Any], new_rs: Obj | None) -> bool:
    if new_rs is None:
        return False
    return (
        replicas(new_rs) == desired(d)
        and _int_annotation(new_rs, DESIRED_REPLICAS) == desired(d)
        and status_int(new_rs, "availableReplicas") == desired(d)
    )


def proportional_scale(
    d: Mapping[str, Any], new_rs: Obj | None, old_rss: Sequence[Obj]
) -> dict[str, int]:
    """Target replicas when spec.replicas changed mid-rollout (upstream `scale`): the new total
    is spread over the active ReplicaSets in proportion to their size."""
    single = active_or_latest(new_rs, old_rss)
    if single is not None:
        return {} if replicas(single) == desired(d) else {name_of(single): desired(d)}
    if is_saturated(d, new_rs):
        return {name_of(rs): 0 for rs in old_rss if replicas(rs) > 0}
    if strategy_type(d) != "RollingUpdate":
        return {}
    active = [rs for rs in [*old_rss, *([new_rs] if new_rs else [])] if replicas(rs) > 0]
    allowed = desired(d) + max_surge(d) if desired(d) > 0 else 0
    to_add = allowed - total_replicas(active)
    if to_add == 0:
        return {}

    def size_key(rs: Obj) -> tuple[int, float]:
        t = parse_time_or_none(meta(rs).get("creationTimestamp"))
        stamp = t.timestamp() if t else 0.0
        # Growing: largest and newest first; shrinking: largest and oldest first.
        return (-replicas(rs), -stamp if to_add > 0 else stamp)

    ordered = sorted(active, key=size_key)
    sizes: dict[str, int] = {}
    added = 0
    for rs in ordered:
        share = _proportion(d, rs, to_add, added)
        sizes[name_of(rs)] = replicas(rs) + share
        added += share
    if ordered and to_add - added:
        first = name_of(ordered[0])
        sizes[first] = max(sizes[first] + (to_add - added), 0)
    return {n: r for n, r in sizes.items() if r != replicas(_named(active, n))}


def _named(rss: Sequence[Obj], name: str) -> Obj:
    return next(rs for rs in rss if name_of(rs) == name)


def _proportion(d: Mapping[str, Any], rs: Obj, to_add: int, added: int) -> int:
    if replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    if desired(d) == 0:
        fraction = -replicas(rs)
    else:
        total = desired(d) + max_surge(d)
        annotated = _int_annotation(rs, MAX_REPLICAS) or status_int(d, "replicas")
        if annotated <= 0:
            fraction = 0
        else:
            # Go's math.Round: halves away from zero.
            exact = replicas(rs) * total / annotated
            fraction = math.floor(exact + 0.5) - replicas(rs)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


# ---------------------------------------------------------------------------- status


def _set_condition(conditions: list[Obj], new: Obj) -> list[Obj]:
    """Upstream SetDeploymentCondition: same status and reason changes nothing; the same status
    keeps its lastTransitionTime."""
    out = [c for c in conditions if c.get("type") != new["type"]]
    current = next((c for c in conditions if c.get("type") == new["type"]), None)
    if current is not None:
        if current.get("status") == new["status"] and current.get("reason") == new["reason"]:
            return conditions
        if current.get("status") == new["status"]:
            new = {**new, "lastTransitionTime": current.get("lastTransitionTime")}
    return [*out, new]


def condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for c in status.get("conditions") or []:
        if isinstance(c, Mapping) and c.get("type") == kind:
            return c
    return None


def _cond(kind: str, status: str, reason: str, message: str, now: datetime) -> Obj:
    stamp = rfc3339(now)
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def calculate_status(
    d: Mapping[str, Any], all_rss: Sequence[Obj], new_rs: Obj | None, now: datetime
) -> Obj:
    """Counts and the Available condition (upstream calculateStatus)."""
    available = sum(status_int(rs, "availableReplicas") for rs in all_rss)
    total = total_replicas(all_rss)
    status: Obj = {
        "observedGeneration": meta(d).get("generation") or 1,
        "replicas": sum(status_int(rs, "replicas") for rs in all_rss),
        "updatedReplicas": status_int(new_rs, "replicas") if new_rs is not None else 0,
        "readyReplicas": sum(status_int(rs, "readyReplicas") for rs in all_rss),
        "availableReplicas": available,
        "unavailableReplicas": max(total - available, 0),
    }
    old = d.get("status") or {}
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    conditions = [dict(c) for c in old.get("conditions") or [] if isinstance(c, Mapping)]
    if available >= desired(d) - max_unavailable(d):
        cond = _cond(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.", now)
    else:
        cond = _cond(
            AVAILABLE, "False", MIN_UNAVAILABLE, "Deployment does not have minimum availability.",
            now,
        )  # fmt: skip
    status["conditions"] = _set_condition(conditions, cond)
    return status


def is_complete(d: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    want = desired(d)
    return (
        status.get("updatedReplicas") == want
        and status.get("replicas") == want
        and status.get("availableReplicas") == want
        and (status.get("observedGeneration") or 0) >= (meta(d).get("generation") or 1)
    )


def _progressing(d: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    old = d.get("status") or {}

    def g(s: Mapping[str, Any], k: str) -> int:
        v = s.get(k)
        return v if isinstance(v, int) else 0

    old_old = g(old, "replicas") - g(old, "updatedReplicas")
    new_old = g(new, "replicas") - g(new, "updatedReplicas")
    return (
        g(new, "updatedReplicas") > g(old, "updatedReplicas")
        or new_old < old_old
        or g(new, "readyReplicas") > g(old, "readyReplicas")
        or g(new, "availableReplicas") > g(old, "availableReplicas")
    )


def _timed_out(d: Mapping[str, Any], now: datetime) -> bool:
    deadline = (d.get("spec") or {}).get("progressDeadlineSeconds")
    cond = condition(d.get("status") or {}, PROGRESSING)
    if not isinstance(deadline, int) or cond is None:
        return False
    if cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    last = parse_time_or_none(cond.get("lastUpdateTime"))
    return last is not None and (now - last).total_seconds() > deadline


def rollout_status(
    d: Mapping[str, Any], all_rss: Sequence[Obj], new_rs: Obj | None, now: datetime
) -> Obj:
    """The full status with the Progressing condition (upstream syncRolloutStatus)."""
    status = calculate_status(d, all_rss, new_rs, now)
    spec = d.get("spec") or {}
    conditions: list[Obj] = status["conditions"]
    if not isinstance(spec.get("progressDeadlineSeconds"), int):
        status["conditions"] = [c for c in conditions if c.get("type") != PROGRESSING]
        return status
    current = condition(d.get("status") or {}, PROGRESSING)
    complete_before = (
        status["replicas"] == status["updatedReplicas"]
        and current is not None
        and current.get("reason") == NEW_RS_AVAILABLE
    )
    if complete_before or new_rs is None:
        return status
    rs_name = name_of(new_rs)
    if is_complete(d, status):
        cond = _cond(
            PROGRESSING, "True", NEW_RS_AVAILABLE,
            f'ReplicaSet "{rs_name}" has successfully progressed.', now,
        )  # fmt: skip
        status["conditions"] = _set_condition(conditions, cond)
    elif _progressing(d, status):
        cond = _cond(
            PROGRESSING, "True", RS_UPDATED, f'ReplicaSet "{rs_name}" is progressing.', now
        )
        if current is not None and current.get("status") == "True":
            cond["lastTransitionTime"] = current.get("lastTransitionTime")
        # A progress update always refreshes lastUpdateTime (the deadline counts from it).
        status["conditions"] = [c for c in conditions if c.get("type") != PROGRESSING] + [cond]
    elif _timed_out(d, now):
        cond = _cond(
            PROGRESSING, "False", TIMED_OUT, f'ReplicaSet "{rs_name}" has timed out progressing.',
            now,
        )  # fmt: skip
        status["conditions"] = _set_condition(conditions, cond)
    return status


def progressing_condition(reason: str, message: str, now: datetime) -> Obj:
    return _cond(PROGRESSING, "True", reason, message, now)


def with_condition(status: Mapping[str, Any], cond: Obj) -> Obj:
    out = dict(status)
    conditions = [dict(c) for c in status.get("conditions") or [] if isinstance(c, Mapping)]
    out["conditions"] = _set_condition(conditions, cond)
    return out


# ---------------------------------------------------------------------------- history


def to_clean_up(d: Mapping[str, Any], old_rss: Sequence[Obj]) -> list[Obj]:
    """Old ReplicaSets beyond revisionHistoryLimit that are empty and settled, oldest first."""
    limit = (d.get("spec") or {}).get("revisionHistoryLimit")
    if not isinstance(limit, int):
        return []
    settled = [
        rs
        for rs in old_rss
        if replicas(rs) == 0
        and status_int(rs, "replicas") == 0
        and not meta(rs).get("deletionTimestamp")
        and (status_int(rs, "observedGeneration") or 0) >= (meta(rs).get("generation") or 1)
    ]
    extra = len(settled) - limit
    if extra <= 0:
        return []
    return sorted(settled, key=lambda rs: (revision(rs), name_of(rs)))[:extra]
