"""The side ports CoreDNS has: `/health` (8080: the process serves), `/ready` (8181: informers
synced), `/metrics` (9153: Prometheus)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def _app(path: str, handler: Callable[[web.Request], web.Response]) -> web.Application:
    async def route(request: web.Request) -> web.Response:
        return handler(request)

    app = web.Application()
    app.router.add_get(path, route)
    return app


def health_app() -> web.Application:
    return _app("/health", lambda _r: web.Response(text="OK"))


def ready_app(is_ready: Callable[[], bool]) -> web.Application:
    def ready(_r: web.Request) -> web.Response:
        if is_ready():
            return web.Response(text="OK")
        return web.Response(status=503, text="informers have not synced")

    return _app("/ready", ready)


def metrics_app(registry: CollectorRegistry) -> web.Application:
    def metrics(_r: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return _app("/metrics", metrics)


class SidePorts:
    """The three HTTP listeners, started and stopped together."""

    def __init__(self) -> None:
        self._runners: list[web.AppRunner] = []

    async def start(self, app: web.Application, host: str, port: int) -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, host, port).start()

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
