"""Serving a watch: chunked JSON lines of ADDED / MODIFIED / DELETED / BOOKMARK / ERROR.

With the watch cache on (the default), each HTTP watch follows its resource's cache
(`watchcache.py`): one store watch per resource, fanned out in memory. Without it, one store watch
per HTTP watch. Either way each watcher's queue is bounded and a watcher that falls behind is
ended, so a slow client never blocks writers or other watchers; the client resumes from the last
resourceVersion it saw, as clients do.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import HttpVersion11, web

from knet.api.registry import ResourceInfo
from knet.api.selectors import FieldSelector, LabelSelector
from knet.apiserver import errors, printers
from knet.apiserver import request as req
from knet.apiserver.keys import CONFIG, STOPPING
from knet.apiserver.negotiation import Output, choose_output
from knet.apiserver.resources import Resources
from knet.apiserver.selection import matches
from knet.apiserver.stored import decode
from knet.storage import CompactedError, Event, EventType, Watch, WatchClosedError

Obj = dict[str, Any]

MAX_WATCH_SECONDS = 365 * 24 * 3600
# How long a watch from a future resourceVersion waits for the store to get there before it is
# refused with "Too large resource version", as upstream's watch cache waits.
FRESHNESS_WAIT = 3.0


class _Encoder:
    """Turns (type, object) into one line, as JSON or as a one-row Table."""

    def __init__(self, info: ResourceInfo, output: Output, include_object: str) -> None:
        self.info = info
        self.output = output
        self.include_object = include_object
        self.headers_sent = False

    def line(self, type_: str, obj: dict[str, Any], cached: bytes | None = None) -> bytes:
        if self.output is Output.TABLE and type_ != "ERROR" and type_ != "BOOKMARK":
            table = printers.build_table(
                self.info.plural,
                [obj],
                now=datetime.now(UTC),
                resource_version=str(obj.get("metadata", {}).get("resourceVersion", "")),
                include_object=self.include_object,
                include_headers=not self.headers_sent,
            )
            self.headers_sent = True
            return orjson.dumps({"type": type_, "object": table}) + b"\n"
        body = cached if cached is not None else orjson.dumps(obj)
        return b'{"type":"' + type_.encode() + b'","object":' + body + b"}\n"


def _classify(
    info: ResourceInfo,
    ev: Event,
    labels: LabelSelector | None,
    fields: FieldSelector | None,
) -> tuple[str, dict[str, Any]] | None:
    """The event type this watcher sees. An object leaving the selector is DELETED for it, and
    one entering is ADDED, as upstream's watch cache reports them."""
    obj = ev.cache.get("obj")
    if obj is None:
        obj = ev.cache["obj"] = decode(ev.kv)
    if ev.type is EventType.DELETE:
        return ("DELETED", obj) if matches(info, obj, labels, fields) else None
    filtered = labels is not None or fields is not None
    if not filtered:
        return ("ADDED" if ev.prev_kv is None else "MODIFIED", obj)
    now_in = matches(info, obj, labels, fields)
    was_in = False
    if ev.prev_kv is not None:
        prev = ev.cache.get("prev")
        if prev is None:
            prev = ev.cache["prev"] = decode(ev.prev_kv)
        was_in = matches(info, prev, labels, fields)
    if now_in and was_in:
        return ("MODIFIED", obj)
    if now_in:
        return ("ADDED", obj)
    if was_in:
        return ("DELETED", obj)
    return None


@dataclass(frozen=True)
class WatchQuery:
    """A watch request's parameters, checked (400/406 on bad ones)."""

    output: Output
    include_object: str
    bookmarks: bool
    timeout: int
    start: int | None  # the resourceVersion to resume from; None: from the current state
    send_initial: bool | None  # sendInitialEvents, when given

    @property
    def stream_list(self) -> bool:
        """client-go's WatchListClient (kubectl >= 1.35): the current state as ADDED events,
        then a bookmark marking their end, then changes."""
        return self.send_initial is True


def parse_watch_query(request: web.Request, min_request_timeout: float) -> WatchQuery:
    q = request.query
    output = choose_output(request.headers.get("Accept"))
    if output is None:
        raise errors.not_acceptable(request.headers.get("Accept", ""))
    bookmarks = req.parse_bool(q.get("allowWatchBookmarks"), "allowWatchBookmarks")
    timeout = req.parse_int(q.get("timeoutSeconds"), "timeoutSeconds")
    if timeout is None:
        timeout = int(min_request_timeout * (1 + random.random()))
    # Any int64 is accepted, as upstream; past a year it means "until the server stops", and the
    # event loop's clock must not overflow on it.
    timeout = min(timeout, MAX_WATCH_SECONDS)
    rv_param = q.get("resourceVersion", "")
    start: int | None = None
    if rv_param not in ("", "0"):
        start = req.parse_int(rv_param, "resourceVersion")
        if start is None or start < 0:
            raise errors.bad_request(f'invalid resourceVersion "{rv_param}"')
    raw_initial = q.get("sendInitialEvents")
    send_initial = None
    if raw_initial is not None:
        send_initial = req.parse_bool(raw_initial, "sendInitialEvents")
        if q.get("resourceVersionMatch") != "NotOlderThan":
            raise errors.bad_request(
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
            )
        if send_initial and not bookmarks:
            raise errors.bad_request("sendInitialEvents requires allowWatchBookmarks=true")
    return WatchQuery(
        output=Output.JSON if output is Output.YAML else output,
        include_object=q.get("includeObject", "Metadata"),
        bookmarks=bookmarks,
        timeout=timeout,
        start=start,
        send_initial=send_initial,
    )


