"""Reading what a pod refers to from the API server (I/O around sources.py)."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from knet.client import ApiClient, ApiConnectionError, ApiError
from kubelet_lite.volumes.sources import NodeCapacity, Sources


class FetchError(Exception):
    """The API server could not be asked (not a 404: that is a missing object)."""


async def _one(client: ApiClient, kind: str, name: str, namespace: str) -> Mapping[str, Any] | None:
    try:
        return await client.get(kind, name, namespace)
    except ApiError as exc:
        if exc.code == 404:
            return None
        raise FetchError(f"{kind.lower()} {namespace}/{name}: {exc}") from None
    except ApiConnectionError as exc:
        raise FetchError(f"{kind.lower()} {namespace}/{name}: {exc}") from None


async def fetch_sources(
    client: ApiClient, namespace: str, refs: Iterable[tuple[str, str]]
) -> Sources:
    """Every referenced object (None where the API says 404). Raises FetchError."""
    keys = sorted(set(refs))
    found = await asyncio.gather(*(_one(client, k, n, namespace) for k, n in keys))
    return Sources(namespace, dict(zip(keys, found, strict=True)))


@functools.cache
def node_capacity() -> NodeCapacity:
    """The node's CPUs and memory (what resourceFieldRef gives a container without limits)."""
    memory = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    memory = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return NodeCapacity(Decimal(os.cpu_count() or 1), memory)
