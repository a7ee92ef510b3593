"""Deleting an object, as kube-apiserver does: preconditions, the propagation policy as a
garbage-collector finalizer, graceful deletion of pods bound to a node, and finalizers that
hold an object (marked with a deletionTimestamp) until its owners finish."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from knet.api.registry import ResourceInfo
from knet.api.times import rfc3339
from knet.apiserver import errors
from knet.apiserver.errors import ApiError
from knet.apiserver.service_alloc import ServiceAllocations
from knet.apiserver.stored import decode, encode
from knet.storage import KeyNotFoundError, RevisionMismatchError, Store

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-node-lease", "kube-public")


@dataclass(frozen=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None


ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"


def gc_finalizers(finalizers: list[str], policy: str | None) -> list[str]:
    """The finalizers an object being deleted with `policy` carries (None keeps them)."""
    wanted = {"Orphan": ORPHAN_FINALIZER, "Foreground": FOREGROUND_FINALIZER}.get(policy or "")
    if policy is None:
        return finalizers
    out = [f for f in finalizers if f not in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)]
    if wanted is not None:
        out.append(wanted)
    return out


def finalized(obj: dict[str, Any]) -> bool:
    meta = obj.get("metadata", {})
    return (
        bool(meta.get("deletionTimestamp"))
        and not meta.get("finalizers")
        # A Namespace also waits for its spec.finalizers (emptied through /finalize).
        and not (obj.get("spec") or {}).get("finalizers")
        and (meta.get("deletionGracePeriodSeconds") in (None, 0))
    )


def graceful_seconds(info: ResourceInfo, obj: dict[str, Any], options: DeleteOptions) -> int | None:
    """Pods bound to a node end gracefully: the kubelet stops them, then deletes for good."""
    if info.kind != "Pod":
        return None
    spec = obj.get("spec") or {}
    phase = (obj.get("status") or {}).get("phase")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return None
    if options.grace_period_seconds is not None:
        return max(options.grace_period_seconds, 0)
    grace = spec.get("terminationGracePeriodSeconds", 30)
    return grace if isinstance(grace, int) else 30


def deletion_deadline(now: datetime, seconds: int) -> datetime:
    """now + the grace period; an int64 period can pass the calendar's end, so the deadline stops
    at the last representable second (the period itself is recorded as asked)."""
    latest = datetime.max.replace(tzinfo=UTC) - now
    return now + min(timedelta(seconds=min(seconds, latest.days * 86400)), latest)


async def delete(
    store: Store,
    services: ServiceAllocations,
    info: ResourceInfo,
    namespace: str | None,
    name: str,
    options: DeleteOptions,
    *,
    dry_run: bool = False,
) -> dict[str, Any]:
    key = info.key(namespace, name)
    if info.kind == "Namespace" and name in SYSTEM_NAMESPACES:
        # The system namespaces always exist (upstream's NamespaceLifecycle admission).
        raise errors.forbidden(
            f'namespaces "{name}" is forbidden: this namespace may not be deleted',
            {"name": name, "group": "", "kind": "namespaces"},
        )
    while True:
        kv = await store.get(key)
        if kv is None:
            raise errors.not_found(info, name)
        obj = decode(kv)
        meta = obj["metadata"]
        if options.precondition_uid and options.precondition_uid != meta.get("uid"):
            raise errors.conflict(info, name)
        if options.precondition_rv and options.precondition_rv != meta.get("resourceVersion"):
            raise errors.conflict(info, name)
        if dry_run:
            return obj
        graceful = graceful_seconds(info, obj, options)
        old_finalizers = list(meta.get("finalizers") or [])
        # The propagation policy becomes a finalizer the garbage collector acts on, as
        # upstream: "orphan" (dependents lose their ownerReferences first) or
        # "foregroundDeletion" (dependents are deleted first).
        finalizers = gc_finalizers(old_finalizers, options.propagation_policy)
        if finalizers != old_finalizers:
            if finalizers:
                meta["finalizers"] = finalizers
            else:
                meta.pop("finalizers", None)
        pending = list(finalizers)
        if info.kind == "Namespace" and (obj.get("spec") or {}).get("finalizers"):
            pending.append("kubernetes")  # the namespace controller empties it first
        if not pending and not graceful:
            try:
                return await delete_now(
                    store, services, info, namespace, name, kv.mod_revision, obj
                )
            except ApiError as e:
                if e.reason == "Conflict":
                    continue  # written since we read it: judge the delete again, as upstream
                raise
        # Graceful or finalized deletion: mark it, and let its owner (kubelet, controllers)
        # finish the job.
        shorter = graceful is not None and graceful < (meta.get("deletionGracePeriodSeconds") or 0)
        if meta.get("deletionTimestamp") and not shorter:
            if finalizers == old_finalizers:
                return obj
        else:
            meta["deletionTimestamp"] = rfc3339(deletion_deadline(datetime.now(UTC), graceful or 0))
            meta["deletionGracePeriodSeconds"] = graceful or 0
        if info.kind == "Namespace":
            obj.setdefault("status", {})["phase"] = "Terminating"
        meta.pop("resourceVersion", None)
        try:
            out = await store.update(key, encode(obj), expected_mod_revision=kv.mod_revision)
        except RevisionMismatchError:
            continue
        except KeyNotFoundError:
            raise errors.not_found(info, name) from None
        return decode(out)


async def delete_now(
    store: Store,
    services: ServiceAllocations,
    info: ResourceInfo,
    namespace: str | None,
    name: str,
    mod_revision: int,
    obj: dict[str, Any],
) -> dict[str, Any]:
    try:
        out = await store.delete(info.key(namespace, name), expected_mod_revision=mod_revision)
    except KeyNotFoundError:
        raise errors.not_found(info, name) from None
    except RevisionMismatchError:
        raise errors.conflict(info, name) from None
    if info.kind == "Service":
        await services.deleted(decode(out))
    return decode(out)
