"""kube-proxy's health server: /healthz and /livez, plus the metrics server (/metrics,
/proxyMode).

Health follows upstream's ProxyHealthServer: a change queued for the rules (``queued_update``)
that is not applied (``updated``) within ``health_timeout`` makes the proxy unhealthy (503).
/healthz is also 503 while the Node is being deleted or carries the cluster autoscaler's
ToBeDeleted taint; /livez ignores the Node. Bodies are upstream's JSON shape,
``{"lastUpdated": ..., "currentTime": ..., "nodeEligible": ...}``, with Go's time format.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from kproxy.metrics import CONTENT_TYPE, ProxyMetrics

TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler"
_ZERO_TIME = "0001-01-01 00:00:00 +0000 UTC"


def go_time(ts: float | None) -> str:
    """A Unix time as Go's time.Time prints it (what upstream's %q writes), in UTC."""
    if ts is None:
        return _ZERO_TIME
    t = dt.datetime.fromtimestamp(ts, dt.UTC)
    frac = f"{t.microsecond * 1000:09d}".rstrip("0")
    return t.strftime("%Y-%m-%d %H:%M:%S") + (f".{frac}" if frac else "") + " +0000 UTC"


class ProxyHealth:
    def __init__(
        self,
        health_timeout: float,
        *,
        metrics: ProxyMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.health_timeout = health_timeout
        self.metrics = metrics
        self.clock = clock
        self.last_updated: float | None = None
        self.oldest_queued: float | None = None
        # Eligible while starting, until a Node event says otherwise (as upstream).
        self.node_eligible = True

    def queued_update(self) -> None:
        if self.oldest_queued is None:
            self.oldest_queued = self.clock()

    def updated(self) -> None:
        self.oldest_queued = None
        self.last_updated = self.clock()

    def sync_node(self, node: Mapping[str, Any] | None) -> None:
        """Track this node's eligibility (None: the Node was deleted)."""
        if node is None or (node.get("metadata") or {}).get("deletionTimestamp"):
            self.node_eligible = False
            return
        taints = (node.get("spec") or {}).get("taints") or ()
        self.node_eligible = not any(t.get("key") == TO_BE_DELETED_TAINT for t in taints)

    def is_healthy(self) -> bool:
        # Before the first successful sync the proxy counts as healthy (it is starting up).
        if self.last_updated is None or self.oldest_queued is None:
            return True
        return self.clock() - self.oldest_queued < self.health_timeout

    def healthz(self) -> tuple[int, dict[str, Any]]:
        return self._report(include_node=True)

    def livez(self) -> tuple[int, dict[str, Any]]:
        return self._report(include_node=False)

    def _report(self, *, include_node: bool) -> tuple[int, dict[str, Any]]:
        now = self.clock()
        healthy = self.is_healthy() and (self.node_eligible or not include_node)
        # Upstream reports "now" as lastUpdated while healthy (compatibility with old releases).
        body: dict[str, Any] = {
            "lastUpdated": go_time(now if healthy else self.last_updated),
            "currentTime": go_time(now),
        }
        if include_node:
            body["nodeEligible"] = self.node_eligible
        code = 200 if healthy else 503
        if self.metrics is not None:
            counter = self.metrics.healthz_total if include_node else self.metrics.livez_total
            counter.labels(code=str(code)).inc()
        return code, body


_HEADERS = {"X-Content-Type-Options": "nosniff"}


def health_app(health: ProxyHealth) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        code, body = health.healthz()
        return web.json_response(body, status=code, headers=_HEADERS)

    async def livez(_: web.Request) -> web.Response:
        code, body = health.livez()
        return web.json_response(body, status=code, headers=_HEADERS)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", livez)
    return app


def metrics_app(metrics: ProxyMetrics, proxy_mode: str) -> web.Application:
    async def serve_metrics(_: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    async def serve_mode(_: web.Request) -> web.Response:
        return web.Response(text=proxy_mode)

    app = web.Application()
    app.router.add_get("/metrics", serve_metrics)
    app.router.add_get("/proxyMode", serve_mode)
    return app
