"""How the API server reaches a node's kubelet API: ``https://<InternalIP>:<kubelet port>``.

In the local cluster the node addresses exist only inside the cluster's namespaces, and the API
server lives in the root namespace where nothing of the cluster may be routed. So with
``--kubelet-netns`` every socket to a kubelet is *created* inside that namespace (the underlay,
where all node addresses are on one bridge) by a short-lived thread
(``knet.netlink.nsthread``): a socket keeps the namespace it was created in, so the connection
runs from there while the API server itself never moves and adds nothing to the root namespace.

The kubelet's certificate is not verified yet (no cluster PKI until the security issue).
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

import aiohttp
from aiohttp import web

from knet.apiserver import errors
from knet.apiserver.errors import ApiError
from knet.netlink.nsthread import call_in_netns

CONNECT_TIMEOUT = 4.0  # seconds; a dead node answers with a Status well within 5 s
NETNS_DIR = "/run/netns"


def _insecure_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class NodeDialer:
    """One client session for every kubelet, made on first use."""

    def __init__(self, netns: str | None) -> None:
        self.netns = netns
        self._session: aiohttp.ClientSession | None = None

    def _socket(self, addr_info: Any) -> socket.socket:
        family, type_, proto = addr_info[0], addr_info[1], addr_info[2]
        assert self.netns is not None
        path = self.netns if "/" in self.netns else f"{NETNS_DIR}/{self.netns}"
        return call_in_netns(path, lambda: socket.socket(family, type_, proto))

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                ssl=_insecure_context(),
                limit=0,
                socket_factory=self._socket if self.netns else None,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT),
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


DIALER = web.AppKey("node_dialer", NodeDialer)


def kubelet_base(node: dict[str, Any]) -> str:
    """``https://ip:port`` of a Node's kubelet API, or a Status error."""
    name = (node.get("metadata") or {}).get("name", "")
    status = node.get("status") or {}
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or 0
    addrs = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    ip = addrs.get("InternalIP") or addrs.get("ExternalIP")
    if not ip or not port:
        raise ApiError(
            503,
            "ServiceUnavailable",
            f'node "{name}" does not serve the kubelet API (no address or kubelet port)',
        )
    return f"https://{ip}:{port}"


def unreachable(url: str, exc: BaseException) -> ApiError:
    """A kubelet we could not talk to, worded like upstream's dial errors."""
    reason = getattr(exc, "os_error", None) or exc
    text = str(reason) or type(exc).__name__
    return ApiError(503, "ServiceUnavailable", f'Get "{url}": {text}')


async def kubelet_error(resp: aiohttp.ClientResponse) -> ApiError:
    """The kubelet's non-2xx answer as a Status for our client."""
    body = (await resp.content.read(64 * 1024)).decode(errors="replace").strip()
    if resp.status == 400:
        return errors.bad_request(body)
    if resp.status == 404:
        return ApiError(404, "NotFound", body)
    if resp.status >= 500:
        return ApiError(503, "ServiceUnavailable", body or f"the kubelet answered {resp.status}")
    return ApiError(resp.status, "BadRequest", body)
