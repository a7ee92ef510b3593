"""kubelet-lite's own API (HTTPS, the kubelet's paths), served in the node's network namespace.

Modules: ``app`` (routes, the server's lifetime), ``view`` (what it reads of the node),
``exec`` (commands in a running container over a WebSocket), ``stats`` (``/stats/summary``),
``logs`` (reading CRI container logs: options, tail, since, follow), ``listen`` (the socket,
made inside ``--node-netns``), ``tls`` (the self-signed serving certificate).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kubelet_lite.config import KubeletConfig
from kubelet_lite.server.app import KubeletServer, make_app
from kubelet_lite.server.listen import ListenRefused
from kubelet_lite.server.tls import ensure_cert, server_context
from kubelet_lite.server.view import NodeView
from kubelet_lite.status.checkpoint import PodDir

log = logging.getLogger(__name__)


async def serve(
    config: KubeletConfig,
    pods: Callable[[], list[dict[str, Any]]],
    pod_dir: Callable[[str], PodDir],
) -> KubeletServer | None:
    """Start the kubelet API as configured; None when ``--port 0`` or refused (logged)."""
    if config.port == 0:
        return None
    cert, key = ensure_cert(config.root_dir / "pki", config.node_name, config.node_ip)
    view = NodeView(pods, pod_dir, config.node_name)
    server = KubeletServer(make_app(view), server_context(cert, key))
    try:
        await server.start(config.node_netns, config.address, config.port)
    except ListenRefused as exc:
        log.error("%s", exc)
        return None
    return server
