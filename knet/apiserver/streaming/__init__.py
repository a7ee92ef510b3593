"""The API server's streaming subresources, each relayed to the node's kubelet API.

Modules: ``dial`` (reaching a node's kubelet, from inside ``--kubelet-netns``), ``logs``
(``pods/log``), ``channel`` (the WebSocket channel framing both hops share), ``exec``
(``pods/exec``, ``pods/attach``, ``pods/portforward``), ``spdy``/``tunnel`` (kubectl's
SPDY-in-WebSocket port-forward), ``proxy`` (``nodes/proxy``), ``podproxy``/``proxyhttp``
(``pods/proxy``, ``services/proxy``).
"""

from __future__ import annotations

from aiohttp import web

from knet.apiserver.config import ApiServerConfig
from knet.apiserver.streaming import podproxy
from knet.apiserver.streaming.dial import DIALER, NodeDialer
from knet.apiserver.streaming.proxy import node_proxy


def setup(app: web.Application, config: ApiServerConfig) -> None:
    """Give ``app`` its node dialer (closed with the app) and the routes that must come before
    the generic resource routes."""
    app[DIALER] = NodeDialer(config.kubelet_netns)
    app.router.add_route("*", "/api/v1/nodes/{name}/proxy", node_proxy)
    app.router.add_route("*", "/api/v1/nodes/{name}/proxy/{path:.*}", node_proxy)
    podproxy.setup(app)

    async def close(app: web.Application) -> None:
        await app[DIALER].close()

    app.on_cleanup.append(close)
