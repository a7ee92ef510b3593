"""`pods/eviction` (policy/v1 Eviction): delete a pod unless that would break its
PodDisruptionBudget, as kube-apiserver's eviction REST does. `kubectl drain` evicts this way and
retries on 429 until the budget allows it.

The budget is spent under compare-and-swap: the check of status.disruptionsAllowed and its
decrement (with the pod recorded in status.disruptedPods) are one write of the budget's status,
so two evictions racing for the last allowed disruption cannot both pass.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from knet.api import registry
from knet.api.disruption import selects
from knet.api.pods import is_ready
from knet.api.times import rfc3339
from knet.apiserver import errors
from knet.apiserver.deletion import DeleteOptions
from knet.apiserver.errors import ApiError
from knet.apiserver.resources import Resources

VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."
SUCCESS: dict[str, Any] = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Success",
    "code": 201,
}


def _too_many(cause: str) -> ApiError:
    return ApiError(
        429,
        "TooManyRequests",
        VIOLATION,
        {"causes": [{"reason": "DisruptionBudget", "message": cause}]},
    )


def check_body(body: dict[str, Any], namespace: str, name: str) -> DeleteOptions:
    """The eviction's delete options; 400 when the body names another pod."""
    meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    if meta.get("name") not in (None, "", name):
        raise errors.bad_request("name in URL does not match name in Eviction object")
    if meta.get("namespace") not in (None, "", namespace):
        raise errors.bad_request("namespace in URL does not match namespace in Eviction object")
    raw = body.get("deleteOptions")
    opts = raw if isinstance(raw, dict) else {}
    grace = opts.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise errors.bad_request("deleteOptions.gracePeriodSeconds must be an integer")
    pre = opts.get("preconditions") if isinstance(opts.get("preconditions"), dict) else {}
    assert isinstance(pre, dict)
    return DeleteOptions(
        grace_period_seconds=grace,
        propagation_policy=opts.get("propagationPolicy"),
        precondition_uid=pre.get("uid"),
        precondition_rv=pre.get("resourceVersion"),
    )


def _ignores_budget(pod: dict[str, Any]) -> bool:
    """Finished, pending or already-deleting pods are evicted without consulting a budget."""
    phase = (pod.get("status") or {}).get("phase")
    deleting = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    return deleting or phase in ("Succeeded", "Failed", "Pending")


def _unhealthy_may_go(pdb: dict[str, Any], pod: dict[str, Any]) -> bool:
    """An unready pod may go when the budget says so (unhealthyPodEvictionPolicy)."""
    if is_ready(pod):
        return False
    policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") or "IfHealthyBudget"
    if policy == "AlwaysAllow":
        return True
    status = pdb.get("status") or {}
    return int(status.get("currentHealthy") or 0) >= int(status.get("desiredHealthy") or 0)


def _spend(pod_name: str, now: datetime) -> Any:
    def mutate(pdb: dict[str, Any]) -> dict[str, Any]:
        meta, status = pdb.get("metadata") or {}, pdb.get("status") or {}
        name = meta.get("name")
        if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 1):
            raise _too_many(f"The disruption budget {name} is still being processed by the server.")
        allowed = status.get("disruptionsAllowed") or 0
        if allowed < 0:
            raise errors.forbidden("pdb disruptions allowed is negative")
        if allowed == 0:
            raise _too_many(
                f"The disruption budget {name} needs {status.get('desiredHealthy') or 0} "
                f"healthy pods and has {status.get('currentHealthy') or 0} currently"
            )
        status["disruptionsAllowed"] = allowed - 1
        disrupted = status.get("disruptedPods") or {}
        disrupted[pod_name] = rfc3339(now)
        status["disruptedPods"] = disrupted
        pdb["status"] = status
        return pdb

    return mutate


async def evict(
    res: Resources,
    namespace: str,
    name: str,
    options: DeleteOptions,
    *,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Evict the pod or raise: 404 no pod, 429 the budget forbids it, 500 several budgets."""
    pods = registry.by_kind("Pod")
    pod = await res.get(pods, namespace, name)
    if not _ignores_budget(pod):
        budgets = registry.by_kind("PodDisruptionBudget")
        listed, _ = await res.list_objects(budgets, namespace)
        covering = [pdb for pdb in listed if selects(pdb, pod)]
        if len(covering) > 1:
            raise errors.internal(
                "This pod has more than one PodDisruptionBudget, which the eviction "
                "subresource does not support."
            )
        if covering and not _unhealthy_may_go(covering[0], pod):
            pdb_name = covering[0]["metadata"]["name"]
            await res.guaranteed_update(
                budgets,
                namespace,
                pdb_name,
                _spend(name, datetime.now(UTC)),
                subresource="status",
                dry_run=dry_run,
            )
    await res.delete(pods, namespace, name, options, dry_run=dry_run)
    return dict(SUCCESS)
