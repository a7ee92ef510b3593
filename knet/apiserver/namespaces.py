"""Namespace admission (upstream's NamespaceLifecycle): namespaced objects are created only in
a namespace that exists and is not terminating. A store watch keeps each namespace's state, so
the common case (an active namespace) needs no store read."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from knet.api import registry
from knet.api.registry import ResourceInfo
from knet.apiserver import errors
from knet.apiserver.stored import decode
from knet.storage import EventType, Store, StoreError, StoreUnavailableError


def terminating(ns: dict[str, Any]) -> bool:
    return bool(ns.get("metadata", {}).get("deletionTimestamp")) or (
        (ns.get("status") or {}).get("phase") == "Terminating"
    )


class NamespaceAdmission:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._terminating: dict[str, bool] = {}  # name -> terminating?, as the watch last saw
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        prefix = registry.by_kind("Namespace").key_prefix(None)
        while True:
            try:
                kvs, rev = await self.store.range(prefix)
                self._terminating = {
                    decode(kv)["metadata"]["name"]: terminating(decode(kv)) for kv in kvs
                }
                async for ev in self.store.watch(prefix, rev):
                    obj = decode(ev.kv)
                    name = obj["metadata"]["name"]
                    if ev.type is EventType.DELETE:
                        self._terminating.pop(name, None)
                    else:
                        self._terminating[name] = terminating(obj)
            except StoreUnavailableError:
                await asyncio.sleep(0.5)  # the store (etcd) is away: list again when it is back
            except StoreError:
                continue  # fell behind or compacted: list again

    async def admit(self, info: ResourceInfo, namespace: str | None, name: str) -> None:
        """404 if the namespace does not exist, 403 if it is terminating."""
        if not info.namespaced:
            return
        assert namespace is not None
        if self._terminating.get(namespace) is False:
            return  # active, as the namespace watch last saw it: the common case, no store read
        ns_info = registry.by_kind("Namespace")
        kv = await self.store.get(ns_info.key(None, namespace))
        if kv is None:
            raise errors.namespace_not_found(namespace)
        if terminating(decode(kv)):
            raise errors.forbidden(
                f'{info.qualified} "{name}" is forbidden: unable to create new '
                f"content in namespace {namespace} because it is being terminated",
                {"group": info.group, "kind": info.plural},
            )
