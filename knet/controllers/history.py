"""ControllerRevisions, the template history of DaemonSets and StatefulSets (upstream's
controller/history and the owners' getPatch). Pure.

A revision's `data` is the patch that puts its template back on the owner
(`{"spec": {"template": {..., "$patch": "replace"}}}`), which is what `kubectl rollout undo`
applies; its name is `<owner>-<hash of that data>`; its `revision` number only grows, and
an undo to an older template renumbers that revision as the newest, as upstream does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from knet.api.objects import Obj, controller_ref, labels_of, meta, name_of, uid_of
from knet.controllers.deploymentutil import template_hash

REVISION_HASH_LABEL = "controller-revision-hash"


def revision_data(owner: Mapping[str, Any]) -> Obj:
    template = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def revision_hash(owner: Mapping[str, Any], collision_count: int | None = None) -> str:
    return template_hash(revision_data(owner), collision_count)


def revision_number(cr: Mapping[str, Any]) -> int:
    value = cr.get("revision")
    return value if isinstance(value, int) else 0


def max_revision(revisions: Iterable[Mapping[str, Any]]) -> int:
    return max((revision_number(r) for r in revisions), default=0)


def owned_by(owner: Mapping[str, Any], revisions: Iterable[Obj]) -> list[Obj]:
    uid = uid_of(owner)
    return [r for r in revisions if (controller_ref(r) or {}).get("uid") == uid]


def find_equal(owner: Mapping[str, Any], revisions: Sequence[Obj]) -> Obj | None:
    """The newest revision holding the owner's current template."""
    data = revision_data(owner)
    equal = [r for r in revisions if r.get("data") == data]
    return max(equal, key=revision_number) if equal else None


def new_revision(
    owner: Mapping[str, Any],
    api_version: str,
    kind: str,
    number: int,
    collision_count: int | None = None,
) -> Obj:
    """The revision recording the owner's current template (upstream NewControllerRevision)."""
    h = revision_hash(owner, collision_count)
    template_labels = ((owner.get("spec") or {}).get("template") or {}).get("metadata") or {}
    labels = dict(template_labels.get("labels") or {})
    labels[REVISION_HASH_LABEL] = h
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": f"{name_of(owner)}-{h}",
            "namespace": meta(owner).get("namespace"),
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": api_version,
                    "kind": kind,
                    "name": name_of(owner),
                    "uid": uid_of(owner),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": revision_data(owner),
        "revision": number,
    }


def to_prune(revisions: Sequence[Obj], live: set[str], limit: int) -> list[Obj]:
    """Old revisions beyond the history limit, oldest first, never one still in use (`live`
    holds the names of the revisions pods or the owner's status point at)."""
    old = sorted((r for r in revisions if name_of(r) not in live), key=revision_number)
    excess = len(old) - max(limit, 0)
    return old[:excess] if excess > 0 else []


def pod_revision_hash(pod: Mapping[str, Any]) -> str:
    return labels_of(pod).get(REVISION_HASH_LABEL, "")
