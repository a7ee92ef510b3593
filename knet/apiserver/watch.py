"""Serving a watch: chunked JSON lines of ADDED / MODIFIED / DELETED / BOOKMARK / ERROR.

One store watch per HTTP watch. The store bounds each watcher's queue and ends a watcher that falls
behind, so a slow client never blocks writers or other watchers; the client resumes from the last
resourceVersion it saw, as clients do.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from knet.api.registry import ResourceInfo
from knet.api.selectors import FieldSelector, LabelSelector
from knet.apiserver import errors, printers
from knet.apiserver import request as req
from knet.apiserver.keys import CONFIG, STOPPING
from knet.apiserver.negotiation import Output, choose_output
from knet.apiserver.resources import Resources, decode, matches
from knet.storage import CompactedError, Event, EventType, WatchClosedError


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


async def serve_watch(
    request: web.Request,
    res: Resources,
    info: ResourceInfo,
    namespace: str | None,
    labels: LabelSelector | None,
    fields: FieldSelector | None,
) -> web.StreamResponse:
    cfg = request.app[CONFIG]
    q = request.query
    output = choose_output(request.headers.get("Accept"))
    if output is None:
        raise errors.not_acceptable(request.headers.get("Accept", ""))
    if output is Output.YAML:
        output = Output.JSON
    include = q.get("includeObject", "Metadata")
    bookmarks = req.parse_bool(q.get("allowWatchBookmarks"), "allowWatchBookmarks")
    timeout = req.parse_int(q.get("timeoutSeconds"), "timeoutSeconds")
    if timeout is None:
        timeout = int(cfg.min_request_timeout * (1 + random.random()))
    rv_param = q.get("resourceVersion", "")
    start: int | None = None
    if rv_param not in ("", "0"):
        start = req.parse_int(rv_param, "resourceVersion")
        if start is None or start < 0:
            raise errors.bad_request(f'invalid resourceVersion "{rv_param}"')

    # Streaming lists (client-go's WatchListClient, on in kubectl >= 1.35): the current state as
    # ADDED events, then a bookmark marking the end of them, then changes.
    send_initial = q.get("sendInitialEvents")
    stream_list = send_initial is not None and req.parse_bool(send_initial, "sendInitialEvents")
    if send_initial is not None:
        if q.get("resourceVersionMatch") != "NotOlderThan":
            raise errors.bad_request(
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
            )
        if stream_list and not bookmarks:
            raise errors.bad_request("sendInitialEvents requires allowWatchBookmarks=true")

    encoder = _Encoder(info, output, include)
    prefix = info.key_prefix(namespace)
    initial: list[dict[str, Any]] = []
    if stream_list or (start is None and send_initial is None):
        # "Get state and start at most recent": synthetic ADDED for what exists, then changes.
        # (A stream list "not older than N" is served from the newest state, which is.)
        initial, start = await res.list_objects(info, namespace, labels, fields)
    elif start is None:
        start = res.store.revision  # sendInitialEvents=false: changes from now on only

    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.enable_chunked_encoding()
    try:
        store_watch = res.store.watch(prefix, start)
    except CompactedError as e:
        await resp.prepare(request)
        status = errors.too_old_resource_version(e.requested, e.compacted).status()
        await resp.write(encoder.line("ERROR", status))
        await resp.write_eof()
        return resp

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    next_bookmark = loop.time() + cfg.bookmark_interval
    last_rev = start
    events = aiter(store_watch)
    pending: asyncio.Future[Event] | None = None
    stopping = asyncio.ensure_future(request.app[STOPPING].wait())
    try:
        await resp.prepare(request)
        for obj in initial:
            await resp.write(encoder.line("ADDED", obj))
        if stream_list:
            end = {
                "kind": info.kind,
                "apiVersion": info.api_version,
                "metadata": {
                    "resourceVersion": str(start),
                    "annotations": {"k8s.io/initial-events-end": "true"},
                },
            }
            await resp.write(encoder.line("BOOKMARK", end))
        while True:
            now = loop.time()
            if now >= deadline:
                break
            if bookmarks and now >= next_bookmark:
                mark = {
                    "kind": info.kind,
                    "apiVersion": info.api_version,
                    "metadata": {"resourceVersion": str(last_rev)},
                }
                await resp.write(encoder.line("BOOKMARK", mark))
                next_bookmark = now + cfg.bookmark_interval
            wait = deadline - now
            if bookmarks:
                wait = min(wait, max(next_bookmark - now, 0.0))
            if pending is None:
                pending = asyncio.ensure_future(anext(events))
            waiting: set[asyncio.Future[Any]] = {pending, stopping}
            done, _ = await asyncio.wait(waiting, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                break  # the server is stopping: end the stream; clients resume elsewhere
            if not done:
                continue
            fut, pending = pending, None
            try:
                ev = fut.result()
            except (StopAsyncIteration, WatchClosedError):
                break
            except CompactedError as e:  # history went while the watch replayed it: 410
                status = errors.too_old_resource_version(e.requested, e.compacted).status()
                await resp.write(encoder.line("ERROR", status))
                break
            last_rev = ev.revision
            seen = _classify(info, ev, labels, fields)
            if seen is None:
                continue
            type_, obj = seen
            cached = None
            if output is Output.JSON:
                cached = ev.cache.get("json")
                if cached is None:
                    cached = ev.cache["json"] = orjson.dumps(obj)
            await resp.write(encoder.line(type_, obj, cached))
        await resp.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        stopping.cancel()
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        store_watch.close()
    return resp
