"""Assembling a running kproxy: the provider for the chosen mode, informers, servers.

Informers feed the mode-neutral ``ProxyProvider`` interface; the mode registry
(``kproxy.modes``) builds the provider for --proxy-mode. On SIGTERM/SIGINT kproxy stops
watching and exits; it never flushes its rules on the way out, so traffic keeps flowing across
restarts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from knet.client import ApiClient, Informer
from knet.component import STOP_SIGNALS, serve_http, stop_on_signals
from kproxy.changes import SERVICE_LABEL_SELECTOR, SLICE_LABEL_SELECTOR
from kproxy.cli import Options
from kproxy.healthz import ProxyHealth, health_app, metrics_app
from kproxy.metrics import ProxyMetrics
from kproxy.modes import make_provider
from kproxy.provider import ProxyProvider

log = logging.getLogger("kproxy")


def _synced_hook(informer: Informer, callback: Callable[[], None]) -> asyncio.Task[None]:
    async def wait() -> None:
        await informer.wait_for_sync()
        callback()

    return asyncio.create_task(wait(), name=f"synced-{informer.kind}")


def make_informers(
    client: ApiClient, proxier: ProxyProvider, opts: Options
) -> tuple[list[Informer], list[Callable[[], None]]]:
    """The informers kproxy needs, wired to the proxier; and each one's "synced" callback."""
    services = Informer(client, "Service", label_selector=SERVICE_LABEL_SELECTOR)
    services.add_handler(
        proxier.on_service_add, proxier.on_service_update, proxier.on_service_delete
    )
    if opts.use_endpoints:
        endpoints = Informer(client, "Endpoints")
        endpoints.add_handler(
            proxier.on_endpoints_add, proxier.on_endpoints_update, proxier.on_endpoints_delete
        )
        endpoints_synced = proxier.on_endpoints_synced
    else:
        endpoints = Informer(client, "EndpointSlice", label_selector=SLICE_LABEL_SELECTOR)
        endpoints.add_handler(
            proxier.on_endpoint_slice_add,
            proxier.on_endpoint_slice_update,
            proxier.on_endpoint_slice_delete,
        )
        endpoints_synced = proxier.on_endpoint_slices_synced
    node = Informer(client, "Node", field_selector=f"metadata.name={opts.hostname}")
    node.add_handler(proxier.on_node_add, proxier.on_node_update, proxier.on_node_delete)
    return [services, endpoints, node], [
        proxier.on_services_synced,
        endpoints_synced,
        lambda: None,
    ]


async def _serve(opts: Options, health: ProxyHealth, metrics: ProxyMetrics) -> list[web.AppRunner]:
    runners = []
    if opts.healthz_bind_address is not None:
        a = opts.healthz_bind_address
        runners.append(await serve_http(health_app(health), a.host, a.port))
    if opts.metrics_bind_address is not None:
        a = opts.metrics_bind_address
        runners.append(await serve_http(metrics_app(metrics, opts.proxy_mode), a.host, a.port))
    return runners


async def run(opts: Options) -> int:
    """Run until SIGTERM/SIGINT; returns the exit status."""
    client = ApiClient.from_kubeconfig(opts.kubeconfig)
    tasks: list[asyncio.Task[Any]] = []
    informers: list[Informer] = []
    runners: list[web.AppRunner] = []
    try:
        metrics = ProxyMetrics()
        health = ProxyHealth(2 * opts.sync_period, metrics=metrics)
        log.info("kproxy starting: node %s, mode %s", opts.hostname, opts.proxy_mode)
        proxier = await make_provider(opts, client, metrics, health)
        runners = await _serve(opts, health, metrics)
        informers, synced_callbacks = make_informers(client, proxier, opts)
        hooks = []
        for informer, callback in zip(informers, synced_callbacks, strict=True):
            informer.start()
            hooks.append(_synced_hook(informer, callback))
        main = asyncio.create_task(proxier.run(), name="proxier")
        tasks = [*hooks, main]
        return await _wait_for_stop(main, hooks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for informer in informers:
            await informer.stop()
        for runner in runners:
            await runner.cleanup()
        await client.close()


async def _wait_for_stop(main: asyncio.Task[Any], hooks: list[asyncio.Task[Any]]) -> int:
    """0 on SIGTERM/SIGINT; 1 if the proxier or an informer fails. Hooks that finish
    normally (an informer synced) are fine."""
    stop = stop_on_signals()
    stopper = asyncio.create_task(stop.wait())
    watched: set[asyncio.Task[Any]] = {stopper, main, *hooks}
    try:
        while True:
            done, watched = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            watched = set(watched)
            if stopper in done:
                log.info("kproxy stopping (rules stay in place)")
                return 0
            for task in done:
                error = None if task.cancelled() else task.exception()
                if task is main or error is not None:
                    log.error("%s stopped: %s", task.get_name(), error or "exited")
                    return 1
    finally:
        stopper.cancel()
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
