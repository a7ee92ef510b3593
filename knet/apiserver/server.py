"""Running the API server: `knet apiserver ...`."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
from pathlib import Path

from aiohttp import web

from knet.apiserver.allocators import ClusterIPAllocator
from knet.apiserver.app import make_app
from knet.apiserver.auth.flags import (
    add_auth_arguments,
    auth_config_from_args,
    check_auth_config,
)
from knet.apiserver.auth.setup import server_ssl_context
from knet.apiserver.componentstatus import LocalProbes
from knet.apiserver.config import ApiServerConfig
from knet.apiserver.netns_listener import listen_in_netns
from knet.component import fail, run_main, serve_http, setup_logging, stop_on_signals
from knet.storage import StoreError
from knet.storage.options import add_store_arguments, store_options_from_args

PROGRAM = "knet apiserver"
log = logging.getLogger("knet.apiserver")


def _flag_bool(text: str) -> bool:
    """A Go-style boolean flag value (--watch-cache=false)."""
    value = {"true": True, "1": True, "t": True, "false": False, "0": False, "f": False}
    if text.lower() not in value:
        raise argparse.ArgumentTypeError(f"invalid boolean {text!r}: want true or false")
    return value[text.lower()]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bind-address", default="127.0.0.1")
    p.add_argument("--port", "--secure-port", type=int, default=6443, dest="port")
    p.add_argument("--data-dir", type=Path, default=Path("/var/lib/knet/apiserver"))
    p.add_argument(
        "--unix-socket",
        type=Path,
        default=None,
        help="also listen on this unix socket (for node agents)",
    )
    p.add_argument("--service-cluster-ip-range", default="10.96.0.0/12")
    p.add_argument("--service-node-port-range", default="30000-32767")
    p.add_argument(
        "--history-window",
        type=int,
        default=50_000,
        help="revisions of history kept for watches to resume from",
    )
    p.add_argument("--bookmark-interval", type=float, default=60.0)
    p.add_argument(
        "--watch-cache",
        type=_flag_bool,
        nargs="?",
        const=True,
        default=True,
        help="serve watches and resourceVersion=0 lists from an in-memory cache (default true)",
    )
    add_store_arguments(p)
    p.add_argument(
        "--kubelet-netns",
        default=None,
        help="dial kubelets from inside this network namespace (local cluster: the underlay)",
    )
    p.add_argument(
        "--advertise-address",
        default=None,
        help="the address in the kubernetes Service's endpoints (none: no kubernetes Service)",
    )
    p.add_argument(
        "--advertise-netns",
        default=None,
        help="also listen on --advertise-address inside this network namespace (local cluster)",
    )
    p.add_argument(
        "--advertise-port",
        type=int,
        default=None,
        help="the port advertised (and listened on in --advertise-netns); default --port",
    )
    add_auth_arguments(p)
    p.add_argument("-v", "--verbose", action="store_true")


def config_from_args(args: argparse.Namespace) -> ApiServerConfig:
    return ApiServerConfig(
        data_dir=args.data_dir,
        bind_address=args.bind_address,
        port=args.port,
        unix_socket=args.unix_socket,
        service_cluster_ip_range=args.service_cluster_ip_range,
        service_node_port_range=args.service_node_port_range,
        history_window=args.history_window,
        bookmark_interval=args.bookmark_interval,
        watch_cache=args.watch_cache,
        store=store_options_from_args(args),
        kubelet_netns=args.kubelet_netns,
        advertise_address=args.advertise_address,
        advertise_netns=args.advertise_netns,
        advertise_port=args.advertise_port,
        auth=auth_config_from_args(args),
    )


async def serve(
    config: ApiServerConfig,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
    local_probes: LocalProbes | None = None,
) -> None:
    """Serve until ``stop`` is set (SIGTERM/SIGINT when None); ``ready`` is set once listening.
    ``local_probes``: health of components run in this process, for ComponentStatus."""
    # handler_cancellation: a client that hangs up on a watch ends its handler at once.
    tls = server_ssl_context(config.auth)
    runner = await serve_http(
        make_app(config, local_probes),
        config.bind_address,
        config.port,
        unix_socket=config.unix_socket,
        handler_cancellation=True,
        ssl_context=tls,
    )
    scheme = "https" if tls is not None else "http"
    log.info("serving on %s://%s:%d", scheme, config.bind_address, config.port)
    if config.advertise_netns and config.advertise_address:
        try:
            sock = listen_in_netns(
                config.advertise_netns, config.advertise_address, config.public_port
            )
            await web.SockSite(runner, sock).start()
        except OSError as e:
            await runner.cleanup()
            where = f"{config.advertise_address}:{config.public_port} in {config.advertise_netns}"
            raise OSError(e.errno, f"{e.strerror} (the listener on {where})") from None
        log.info(
            "serving on http://%s:%d in network namespace %s",
            config.advertise_address,
            config.public_port,
            config.advertise_netns,
        )
    stop = stop if stop is not None else stop_on_signals()
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def check_config(config: ApiServerConfig) -> str | None:
    """What is wrong with the flags, in one line; None if nothing."""
    try:
        ClusterIPAllocator(config.service_cluster_ip_range)
    except ValueError as e:
        return f"--service-cluster-ip-range: {e}"
    try:
        lo, hi = (int(x) for x in config.service_node_port_range.split("-", 1))
        if not 0 < lo <= hi < 65536:
            raise ValueError
    except ValueError:
        return (
            f"invalid --service-node-port-range {config.service_node_port_range!r} (want LOW-HIGH)"
        )
    if config.advertise_address is not None:
        try:
            ipaddress.ip_address(config.advertise_address)
        except ValueError:
            return f"invalid --advertise-address {config.advertise_address!r} (want an IP address)"
    if config.advertise_netns and not config.advertise_address:
        return "--advertise-netns needs --advertise-address"
    if config.advertise_port is not None and not 0 < config.advertise_port < 65536:
        return f"invalid --advertise-port {config.advertise_port} (want 1-65535)"
    return check_auth_config(config.auth)


def run(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    try:
        config = config_from_args(args)
    except ValueError as e:
        return fail(PROGRAM, str(e), 2)
    problem = check_config(config)
    if problem is not None:
        return fail(PROGRAM, problem, 2)

    async def main() -> int:
        await serve(config)
        return 0

    try:
        return run_main(main)
    except OSError as e:
        where = f"{config.bind_address}:{config.port}"
        return fail(PROGRAM, f"cannot listen on {where}: {e.strerror}", 1)
    except StoreError as e:
        return fail(PROGRAM, f"cannot open the store: {e}", 1)
