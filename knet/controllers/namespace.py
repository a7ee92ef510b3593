"""The namespace controller: a Namespace being deleted (Terminating) has everything in it
deleted, and once nothing is left its "kubernetes" finalizer is removed through
PUT namespaces/{name}/finalize, which lets the API server delete the Namespace itself."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from knet.api import registry
from knet.api.objects import Obj, is_deleting, name_of
from knet.client import ApiError, is_conflict, is_not_found
from knet.client.paths import item_path
from knet.controllers.base import Controller, ControllerContext

log = logging.getLogger("knet.controllers.namespace")

FINALIZER = "kubernetes"
# Deleting owners first lets the garbage collector and the controllers see their intent before
# their pods vanish, so nothing is recreated meanwhile (the server refuses new content anyway).
_ORDER = ("Deployment", "ReplicaSet")
_RECHECK = 1.0  # seconds between looks at a namespace whose content is still going away


def content_kinds() -> list[str]:
    """Every namespaced kind the API serves, owners first."""
    kinds = [r.kind for r in registry.RESOURCES if r.namespaced and "delete" in r.verbs]
    return sorted(kinds, key=lambda k: (_ORDER.index(k) if k in _ORDER else len(_ORDER), k))


def finalized_spec(ns: Mapping[str, Any]) -> list[str]:
    finalizers = (ns.get("spec") or {}).get("finalizers") or []
    return [f for f in finalizers if f != FINALIZER]


class NamespaceController(Controller):
    name = "namespace"
    workers = 2

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.namespaces = ctx.informer("Namespace")
        self.namespaces.add_handler(self._on_ns, lambda _o, new: self._on_ns(new))

    def _on_ns(self, ns: Obj) -> None:
        if is_deleting(ns):
            self.enqueue(ns)

    async def reconcile(self, key: str) -> None:
        ns = self.namespaces.cache.get(key)
        if ns is None or not is_deleting(ns):
            return
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return
        remaining = 0
        for kind in content_kinds():
            items, _ = await self.client.list(kind, key)
            for item in items:
                remaining += 1
                if is_deleting(item):
                    continue
                try:
                    await self.client.delete(kind, name_of(item), key)
                except ApiError as e:
                    if not (is_not_found(e) or is_conflict(e)):
                        raise
        if remaining:
            log.info("namespace %s: %d objects still being deleted", key, remaining)
            self.queue.add_after(key, _RECHECK)
            return
        await self._finalize(ns)

    async def _finalize(self, ns: Obj) -> None:
        info = registry.by_kind("Namespace")
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": dict(ns.get("metadata") or {}),
            "spec": {**(ns.get("spec") or {}), "finalizers": finalized_spec(ns)},
        }
        path = item_path(info, None, name_of(ns)) + "/finalize"
        try:
            await self.client.request("PUT", path, body=body)
        except ApiError as e:
            if is_not_found(e):
                return
            raise
        log.info("namespace %s: finalized", name_of(ns))
