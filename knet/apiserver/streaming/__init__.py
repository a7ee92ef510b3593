"""The API server's streaming subresources: ``pods/log`` (more to come: exec, attach,
port-forward, proxy), each relayed to the node's kubelet API.

Modules: ``dial`` (reaching a node's kubelet, from inside ``--kubelet-netns``), ``logs``
(``pods/log``).
"""

from __future__ import annotations

from aiohttp import web

from knet.apiserver.config import ApiServerConfig
from knet.apiserver.streaming.dial import DIALER, NodeDialer


def setup(app: web.Application, config: ApiServerConfig) -> None:
    """Give ``app`` its node dialer (closed with the app)."""
    app[DIALER] = NodeDialer(config.kubelet_netns)

    async def close(app: web.Application) -> None:
        await app[DIALER].close()

    app.on_cleanup.append(close)
