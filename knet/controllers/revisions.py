"""Writing ControllerRevisions for an owner (DaemonSet, StatefulSet): find or create the
revision of its current template, and prune old ones. The decisions are history.py's."""

from __future__ import annotations

from collections.abc import Iterable

from knet.api.objects import Obj, controller_ref, labels_of, name_of, namespace_of
from knet.client import ApiClient, ApiError, is_not_found
from knet.controllers import history


async def ensure_revision(
    client: ApiClient, owner: Obj, revisions: list[Obj], api_version: str, kind: str
) -> Obj:
    """The revision of the owner's current template: found (and renumbered as the newest if an
    undo brought an old template back, as upstream does) or created."""
    top = history.max_revision(revisions)
    equal = history.find_equal(owner, revisions)
    if equal is not None:
        if history.revision_number(equal) < top:
            return await client.patch(
                "ControllerRevision",
                name_of(equal),
                {"revision": top + 1},
                namespace=namespace_of(owner),
            )
        return equal
    collision = (owner.get("status") or {}).get("collisionCount")
    wanted = history.new_revision(owner, api_version, kind, top + 1, collision)
    try:
        return await client.create(wanted)
    except ApiError as e:
        if e.code != 409:
            raise
    existing = await client.get("ControllerRevision", name_of(wanted), namespace_of(owner))
    if existing.get("data") == wanted["data"] and controller_ref(existing) is not None:
        return existing
    # A hash collision with another template: count it, so that the next name differs.
    await client.patch_status(
        kind,
        name_of(owner),
        {"status": {"collisionCount": int(collision or 0) + 1}},
        namespace=namespace_of(owner),
    )
    raise RuntimeError(f"revision name {name_of(wanted)} collides; retrying")


async def prune_revisions(
    client: ApiClient, owner: Obj, revisions: list[Obj], live: Iterable[str]
) -> None:
    """Delete revisions beyond revisionHistoryLimit that nothing uses (`live`: names in use)."""
    limit = (owner.get("spec") or {}).get("revisionHistoryLimit")
    limit = limit if isinstance(limit, int) else 10
    for r in history.to_prune(revisions, set(live), limit):
        try:
            await client.delete("ControllerRevision", name_of(r), namespace_of(r))
        except ApiError as e:
            if not is_not_found(e):
                raise


def names_for_hashes(revisions: Iterable[Obj], hashes: set[str]) -> set[str]:
    return {
        name_of(r) for r in revisions if labels_of(r).get(history.REVISION_HASH_LABEL) in hashes
    }
