"""One etcd watch stream behind the `Watch` interface, resumed across lost connections.

A reader task turns etcd's Watch stream into events in a bounded queue. When the stream breaks
(an etcd member restarted or went away), the task opens a new one from the revision after the
last event it handed on, so the consumer sees no gap and no repeat; if no member answers within
`reconnect_timeout`, the watch ends with WatchClosedError. A consumer that falls `queue_size`
events behind is ended at once, as with the other stores.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

import grpc

from knet.storage import etcd_wire as wire
from knet.storage.etcd_client import EtcdClient
from knet.storage.interface import (
    CompactedError,
    Event,
    StoreError,
    StoreUnavailableError,
    Watch,
    WatchClosedError,
)

log = logging.getLogger("knet.storage.etcd")

RETRY_DELAY = 0.2


class EtcdWatch(Watch):
    def __init__(
        self,
        client: EtcdClient,
        mount: wire.Mount,
        rng: tuple[bytes, bytes],
        after_revision: int,
        *,
        queue_size: int,
        reconnect_timeout: float,
        on_revision: Callable[[int], None],
        on_done: Callable[[EtcdWatch], None],
    ) -> None:
        self._client = client
        self._mount = mount
        self._range = rng
        self._cursor = after_revision  # revision of the last event queued
        self._queue: deque[Event] = deque()
        self._queue_size = queue_size
        self._reconnect_timeout = reconnect_timeout
        self._on_revision = on_revision
        self._on_done = on_done
        self._wakeup = asyncio.Event()
        self._error: StoreError | None = None
        self._closed = False
        self._lost_since: float | None = None
        self._task = asyncio.get_running_loop().create_task(self._run())

    def __aiter__(self) -> EtcdWatch:
        return self

    async def __anext__(self) -> Event:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._queue:
                return self._queue.popleft()
            if self._error is not None:
                raise self._error
            self._wakeup.clear()
            await self._wakeup.wait()

    def close(self) -> None:
        self._closed = True
        self._stop_task()
        self._wakeup.set()

    def fail(self, error: StoreError) -> None:
        """End the watch from the store's side: iteration raises `error` after what is queued."""
        if self._closed or self._error is not None:
            return
        self._error = error
        self._stop_task()
        self._wakeup.set()

    def _stop_task(self) -> None:
        if not self._task.done():
            self._task.cancel()
        self._on_done(self)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self._stream()
                return
            except StoreUnavailableError as e:
                now = loop.time()
                self._lost_since = now if self._lost_since is None else self._lost_since
                if now - self._lost_since > self._reconnect_timeout:
                    self._end(WatchClosedError(f"etcd watch lost: {e}"))
                    return
                log.debug("etcd watch stream lost (%s); resuming after %d", e, self._cursor)
                await asyncio.sleep(RETRY_DELAY)
            except StoreError as e:
                self._end(e)
                return

    def _end(self, error: StoreError) -> None:
        self._error = error
        self._wakeup.set()

    async def _stream(self) -> None:
        url, call = self._client.watch_stream()
        try:
            await call.write(wire.watch_create(self._range, self._cursor + 1))
            while True:
                msg = await call.read()
                if msg is grpc.aio.EOF:
                    raise StoreUnavailableError(f"etcd at {url} closed the watch stream")
                if msg.created:
                    self._lost_since = None  # connected again: a later loss starts a new clock
                self._handle(msg)
        except grpc.aio.AioRpcError as e:
            raise StoreUnavailableError(f"etcd watch at {url}: {e.details() or e.code()}") from None
        finally:
            call.cancel()

    def _handle(self, msg: wire.Pb) -> None:
        if msg.canceled:
            if msg.compact_revision:
                raise CompactedError(self._cursor, msg.compact_revision)
            raise WatchClosedError(f"etcd canceled the watch: {msg.cancel_reason}")
        if msg.header.revision:
            self._on_revision(msg.header.revision)
        # Behind means: more news while `queue_size` events still wait. One message may bring
        # a larger batch (etcd batches a watcher that was briefly out of sync); that alone is
        # not the consumer's fault.
        if msg.events and len(self._queue) >= self._queue_size:
            self._queue.clear()  # ended at once, as the hub ends a slow watcher
            raise WatchClosedError("watcher fell too far behind")
        for raw in msg.events:
            event = wire.event(self._mount, raw)
            self._queue.append(event)
            self._cursor = event.revision
        if self._queue:
            self._wakeup.set()
