"""``pods/{name}[:port]/proxy/…`` and ``services/{[scheme:]name[:port]}/proxy/…``: an HTTP
request relayed to a pod (for a Service, a ready endpoint picked from its EndpointSlices), as
``kubectl proxy`` users reach them.

The API server has no route to pod addresses (they are routed between node namespaces only),
so the request travels the way port-forward does: a ``v4.channel.k8s.io`` WebSocket to the
pod's kubelet, which connects inside the pod's network namespace. One HTTP/1.0 exchange per
request (``proxyhttp``); the answer is streamed back as it arrives. Errors are upstream's
Statuses (``no endpoints available for service "web"``, ``error trying to reach service: …``).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import WSMsgType, web

from knet.api import registry
from knet.api.selectors import parse_label_selector
from knet.apiserver import errors
from knet.apiserver.errors import ApiError
from knet.apiserver.keys import RESOURCES
from knet.apiserver.request import read_body
from knet.apiserver.streaming import channel, proxyhttp
from knet.apiserver.streaming.exec import dial_kubelet
from knet.apiserver.streaming.logs import node_of

PASSED_HEADERS = ("Accept", "Content-Type", "User-Agent")
RNG = random.Random()


async def channels(ws: aiohttp.ClientWebSocketResponse) -> AsyncIterator[tuple[int, bytes]]:
    """(channel, payload) from the kubelet, each channel's 2-byte port prefix removed."""
    left = {0: 2, 1: 2}
    async for msg in ws:
        if msg.type != WSMsgType.BINARY:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.ERROR):
                return
            continue
        ch, payload = channel.parse(msg.data)
        if ch not in left:
            continue
        skip = min(left[ch], len(payload))
        left[ch] -= skip
        if payload[skip:]:
            yield ch, payload[skip:]


def unreachable(text: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", f"error trying to reach service: {text}")


async def exchange(
    request: web.Request, pod: dict[str, Any], port: int, host: str
) -> web.StreamResponse:
    """One HTTP request to ``port`` inside ``pod``, its answer streamed back."""
    meta = pod.get("metadata") or {}
    base = await node_of(request.app[RESOURCES], pod)
    url = f"{base}/portForward/{quote(meta.get('namespace', ''))}/{quote(meta.get('name', ''))}"
    body = await read_body(request) if request.can_read_body else b""
    headers = {h: request.headers[h] for h in PASSED_HEADERS if h in request.headers}
    path = request.match_info.get("path", "")
    raw = proxyhttp.request_bytes(request.method, path, request.query_string, host, headers, body)
    ws = await dial_kubelet(request, url, channel.V4, [("ports", str(port))])
    try:
        await ws.send_bytes(channel.frame(0, raw))
        stream = channels(ws)
        buf = b""
        async for ch, data in stream:
            if ch == 1:
                raise unreachable(data.decode(errors="replace").strip())
            buf += data
            if b"\r\n\r\n" in buf or len(buf) > proxyhttp.MAX_HEAD:
                break
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if not sep:
            raise unreachable("EOF before the backend's answer")
        parsed = proxyhttp.parse_head(head)
        resp = web.StreamResponse(status=parsed.status)
        for name, value in parsed.headers:
            resp.headers.add(name, value)
        await resp.prepare(request)
        try:
            if rest:
                await resp.write(rest)
            async for ch, data in stream:
                if ch == 0:
                    await resp.write(data)
            await resp.write_eof()
        except (aiohttp.ClientError, ConnectionResetError):
            pass  # either side went away mid-answer: the answer just ends
        return resp
    finally:
        await ws.close()


def pod_port(pod: dict[str, Any], port: str) -> int:
    """A port number, or the number of the container port with that name; 80 when none."""
    if not port:
        return 80
    if port.isdigit() and 0 < int(port) < 65536:
        return int(port)
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == port:
                return int(p.get("containerPort") or 0)
    name = (pod.get("metadata") or {}).get("name", "")
    raise errors.bad_request(f'no port named "{port}" in pod "{name}"')


async def pod_proxy(request: web.Request) -> web.StreamResponse:
    ns, raw = request.match_info["namespace"], request.match_info["name"]
    target = proxyhttp.split_scheme_name_port(raw)
    if target is None:
        raise errors.bad_request(f'invalid pod request "{raw}"')
    if target.scheme == "https":
        raise errors.bad_request("https backends are not proxied by this API server")
    pods = registry.lookup("", "v1", "pods")
    assert pods is not None
    pod = await request.app[RESOURCES].get(pods, ns, target.name)
    ip = (pod.get("status") or {}).get("podIP")
    if not ip:
        raise ApiError(503, "ServiceUnavailable", f'pod "{target.name}" has no IP address yet')
    port = pod_port(pod, target.port)
    return await exchange(request, pod, port, f"{ip}:{port}")


async def service_proxy(request: web.Request) -> web.StreamResponse:
    ns, raw = request.match_info["namespace"], request.match_info["name"]
    target = proxyhttp.split_scheme_name_port(raw)
    if target is None:
        raise errors.bad_request(f'invalid service request "{raw}"')
    if target.scheme == "https":
        raise errors.bad_request("https backends are not proxied by this API server")
    res = request.app[RESOURCES]
    services = registry.lookup("", "v1", "services")
    slices = registry.lookup("discovery.k8s.io", "v1", "endpointslices")
    pods = registry.lookup("", "v1", "pods")
    assert services is not None and slices is not None and pods is not None
    svc = await res.get(services, ns, target.name)
    owned = parse_label_selector(f"kubernetes.io/service-name={target.name}")
    found, _ = await res.list_objects(slices, ns, owned)
    ep = proxyhttp.pick_endpoint(svc, found, raw, RNG)
    pod = await res.get(pods, ep.namespace or ns, ep.pod)
    return await exchange(request, pod, ep.port, f"{ep.ip}:{ep.port}")


def setup(app: web.Application) -> None:
    """Routes ahead of the generic resource routes."""
    for kind, handler in (("pods", pod_proxy), ("services", service_proxy)):
        base = f"/api/v1/namespaces/{{namespace}}/{kind}/{{name}}/proxy"
        app.router.add_route("*", base, handler)
        app.router.add_route("*", base + "/{path:.*}", handler)
