"""``pods/exec``, ``pods/attach``, ``pods/portforward``: the client's WebSocket relayed to the
kubelet's.

Both hops speak the same channel framing (``channel``), so the API server checks the request,
dials the kubelet with the protocol the client chose (``v5.channel.k8s.io`` for kubectl 1.30+,
``v4.channel.k8s.io`` for the Python client's ``stream()``), and then copies messages both ways
untouched (kubectl's port-forward, SPDY inside a WebSocket, is ended here: ``tunnel``).
Everything that can fail before the upgrade (pod, container, node, kubelet) is
answered with a Status, so kubectl prints it; SPDY-only clients get upstream's 400.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import WSMsgType, web

from knet.api import registry
from knet.apiserver import errors
from knet.apiserver.errors import ApiError
from knet.apiserver.resources import Resources
from knet.apiserver.streaming import channel, tunnel
from knet.apiserver.streaming.dial import CONNECT_TIMEOUT, DIALER, unreachable
from knet.apiserver.streaming.logs import choose_container, node_of

MAX_MESSAGE = 4 * 1024 * 1024
PASSED = ("command", "stdin", "stdout", "stderr", "tty", "ports")


def wants_websocket(request: web.Request, ours: tuple[str, ...] = channel.PROTOCOLS) -> str:
    """The channel protocol the client asked for, or upstream's 400 for anything else."""
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise errors.bad_request(
            "Upgrade request required (this API server streams over WebSocket only: "
            "kubectl 1.30 or newer)"
        )
    chosen = channel.choose_protocol(request.headers.get("Sec-WebSocket-Protocol", ""), ours)
    if chosen is None:
        raise errors.bad_request(
            "unable to upgrade connection: none of the offered subprotocols is supported "
            f"(want one of {', '.join(ours)})"
        )
    return chosen


def check_pod_running(pod: dict[str, Any]) -> None:
    phase = (pod.get("status") or {}).get("phase")
    if phase != "Running":
        raise errors.bad_request(
            f"unable to forward port because pod is not running. Current status={phase}"
        )


def check_running(pod: dict[str, Any], container: str) -> None:
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise errors.bad_request(
            f"cannot exec into a container in a completed pod; current phase is {phase}"
        )
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == container and "running" in (cs.get("state") or {}):
            return
    raise errors.bad_request(f'unable to upgrade connection: container not found ("{container}")')


async def dial_kubelet(
    request: web.Request, url: str, protocol: str, query: list[tuple[str, str]]
) -> aiohttp.ClientWebSocketResponse:
    session = request.app[DIALER].session
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT + 1):
            return await session.ws_connect(
                url, protocols=(protocol,), params=query, max_msg_size=MAX_MESSAGE, autoping=True
            )
    except aiohttp.WSServerHandshakeError as exc:
        raise ApiError(
            exc.status if 400 <= exc.status < 500 else 503,
            "BadRequest" if 400 <= exc.status < 500 else "ServiceUnavailable",
            f"unable to upgrade connection: {exc.message}",
        ) from None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise unreachable(url, exc) from None


async def _copy(
    src: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    dst: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
) -> None:
    async for msg in src:
        if msg.type == WSMsgType.BINARY:
            await dst.send_bytes(msg.data)
        elif msg.type == WSMsgType.TEXT:
            await dst.send_str(msg.data)
        elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.ERROR):
            break


async def relay(client: web.WebSocketResponse, kubelet: aiohttp.ClientWebSocketResponse) -> None:
    """Copy both ways until either side closes; then close the other."""
    tasks = [
        asyncio.create_task(_copy(client, kubelet)),
        asyncio.create_task(_copy(kubelet, client)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await kubelet.close()
        await client.close()


async def serve_tunnel(request: web.Request, url: str, pod: str) -> web.StreamResponse:
    """kubectl's SPDY-in-WebSocket port-forward: one kubelet WebSocket per connection."""

    async def dial(port: int) -> aiohttp.ClientWebSocketResponse:
        return await dial_kubelet(request, url, channel.V4, [("ports", str(port))])

    ws = web.WebSocketResponse(protocols=(tunnel.PROTOCOL,), max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    await tunnel.Tunnel(ws, dial, pod).run()
    return ws


async def pod_stream(
    request: web.Request, res: Resources, namespace: str, name: str, sub: str
) -> web.StreamResponse:
    """``pods/exec``, ``pods/attach`` or ``pods/portforward``. What is wrong with the request is
    said before what is wrong with the protocol: kubectl retries a refused WebSocket with SPDY
    and shows that answer."""
    pods = registry.lookup("", "v1", "pods")
    assert pods is not None
    pod = await res.get(pods, namespace, name)
    if sub == "portforward":
        check_pod_running(pod)
        path = f"portForward/{quote(namespace)}/{quote(name)}"
        offered: tuple[str, ...] = (tunnel.PROTOCOL, channel.V4)
    else:
        container = choose_container(pod, request.query.get("container"))
        check_running(pod, container)
        if sub == "exec" and not request.query.getall("command", []):
            raise errors.bad_request("you must specify at least one command for the container")
        path = f"{sub}/{quote(namespace)}/{quote(name)}/{quote(container)}"
        offered = channel.PROTOCOLS
    base = await node_of(res, pod)
    protocol = wants_websocket(request, offered)
    if protocol == tunnel.PROTOCOL:
        return await serve_tunnel(request, f"{base}/{path}", name)
    query = [(k, v) for k, v in request.query.items() if k in PASSED]
    kubelet = await dial_kubelet(request, f"{base}/{path}", protocol, query)
    client = web.WebSocketResponse(protocols=(protocol,), max_msg_size=MAX_MESSAGE)
    try:
        await client.prepare(request)
    except BaseException:
        await kubelet.close()
        raise
    await relay(client, kubelet)
    return client
