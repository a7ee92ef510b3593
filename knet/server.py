"""`knet server`: the API server, the controller-manager and the scheduler in one process.

They still talk only through the API: the loops connect to the server they run beside over
its unix socket if it has one, else over 127.0.0.1, exactly as they would from elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any

from knet.apiserver import server as apiserver
from knet.apiserver.auth import secure
from knet.client import ApiClient
from knet.component import fail, run_main, setup_logging, stop_on_signals
from knet.controllers import manager
from knet.scheduler.scheduler import Scheduler
from knet.storage import StoreError
from knet.storage.options import store_options_from_args

log = logging.getLogger("knet.server")


def add_arguments(p: argparse.ArgumentParser) -> None:
    apiserver.add_arguments(p)
    manager.add_manager_flags(p)
    p.add_argument(
        "--secure",
        action="store_true",
        help="make a PKI in <data-dir>/pki and serve TLS + authentication + RBAC; writes "
        "<data-dir>/admin.kubeconfig (system:masters) and one kubeconfig per component",
    )


def _local_url(args: argparse.Namespace) -> str:
    if args.unix_socket is not None:
        return f"unix://{args.unix_socket}"
    host = args.bind_address
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{args.port}"


def _running(task: asyncio.Task[Any]) -> bool:
    return not task.done()


async def serve_all(args: argparse.Namespace, options: manager.ManagerOptions) -> int:
    ready, api_stop = asyncio.Event(), asyncio.Event()
    config = apiserver.config_from_args(args)
    clients: list[ApiClient] = []
    if args.secure:
        config = secure.secure_config(config)
        kubeconfigs = secure.write_kubeconfigs(config)
        log.info("secure: admin kubeconfig at %s", kubeconfigs["admin"])
    # ComponentStatus reads these: the loops below run in this process, not behind a Lease.
    probes: dict[str, Callable[[], bool]] = {}
    api = asyncio.create_task(apiserver.serve(config, ready, api_stop, probes))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({api, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if api.done():
        waiter.cancel()
        api.result()  # raises what stopped it
        return 1
    if args.secure:  # each loop under its own identity, as upstream's components
        clients = [
            ApiClient.from_kubeconfig(kubeconfigs["controller-manager"]),
            ApiClient.from_kubeconfig(kubeconfigs["scheduler"]),
        ]
    else:
        clients = [ApiClient.from_url(_local_url(args))] * 2
    loops = [
        asyncio.create_task(manager.run_manager(clients[0], options), name="controller-manager"),
        asyncio.create_task(Scheduler(clients[1]).run(), name="scheduler"),
    ]
    for task in loops:
        probes[task.get_name()] = functools.partial(_running, task)
    # Stop in reverse order on SIGTERM/SIGINT: the loops first, while the API is still there
    # for them to finish against, then the API server.
    stop = stop_on_signals()
    stopper = asyncio.create_task(stop.wait())
    try:
        # A loop that fails ends everything.
        done, _ = await asyncio.wait({api, stopper, *loops}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task in loops and task.exception() is not None:
                log.error("%s stopped: %s", task.get_name(), task.exception())
    finally:
        stopper.cancel()
        for task in loops:
            task.cancel()
        for task in loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for client in set(clients):
            await client.close()
        if not api.done():
            api_stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await api
    if api.cancelled() or api.exception() is not None:
        return 1
    return 0 if stop.is_set() else 1


def run(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    try:
        options = manager.options_from_args(args)
        store_options_from_args(args)  # bad storage flags: one line and exit 2, not a traceback
        manager.leader_config(options)  # the lease durations must fit together
    except ValueError as e:
        return fail("knet server", str(e), 2)
    problem = apiserver.check_config(apiserver.config_from_args(args))
    if problem is None and args.secure and args.unix_socket is not None:
        problem = "--unix-socket carries no TLS or credentials: it cannot be used with --secure"
    if problem is not None:
        return fail("knet server", problem, 2)
    try:
        return run_main(lambda: serve_all(args, options))
    except OSError as e:
        where = f"{args.bind_address}:{args.port}"
        return fail("knet server", f"cannot listen on {where}: {e.strerror}", 1)
    except StoreError as e:
        return fail("knet server", f"cannot open the store: {e}", 1)
