"""Pure decisions of the StatefulSet controller: the pod (and claims) of each ordinal, which
revision each ordinal should run, and the next step of OrderedReady or Parallel management."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from knet.api.objects import Obj, is_deleting, labels_of, make_controller_ref, meta, name_of
from knet.api.pods import FAILED, SUCCEEDED, is_available, is_ready, phase
from knet.controllers.history import REVISION_HASH_LABEL

STS_API_VERSION, STS_KIND = "apps/v1", "StatefulSet"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def _spec(sts: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = sts.get("spec")
    return spec if isinstance(spec, dict) else {}


def replicas(sts: Mapping[str, Any]) -> int:
    value = _spec(sts).get("replicas")
    return value if isinstance(value, int) else 1


def first_ordinal(sts: Mapping[str, Any]) -> int:
    start = (_spec(sts).get("ordinals") or {}).get("start")
    return start if isinstance(start, int) else 0


def ordinals(sts: Mapping[str, Any]) -> range:
    start = first_ordinal(sts)
    return range(start, start + replicas(sts))


def pod_name(sts: Mapping[str, Any], ordinal: int) -> str:
    return f"{name_of(sts)}-{ordinal}"


def ordinal_of(sts: Mapping[str, Any], pod: Mapping[str, Any]) -> int | None:
    """The ordinal in a pod's name, if the name is `<set>-<n>`."""
    prefix = f"{name_of(sts)}-"
    name = name_of(pod)
    if name.startswith(prefix) and name[len(prefix) :].isdigit():
        return int(name[len(prefix) :])
    return None


def is_parallel(sts: Mapping[str, Any]) -> bool:
    return _spec(sts).get("podManagementPolicy") == "Parallel"


def is_healthy(pod: Mapping[str, Any]) -> bool:
    return phase(pod) == "Running" and is_ready(pod) and not is_deleting(pod)


def is_failed(pod: Mapping[str, Any]) -> bool:
    return phase(pod) in (FAILED, SUCCEEDED)


def pod_revision(pod: Mapping[str, Any]) -> str:
    return labels_of(pod).get(REVISION_HASH_LABEL, "")


def template_of_revision(revision: Mapping[str, Any]) -> Obj:
    """A revision's pod template (its data is `{"spec": {"template": {..., "$patch": ...}}}`)."""
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def partition(sts: Mapping[str, Any]) -> int:
    strategy = _spec(sts).get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return 0
    value = (strategy.get("rollingUpdate") or {}).get("partition")
    return value if isinstance(value, int) else 0


def wanted_revision(sts: Mapping[str, Any], ordinal: int, current: str, update: str) -> str:
    """Ordinals below the partition stay at the current revision; the others take the update."""
    return current if ordinal < partition(sts) else update


# ---------------------------------------------------------------------------- claims


def claim_name(template: Mapping[str, Any], sts: Mapping[str, Any], ordinal: int) -> str:
    return f"{name_of(template)}-{pod_name(sts, ordinal)}"


def claims_for(sts: Mapping[str, Any], ordinal: int) -> list[Obj]:
    """The PersistentVolumeClaims of one ordinal, from volumeClaimTemplates. With the retention
    policy's whenDeleted: Delete a claim is owned by the set, so the garbage collector removes
    it with the set (whenScaled: Delete is not implemented: such claims are kept)."""
    out = []
    policy = _spec(sts).get("persistentVolumeClaimRetentionPolicy") or {}
    for template in _spec(sts).get("volumeClaimTemplates") or []:
        if not isinstance(template, dict):
            continue
        claim_meta: Obj = {
            "name": claim_name(template, sts, ordinal),
            "namespace": meta(sts).get("namespace"),
            "labels": {
                **((template.get("metadata") or {}).get("labels") or {}),
                **(((_spec(sts).get("selector") or {}).get("matchLabels")) or {}),
            },
        }
        if policy.get("whenDeleted") == "Delete":
            claim_meta["ownerReferences"] = [make_controller_ref(sts, STS_API_VERSION, STS_KIND)]
        out.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": claim_meta,
                "spec": copy.deepcopy(template.get("spec") or {}),
            }
        )
    return out


# ---------------------------------------------------------------------------- pods


