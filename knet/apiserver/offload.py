"""Keeping heavy encoding and decoding off the event loop.

One large YAML rendering or body decode holds the loop for seconds, and every other request
(health checks included) waits behind it. Past a size threshold such work runs in a worker
thread: the GIL is still shared, but the interpreter switches threads every few milliseconds, so
the loop keeps answering.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import yaml
from aiohttp import web

T = TypeVar("T")

# Below this many bytes the work takes well under a millisecond: a thread hop would cost more.
OFFLOAD_BYTES = 64 * 1024


async def maybe_offload(size: int, fn: Callable[..., T], *args: Any) -> T:
    """fn(*args), in a worker thread when `size` says the work is large."""
    if size < OFFLOAD_BYTES:
        return fn(*args)
    return await asyncio.to_thread(fn, *args)


def dump_yaml(body: Any) -> str:
    # libyaml's emitter: several times faster than the pure-Python one, same output.
    return yaml.dump(body, Dumper=yaml.CSafeDumper, sort_keys=False)


class YamlResponse(web.Response):
    """A YAML reply whose text is rendered off the loop when the reply is sent (handlers build
    responses synchronously)."""

    def __init__(self, body: Any, *, items: int, **kwargs: Any) -> None:
        super().__init__(content_type="application/yaml", **kwargs)
        self._doc = body
        self._items = items

    async def prepare(self, request: web.BaseRequest) -> Any:
        if self._doc is not None:
            # Items stand in for size: a list is what gets large.
            size = OFFLOAD_BYTES if self._items > 100 else 0
            self.text = await maybe_offload(size, dump_yaml, self._doc)
            self._doc = None
        return await super().prepare(request)