def _bookmark(info: ResourceInfo, revision: int, initial_events_end: bool = False) -> Obj:
    meta: Obj = {"resourceVersion": str(revision)}
    if initial_events_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": info.kind, "apiVersion": info.api_version, "metadata": meta}


@dataclass
class _Stream:
    """Writes one watcher's lines: events it sees, bookmarks when they are due."""

    resp: web.StreamResponse
    info: ResourceInfo
    query: WatchQuery
    labels: LabelSelector | None
    fields: FieldSelector | None
    encoder: _Encoder
    last_rev: int

    async def write(self, type_: str, obj: Obj, cached: bytes | None = None) -> None:
        await self.resp.write(self.encoder.line(type_, obj, cached))

    async def bookmark(self, initial_events_end: bool = False) -> None:
        await self.write("BOOKMARK", _bookmark(self.info, self.last_rev, initial_events_end))

    async def event(self, ev: Event) -> None:
        self.last_rev = ev.revision
        seen = _classify(self.info, ev, self.labels, self.fields)
        if seen is None:
            return
        type_, obj = seen
        cached = None
        if self.query.output is Output.JSON:
            cached = ev.cache.get("json")
            if cached is None:
                cached = ev.cache["json"] = orjson.dumps(obj)
        await self.write(type_, obj, cached)


async def _pump(
    stream: _Stream,
    events: AsyncIterator[Event],
    stopping: asyncio.Future[Any],
    bookmark_interval: float,
) -> None:
    """Relay store events until the timeout, the store ending the watch, or the server
    stopping (clients then resume elsewhere); bookmarks in between when asked for."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + stream.query.timeout
    next_bookmark = loop.time() + bookmark_interval
    pending: asyncio.Future[Event] | None = None
    try:
        while (now := loop.time()) < deadline:
            wait = deadline - now
            if stream.query.bookmarks:
                if now >= next_bookmark:
                    await stream.bookmark()
                    next_bookmark = now + bookmark_interval
                wait = min(wait, max(next_bookmark - now, 0.0))
            if pending is None:
                pending = asyncio.ensure_future(anext(events))
            waiting: set[asyncio.Future[Any]] = {pending, stopping}
            done, _ = await asyncio.wait(waiting, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                return
            if not done:
                continue
            fut, pending = pending, None
            try:
                ev = fut.result()
            except (StopAsyncIteration, WatchClosedError):
                return
            except CompactedError as e:  # history went while the watch replayed it: 410
                status = errors.too_old_resource_version(e.requested, e.compacted).status()
                await stream.write("ERROR", status)
                return
            await stream.event(ev)
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending


def _open_watch(res: Resources, info: ResourceInfo, namespace: str | None, start: int) -> Watch:
    """From the resource's watch cache when it is on (fan-out in memory), else from the store."""
    cache = res.watch_cache.get(info) if res.watch_cache is not None else None
    if cache is None:
        return res.store.watch(info.key_prefix(namespace), start)
    return cache.watch(info.key_prefix(namespace), start)


async def _wait_fresh(res: Resources, start: int) -> None:
    """A watch from a revision the store has not reached yet waits briefly for it, then is
    refused (504), as upstream; nothing past that point is ever handed to the store."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FRESHNESS_WAIT
    while start > res.store.revision and loop.time() < deadline:
        await asyncio.sleep(0.05)
    if start > res.store.revision:
        raise errors.too_large_resource_version(start, res.store.revision)


async def serve_watch(
    request: web.Request,
    res: Resources,
    info: ResourceInfo,
    namespace: str | None,
    labels: LabelSelector | None,
    fields: FieldSelector | None,
) -> web.StreamResponse:
    cfg = request.app[CONFIG]
    query = parse_watch_query(request, cfg.min_request_timeout)
    encoder = _Encoder(info, query.output, query.include_object)
    start = query.start
    initial: list[Obj] = []
    if query.stream_list or (start is None and query.send_initial is None):
        # "Get state and start at most recent": synthetic ADDED for what exists, then changes.
        # (A stream list "not older than N" is served from the newest state, which is.)
        initial, start = await res.list_objects(info, namespace, labels, fields)
    elif start is None:
        start = res.store.revision  # sendInitialEvents=false: changes from now on only
    else:
        await _wait_fresh(res, start)

    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    if request.version >= HttpVersion11:
        resp.enable_chunked_encoding()
    # An HTTP/1.0 client cannot read chunks: its events go out as they are, and the end of the
    # watch closes the connection (which aiohttp does for HTTP/1.0 without a length).
    try:
        store_watch = _open_watch(res, info, namespace, start)
    except CompactedError as e:
        await resp.prepare(request)
        status = errors.too_old_resource_version(e.requested, e.compacted).status()
        await resp.write(encoder.line("ERROR", status))
        await resp.write_eof()
        return resp

    stream = _Stream(resp, info, query, labels, fields, encoder, last_rev=start)
    stopping = asyncio.ensure_future(request.app[STOPPING].wait())
    try:
        await resp.prepare(request)
        for obj in initial:
            await stream.write("ADDED", obj)
        if query.stream_list:
            await stream.bookmark(initial_events_end=True)
        await _pump(stream, aiter(store_watch), stopping, cfg.bookmark_interval)
        await resp.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        stopping.cancel()
        store_watch.close()
    return resp