def stateful_pod(
    sts: Mapping[str, Any],
    ordinal: int,
    template: Mapping[str, Any],
    revision: str,
    *,
    with_claims: bool = True,
) -> Obj:
    """Pod `<set>-<ordinal>` from `template`: hostname and subdomain for its DNS name
    (`<set>-<n>.<serviceName>`), identity labels, the revision, and the claims' volumes."""
    name = pod_name(sts, ordinal)
    tmeta = template.get("metadata") or {}
    labels = dict(tmeta.get("labels") or {})
    labels[REVISION_HASH_LABEL] = revision
    labels[POD_NAME_LABEL] = name
    labels[POD_INDEX_LABEL] = str(ordinal)
    pod_meta: Obj = {
        "name": name,
        "namespace": meta(sts).get("namespace"),
        "labels": labels,
        "ownerReferences": [make_controller_ref(sts, STS_API_VERSION, STS_KIND)],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    spec = copy.deepcopy(template.get("spec") or {})
    spec["hostname"] = name
    service = _spec(sts).get("serviceName")
    if service:
        spec["subdomain"] = service
    claims = [t for t in _spec(sts).get("volumeClaimTemplates") or [] if isinstance(t, dict)]
    if claims and with_claims:
        volumes = [
            v
            for v in spec.get("volumes") or []
            if v.get("name") not in {name_of(t) for t in claims}
        ]
        for t in claims:
            volumes.append(
                {
                    "name": name_of(t),
                    "persistentVolumeClaim": {"claimName": claim_name(t, sts, ordinal)},
                }
            )
        spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


# ---------------------------------------------------------------------------- the next step


@dataclass(frozen=True)
class Step:
    create: list[int]  # ordinals whose pod to create
    delete: list[Obj]  # pods to delete (condemned, failed, or due for the update)


def next_step(
    sts: Mapping[str, Any],
    pods: Mapping[int, Obj],
    current: str,
    update: str,
) -> Step:
    """What to do now. OrderedReady: one pod at a time, lowest ordinal first going up and
    highest first going down, never past a pod that is not Running and Ready. Parallel: every
    creation and deletion at once. Updates replace one pod at a time, highest ordinal first,
    down to the partition."""
    wanted = set(ordinals(sts))
    parallel = is_parallel(sts)
    create: list[int] = []
    delete: list[Obj] = []
    for ordinal in sorted(wanted):
        pod = pods.get(ordinal)
        if pod is None:
            create.append(ordinal)
            if not parallel:
                return Step(create, delete)
            continue
        if is_failed(pod) and not is_deleting(pod):
            delete.append(pod)  # recreated once gone
            if not parallel:
                return Step(create, delete)
            continue
        if not parallel and not is_healthy(pod):
            return Step(create, delete)  # wait for it before going on
    condemned = sorted((o for o in pods if o not in wanted), reverse=True)
    for ordinal in condemned:
        pod = pods[ordinal]
        if is_deleting(pod):
            if not parallel:
                return Step(create, delete)
            continue
        delete.append(pod)
        if not parallel:
            return Step(create, delete)
    if create or delete or condemned:
        return Step(create, delete)
    # All pods exist and are healthy: the rolling update, one pod at a time.
    strategy = (_spec(sts).get("updateStrategy") or {}).get("type") or "RollingUpdate"
    if strategy != "RollingUpdate":
        return Step([], [])
    if any(not is_healthy(p) for o, p in pods.items() if o in wanted):
        return Step([], [])
    for ordinal in sorted(wanted, reverse=True):
        pod = pods[ordinal]
        if pod_revision(pod) != wanted_revision(sts, ordinal, current, update):
            return Step([], [pod])
    return Step([], [])


def set_status(
    sts: Mapping[str, Any],
    pods: Sequence[Obj],
    current: str,
    update: str,
    now: datetime,
) -> Obj:
    min_ready = int(_spec(sts).get("minReadySeconds") or 0)
    live = [p for p in pods if not is_deleting(p)]
    updated = sum(1 for p in live if pod_revision(p) == update)
    current_count = sum(1 for p in live if pod_revision(p) == current)
    if updated == replicas(sts) and len(live) == replicas(sts) and all(is_healthy(p) for p in live):
        current, current_count = update, updated  # the update is complete
    status: Obj = {
        "observedGeneration": meta(sts).get("generation") or 1,
        "replicas": len(live),
        "readyReplicas": sum(1 for p in live if is_ready(p)),
        "availableReplicas": sum(1 for p in live if is_available(p, min_ready, now)),
        "currentReplicas": current_count,
        "updatedReplicas": updated,
        "currentRevision": current,
        "updateRevision": update,
    }
    collision = (sts.get("status") or {}).get("collisionCount")
    if collision is not None:
        status["collisionCount"] = collision
    return status
