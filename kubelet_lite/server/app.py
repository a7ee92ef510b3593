"""kubelet-lite's HTTPS API (the kubelet's paths): ``/healthz``, ``/pods``,
``/containerLogs/{ns}/{pod}/{container}``, ``/exec``, ``/attach``, ``/portForward``,
``/stats/summary``.

Errors are plain text with the kubelet's status codes and wording; the API server turns them
into Kubernetes Status objects for its clients.
"""

from __future__ import annotations

import contextlib
import json
import logging
import ssl

from aiohttp import web

from kubelet_lite.server import listen, stats
from kubelet_lite.server import logs as logview
from kubelet_lite.server.attach import attach_handler
from kubelet_lite.server.exec import exec_handler
from kubelet_lite.server.portforward import portforward_handler
from kubelet_lite.server.view import VIEW, NodeView, container_names, pick_attempt, text_error

log = logging.getLogger(__name__)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok", content_type="text/plain")


async def pods(request: web.Request) -> web.Response:
    doc = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": request.app[VIEW].pods()}
    return web.Response(body=json.dumps(doc).encode(), content_type="application/json")


async def container_logs(request: web.Request) -> web.StreamResponse:
    ns, name, container = (request.match_info[k] for k in ("ns", "pod", "container"))
    view = request.app[VIEW]
    pod = view.find(ns, name)
    if pod is None:
        return text_error(404, f'pod "{name}" not found in namespace "{ns}"')
    if container not in container_names(pod):
        return text_error(400, f"container {container} is not valid for pod {name}")
    try:
        opts = logview.parse_options(request.query, logview.now())
    except logview.BadLogRequest as exc:
        return text_error(400, str(exc))
    uid = str((pod.get("metadata") or {}).get("uid") or "")
    picked = pick_attempt(view.pod_dir(uid), name, container, opts.previous)
    if isinstance(picked, web.Response):
        return picked
    path, ended = picked
    resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)

    async def write(data: bytes) -> None:
        if data:
            await resp.write(data)

    with contextlib.suppress(ConnectionResetError):
        await logview.send_log(str(path), opts, ended, write)
        await resp.write_eof()
    return resp


def make_app(view: NodeView) -> web.Application:
    app = web.Application()
    app[VIEW] = view
    app[stats.RATES] = stats.Rates()
    r = app.router
    r.add_get("/healthz", healthz)
    r.add_get("/pods", pods)
    r.add_get("/pods/", pods)
    r.add_get("/stats/summary", stats.stats_summary)
    r.add_get("/containerLogs/{ns}/{pod}/{container}", container_logs)
    r.add_route("*", "/exec/{ns}/{pod}/{container}", exec_handler)
    r.add_route("*", "/attach/{ns}/{pod}/{container}", attach_handler)
    r.add_route("*", "/portForward/{ns}/{pod}", portforward_handler)
    return app


class KubeletServer:
    """The API's lifetime: listen (in the node's namespace), serve, stop."""

    def __init__(self, app: web.Application, ssl_ctx: ssl.SSLContext) -> None:
        self.app = app
        self.ssl_ctx = ssl_ctx
        self.runner: web.AppRunner | None = None

    async def start(self, node_netns: str | None, address: str | None, port: int) -> None:
        sock = listen.listen(node_netns, address, port)
        self.runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self.runner.setup()
        site = web.SockSite(self.runner, sock, ssl_context=self.ssl_ctx, shutdown_timeout=1.0)
        await site.start()
        log.info("kubelet API on %s:%d (netns %s)", address or "0.0.0.0", port, node_netns)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
