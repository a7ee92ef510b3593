"""Informers: a cache of one resource kept current by list-then-watch, and handlers told of
every change.

An `Informer` is shared by design: any number of handlers hang off one cache and one watch.
`SharedInformerFactory` hands out one informer per (kind, namespace, selectors), so that the
controllers of one process share them, as client-go's factory does.

The cache is updated before handlers run, and handlers run one event at a time in the order the
events arrived, so a handler always sees a cache at least as new as its event. Handlers should be
quick (enqueue a key on a `WorkQueue`); they may be plain functions or coroutines. An exception in
a handler is logged, never fatal to the informer.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from knet.client.cache import Cache, IndexFunc, Obj, object_key
from knet.client.events import DELETED, Synced, WatchEvent
from knet.client.rest import ApiClient, Selector, selector_text
from knet.client.watch import Backoff, list_then_watch

log = logging.getLogger("knet.client.informer")

AddHandler = Callable[[Obj], Awaitable[None] | None]
UpdateHandler = Callable[[Obj, Obj], Awaitable[None] | None]  # (old, new)
DeleteHandler = Callable[[Obj], Awaitable[None] | None]


@dataclass(frozen=True)
class EventHandlers:
    on_add: AddHandler | None = None
    on_update: UpdateHandler | None = None
    on_delete: DeleteHandler | None = None


async def _call(fn: Callable[..., Awaitable[None] | None] | None, *args: Obj) -> None:
    if fn is None:
        return
    try:
        result = fn(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("informer handler %r failed", fn)


class Informer:
    def __init__(
        self,
        client: ApiClient,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: Selector | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        resync_period: float | None = None,
        watch_timeout: int = 300,
        backoff: Backoff | None = None,
    ) -> None:
        self.client = client
        self.kind = kind
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.cache = Cache(indexers)
        self.resync_period = resync_period
        self.watch_timeout = watch_timeout
        self.backoff = backoff
        self._handlers: list[EventHandlers] = []
        self._synced = asyncio.Event()
        self._dispatch_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None

    # ------------------------------------------------------------------ handlers

    def add_handler(
        self,
        on_add: AddHandler | None = None,
        on_update: UpdateHandler | None = None,
        on_delete: DeleteHandler | None = None,
    ) -> EventHandlers:
        """Register handlers. Added after start, they first get an on_add for every cached
        object (so every handler sees each object's add before its updates)."""
        handlers = EventHandlers(on_add, on_update, on_delete)
        if self._task is None:
            self._handlers.append(handlers)
        else:
            self._spawn(self._register_late(handlers))
        return handlers

    async def _register_late(self, handlers: EventHandlers) -> None:
        async with self._dispatch_lock:
            for obj in self.cache.list():
                await _call(handlers.on_add, obj)
            self._handlers.append(handlers)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # ------------------------------------------------------------------ lifecycle

    @property
    def has_synced(self) -> bool:
        """True once the first list has been applied to the cache and its handlers have run."""
        return self._synced.is_set()

    @property
    def error(self) -> BaseException | None:
        """Why the informer stopped, if it stopped on an error it cannot retry."""
        return self._error

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is not None:
            return
        self._task = asyncio.create_task(self.run(), name=f"informer-{self.kind}")
        if self.resync_period:
            self._spawn(self._resync_loop(self.resync_period))

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Wait for the first list to be in the cache: True, or False on timeout. Raises the
        informer's error if it failed (a bad selector, say) instead of waiting forever."""
        if self._task is None:
            raise RuntimeError(f"informer for {self.kind} was never started")
        synced = asyncio.ensure_future(self._synced.wait())
        try:
            await asyncio.wait(
                {synced, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            synced.cancel()
        if self._synced.is_set():
            return True
        if self._task.done() and not self._task.cancelled():
            error = self._task.exception()
            if error is not None:
                raise error
            raise RuntimeError(f"informer for {self.kind} stopped before it synced")
        return False

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._side_tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def run(self) -> None:
        """Keep the cache current until cancelled."""
        stream = list_then_watch(
            self.client,
            self.kind,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            watch_timeout=self.watch_timeout,
            backoff=self.backoff,
        )
        try:
            async for item in stream:
                if isinstance(item, Synced):
                    self._synced.set()
                    continue
                async with self._dispatch_lock:
                    await self._dispatch(item)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._error = e
            log.error("informer for %s stopped: %s", self.kind, e)
            raise
        finally:
            await stream.aclose()

    async def _dispatch(self, event: WatchEvent) -> None:
        obj = event.object
        if event.type == DELETED:
            old = self.cache.remove(object_key(obj))
            if old is not None:
                for h in list(self._handlers):
                    await _call(h.on_delete, obj)
            return
        old = self.cache.upsert(obj)
        for h in list(self._handlers):
            if old is None:
                await _call(h.on_add, obj)
            else:
                await _call(h.on_update, old, obj)

    async def _resync_loop(self, period: float) -> None:
        """Every `period`, on_update(obj, obj) for every cached object, as client-go's resync:
        a controller gets to re-check state that no event would make it look at again."""
        while True:
            await asyncio.sleep(period)
            if not self.has_synced:
                continue
            async with self._dispatch_lock:
                for obj in self.cache.list():
                    for h in list(self._handlers):
                        await _call(h.on_update, obj, obj)


class SharedInformerFactory:
    """One informer per (kind, namespace, selectors) for everything in a process."""

    def __init__(
        self,
        client: ApiClient,
        *,
        resync_period: float | None = None,
        watch_timeout: int = 300,
        backoff: Backoff | None = None,
    ) -> None:
        self.client = client
        self.resync_period = resync_period
        self.watch_timeout = watch_timeout
        self.backoff = backoff
        self._informers: dict[tuple[str, str | None, str | None, str | None], Informer] = {}
        self._started = False

    def informer(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: Selector | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
    ) -> Informer:
        """The shared informer for these parameters; indexers not yet present are added."""
        key = (kind, namespace, selector_text(label_selector), field_selector)
        inf = self._informers.get(key)
        if inf is None:
            inf = Informer(
                self.client,
                kind,
                namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                indexers=indexers,
                resync_period=self.resync_period,
                watch_timeout=self.watch_timeout,
                backoff=self.backoff,
            )
            self._informers[key] = inf
            if self._started:
                inf.start()
        elif indexers:
            missing = {n: f for n, f in indexers.items() if n not in inf.cache.index_names()}
            inf.cache.add_indexers(missing)
        return inf

    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    def start(self) -> None:
        """Start every informer made so far, and any made later."""
        self._started = True
        for inf in self._informers.values():
            inf.start()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        """True once every informer has synced; False on timeout."""
        waits = [inf.wait_for_sync() for inf in self._informers.values()]
        try:
            results = await asyncio.wait_for(asyncio.gather(*waits), timeout)
        except TimeoutError:
            return False
        return all(results)

    async def stop(self) -> None:
        for inf in self._informers.values():
            await inf.stop()
