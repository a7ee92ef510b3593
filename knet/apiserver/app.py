"""The aiohttp application: routes, the error middleware, and the store's lifetime."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from knet.api import registry
from knet.apiserver import handlers, health, metrics, streaming
from knet.apiserver import printers_workloads as _printers_workloads  # registers its printers
from knet.apiserver import validation_workloads as _validation_workloads  # registers validators
from knet.apiserver.allocators import ClusterIPAllocator, PortAllocator
from knet.apiserver.auth import setup as auth_setup
from knet.apiserver.componentstatus import LocalProbes
from knet.apiserver.config import ApiServerConfig
from knet.apiserver.errors import ApiError, internal, method_not_allowed, path_not_found
from knet.apiserver.keys import CONFIG, LOCAL_PROBES, RESOURCES, STOPPING, STORE
from knet.apiserver.kubernetes_service import KubernetesServiceReconciler
from knet.apiserver.resources import Resources
from knet.apiserver.watchcache import WatchCaches
from knet.storage import StoreError, StoreTimeoutError, StoreUnavailableError
from knet.storage.options import open_store

log = logging.getLogger("knet.apiserver")

_KIND_MODULES = (_printers_workloads, _validation_workloads)  # imported for their registrations

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _status_response(err: ApiError) -> web.Response:
    return handlers.status_response(err.status(), err.code, err.headers)


@web.middleware
async def status_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as a Kubernetes Status: kubectl and the Python client print those."""
    try:
        return await handler(request)
    except ApiError as e:
        return _status_response(e)
    except StoreTimeoutError as e:  # as kube-apiserver answers when etcd does not in time
        return _status_response(ApiError(504, "Timeout", f"storage timeout: {e}"))
    except StoreUnavailableError as e:
        return _status_response(ApiError(503, "ServiceUnavailable", f"storage unavailable: {e}"))
    except web.HTTPMethodNotAllowed:
        return _status_response(method_not_allowed(request.method))
    except web.HTTPNotFound:
        return _status_response(path_not_found())
    except web.HTTPRequestEntityTooLarge:
        from knet.apiserver.errors import too_large
        from knet.apiserver.request import MAX_BODY

        return _status_response(too_large(MAX_BODY))
    except web.HTTPException as e:
        return _status_response(ApiError(e.status, e.reason.replace(" ", ""), e.text or e.reason))
    except Exception as e:  # the last line of defence: log it, answer with a Status, stay up
        log.exception("internal error serving %s %s", request.method, request.path)
        return _status_response(internal(f"{type(e).__name__}: {e}"))


def _parse_port_range(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    return int(lo), int(hi)


def make_app(config: ApiServerConfig, local_probes: LocalProbes | None = None) -> web.Application:
    # Bodies are capped at 3 MiB by the handlers with a Status; aiohttp's own cap sits above it.
    app = web.Application(middlewares=[status_errors], client_max_size=64 * 1024 * 1024)
    app[CONFIG] = config
    app[STOPPING] = asyncio.Event()
    app[LOCAL_PROBES] = local_probes if local_probes is not None else {}

    async def end_watches(app: web.Application) -> None:
        app[STOPPING].set()

    app.on_shutdown.append(end_watches)

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        try:
            store = await open_store(
                config.store, data_dir=config.data_dir, history_window=config.history_window
            )
        except OSError as e:  # a data dir that is a file, unwritable, on a full disk, ...
            raise StoreError(f"{config.data_dir}: {e.strerror or e}") from e
        lo, hi = _parse_port_range(config.service_node_port_range)
        resources = Resources(
            store,
            ClusterIPAllocator(config.service_cluster_ip_range),
            PortAllocator(config.service_node_port_range),
        )
        del lo, hi
        await resources.bootstrap()
        caches = None
        if config.watch_cache:
            caches = WatchCaches(store)
            await caches.start(registry.RESOURCES)
            resources.watch_cache = caches
        app[STORE] = store
        app[RESOURCES] = resources
        reconciler = None
        if config.advertise_address:
            reconciler = KubernetesServiceReconciler(
                resources,
                config.service_cluster_ip_range,
                config.advertise_address,
                config.public_port,
            )
            reconciler.start()
        yield
        if reconciler is not None:
            await reconciler.close()
        if caches is not None:
            await caches.close()
        await resources.close()
        await store.close()

    app.cleanup_ctx.append(store_ctx)
    streaming.setup(app, config)
    metrics.setup(app)
    auth_setup.setup(app, config.auth)
    r = app.router
    r.add_get("/version", handlers.version)
    for path in ("/healthz", "/livez", "/readyz"):
        r.add_get(path, health.handle)
        r.add_get(path + "/{check}", health.handle)
    r.add_get("/api", handlers.api_root)
    r.add_get("/apis", handlers.apis_root)
    r.add_get("/apis/{group}", handlers.api_group)
    r.add_get("/openapi/v2", handlers.openapi_v2)
    r.add_get("/openapi/v3", handlers.openapi_root)
    r.add_get("/openapi/v3/{tail:.*}", handlers.openapi_group_version)
    r.add_route("*", "/api/{tail:.+}", handlers.resource)
    r.add_route("*", "/apis/{group}/{tail:.+}", handlers.resource)
    return app
