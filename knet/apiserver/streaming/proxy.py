"""``nodes/{name}/proxy/{path}``: a request relayed to the node's kubelet API, as upstream
(``kubectl get --raw /api/v1/nodes/<node>/proxy/healthz``, ``…/proxy/pods``).

Registered ahead of the generic resource routes. The body is read whole (capped) and the
answer copied as a stream. ``pods/proxy`` and ``services/proxy`` need a path from the API server
to pod addresses, which the local cluster does not route yet.
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from knet.api import registry
from knet.apiserver import errors
from knet.apiserver.keys import RESOURCES
from knet.apiserver.request import read_body
from knet.apiserver.streaming.dial import CONNECT_TIMEOUT, DIALER, kubelet_base, unreachable

COPIED_REQUEST_HEADERS = ("Accept", "Content-Type")
COPIED_RESPONSE_HEADERS = ("Content-Type",)


async def node_proxy(request: web.Request) -> web.StreamResponse:
    name, _, port = request.match_info["name"].partition(":")
    if port and not port.isdigit():
        raise errors.bad_request(f"invalid port {port!r} in node name")
    nodes = registry.lookup("", "v1", "nodes")
    assert nodes is not None
    node = await request.app[RESOURCES].get(nodes, None, name)
    base = kubelet_base(node)
    if port:
        base = base.rsplit(":", 1)[0] + ":" + port
    url = f"{base}/{request.match_info.get('path', '')}"
    body = await read_body(request) if request.can_read_body else None
    headers = {h: request.headers[h] for h in COPIED_REQUEST_HEADERS if h in request.headers}
    session = request.app[DIALER].session
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT + 1):
            upstream = await session.request(
                request.method, url, params=request.query, data=body, headers=headers
            )
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise unreachable(url, exc) from None
    async with upstream:
        resp = web.StreamResponse(
            status=upstream.status,
            headers={
                h: upstream.headers[h] for h in COPIED_RESPONSE_HEADERS if h in upstream.headers
            },
        )
        await resp.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await resp.write(chunk)
        except (aiohttp.ClientError, ConnectionResetError):
            return resp
        await resp.write_eof()
        return resp
