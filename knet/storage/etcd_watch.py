"""One etcd watch stream behind the `Watch` interface, resumed across lost connections.

A reader task turns the gateway's stream into events in a bounded queue. When the connection
drops (an etcd member restarted, a proxy closed it), the task opens a new stream from the
revision after the last event it handed on, so the consumer sees no gap and no repeat; if no
member answers within `reconnect_timeout`, the watch ends with WatchClosedError. A consumer that
falls `queue_size` events behind is ended the same way, as with the other stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

import aiohttp
import orjson

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
        rng: tuple[str, str],
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
        lost_since: float | None = None
        while True:
            try:
                await self._stream()
                return
            except (StoreUnavailableError, aiohttp.ClientError, OSError) as e:
                now = loop.time()
                lost_since = now if lost_since is None else lost_since
                if now - lost_since > self._reconnect_timeout:
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
        body = wire.watch_create(self._range, self._cursor + 1)
        resp = await self._client.stream("watch", body)
        try:
            while True:
                line = await resp.content.readline()
                if not line:
                    raise StoreUnavailableError("etcd closed the watch stream")
                if line.strip():
                    self._handle(orjson.loads(line))
        finally:
            with contextlib.suppress(Exception):
                resp.close()

    def _handle(self, msg: wire.Json) -> None:
        if "error" in msg:
            err = msg["error"]
            raise StoreUnavailableError(f"etcd watch: {err.get('message', err)}")
        result = msg.get("result", {})
        if result.get("canceled"):
            compacted = int(result.get("compact_revision", 0))
            if compacted:
                raise CompactedError(self._cursor, compacted)
            raise WatchClosedError(f"etcd canceled the watch: {result.get('cancel_reason', '')}")
        revision = wire.header_revision(result)
        if revision:
            self._on_revision(revision)
        for raw in result.get("events", ()):
            event = wire.event(self._mount, raw)
            if len(self._queue) >= self._queue_size:
                self._queue.clear()  # ended at once, as the hub ends a slow watcher
                raise WatchClosedError("watcher fell too far behind")
            self._queue.append(event)
            self._cursor = event.revision
        if self._queue:
            self._wakeup.set()
