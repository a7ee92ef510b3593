"""``GET pods/{name}/log``: the container's log, streamed from its node's kubelet.

The API server checks what it can answer itself (the pod, the container, the node) with
upstream's messages, then hands the kubelet the client's options and copies the stream through
as it arrives; a follow ends when the kubelet ends it (the container ended) or the client leaves.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from knet.api import registry
from knet.apiserver import errors
from knet.apiserver.resources import Resources
from knet.apiserver.streaming.dial import (
    CONNECT_TIMEOUT,
    DIALER,
    kubelet_base,
    kubelet_error,
    unreachable,
)

# The options the kubelet takes, passed through as given (it validates them).
PASSED = (
    "follow",
    "tailLines",
    "sinceSeconds",
    "sinceTime",
    "timestamps",
    "previous",
    "limitBytes",
)


def container_names(pod: dict[str, Any]) -> list[str]:
    spec = pod.get("spec") or {}
    return [str(c.get("name")) for c in spec.get("containers") or []]


def all_container_names(pod: dict[str, Any]) -> list[str]:
    spec = pod.get("spec") or {}
    return [
        str(c.get("name"))
        for key in ("initContainers", "containers", "ephemeralContainers")
        for c in spec.get(key) or []
    ]


def choose_container(pod: dict[str, Any], asked: str | None) -> str:
    """The container a log (or exec, attach) request means, or upstream's 400."""
    name = (pod.get("metadata") or {}).get("name", "")
    if not asked:
        names = container_names(pod)
        if len(names) == 1:
            return names[0]
        choices = " ".join(all_container_names(pod))
        raise errors.bad_request(
            f"a container name must be specified for pod {name}, choose one of: [{choices}]"
        )
    if asked not in all_container_names(pod):
        raise errors.bad_request(f"container {asked} is not valid for pod {name}")
    return asked


async def node_of(res: Resources, pod: dict[str, Any]) -> str:
    """``https://ip:port`` of the kubelet that runs ``pod``."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    node_name = spec.get("nodeName")
    if not node_name:
        raise errors.bad_request(f"pod {meta.get('name', '')} does not have a host assigned")
    nodes = registry.lookup("", "v1", "nodes")
    assert nodes is not None
    return kubelet_base(await res.get(nodes, None, node_name))


async def pod_log(
    request: web.Request, res: Resources, namespace: str, name: str
) -> web.StreamResponse:
    pods = registry.lookup("", "v1", "pods")
    assert pods is not None
    pod = await res.get(pods, namespace, name)
    container = choose_container(pod, request.query.get("container"))
    base = await node_of(res, pod)
    query = {k: request.query[k] for k in PASSED if k in request.query}
    url = f"{base}/containerLogs/{quote(namespace)}/{quote(name)}/{quote(container)}"
    session = request.app[DIALER].session
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT + 1):
            upstream = await session.get(url, params=query)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise unreachable(url, exc) from None
    async with upstream:
        if upstream.status >= 300:
            raise await kubelet_error(upstream)
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        if request.version >= aiohttp.HttpVersion11:  # HTTP/1.0 cannot read chunks
            resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await resp.write(chunk)
        except (aiohttp.ClientError, ConnectionResetError):
            return resp  # either side went away mid-stream: the stream just ends
        await resp.write_eof()
        return resp
