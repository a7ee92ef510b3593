"""What every control loop shares: a context (client, shared informers) and a
`Controller` that runs workers over its work queue, calling `reconcile(key)` for each key."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from knet.api.objects import controller_uid_index, owner_uid_index
from knet.client import (
    NAMESPACE_INDEX,
    ApiClient,
    Informer,
    SharedInformerFactory,
    WorkQueue,
    namespace_index,
    object_key,
    process_items,
)
from knet.client.cache import IndexFunc
from knet.client.recorder import EventRecorder

log = logging.getLogger("knet.controllers")

OWNER_INDEX = "owner-uid"  # every owner's uid -> dependents
CONTROLLER_INDEX = "controller-uid"  # the controlling owner's uid -> dependents
NODE_INDEX = "node"


def _node_index(obj: dict[str, Any]) -> list[str]:
    spec = obj.get("spec") or {}
    name = spec.get("nodeName") if isinstance(spec, dict) else None
    return [name] if isinstance(name, str) and name else []


# The indexes every loop may rely on, so that one informer per kind serves them all.
STANDARD_INDEXERS: Mapping[str, IndexFunc] = {
    NAMESPACE_INDEX: namespace_index,
    OWNER_INDEX: owner_uid_index,
    CONTROLLER_INDEX: controller_uid_index,
}
POD_INDEXERS: Mapping[str, IndexFunc] = {**STANDARD_INDEXERS, NODE_INDEX: _node_index}


@dataclass
class ControllerContext:
    client: ApiClient
    factory: SharedInformerFactory

    def informer(self, kind: str) -> Informer:
        """The shared informer for every object of `kind`, with the standard indexes."""
        indexers = POD_INDEXERS if kind == "Pod" else STANDARD_INDEXERS
        return self.factory.informer(kind, indexers=indexers)


class Controller:
    """Subclasses set `name`, register handlers in `__init__`, and implement `reconcile`."""

    name = "controller"
    component = ""  # the Events' source, as upstream names it; default "<name>-controller"
    workers = 2

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.recorder = EventRecorder(ctx.client, self.component or f"{self.name}-controller")
        self.queue: WorkQueue[str] = WorkQueue(name=self.name)

    def enqueue(self, obj: Mapping[str, Any]) -> None:
        self.queue.add(object_key(obj))

    def enqueue_after(self, obj: Mapping[str, Any], delay: float) -> None:
        self.queue.add_after(object_key(obj), delay)

    async def reconcile(self, key: str) -> None:
        raise NotImplementedError

    async def _reconcile_logged(self, key: str) -> None:
        try:
            await self.reconcile(key)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            # process_items requeues with backoff; a short line beats a traceback per retry
            log.info("%s: %s: %s: %s", self.name, key, type(e).__name__, e)
            raise

    async def start(self) -> None:
        """Anything the loop must do once caches are synced and before workers start."""

    async def run(self) -> None:
        """Work until cancelled."""
        await self.start()
        workers = [
            asyncio.create_task(process_items(self.queue, self._reconcile_logged))
            for _ in range(self.workers)
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            self.queue.shut_down()
            await self.recorder.close()
            for w in workers:
                w.cancel()
            for w in workers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await w
