"""Running the API server: `knet apiserver ...`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from knet import gctune
from knet.apiserver.app import make_app
from knet.apiserver.config import ApiServerConfig


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
        "--kubelet-netns",
        default=None,
        help="dial kubelets from inside this network namespace (local cluster: the underlay)",
    )
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
        kubelet_netns=args.kubelet_netns,
    )


async def serve(config: ApiServerConfig, ready: asyncio.Event | None = None) -> None:
    app = make_app(config)
    # handler_cancellation: a client that hangs up on a watch ends its handler at once.
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    sites: list[web.BaseSite] = [web.TCPSite(runner, config.bind_address, config.port)]
    if config.unix_socket is not None:
        with contextlib.suppress(FileNotFoundError):
            config.unix_socket.unlink()
        sites.append(web.UnixSite(runner, str(config.unix_socket)))
    for site in sites:
        await site.start()
    logging.getLogger("knet.apiserver").info(
        "serving on http://%s:%d", config.bind_address, config.port
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = config_from_args(args)
    try:
        lo, hi = (int(x) for x in config.service_node_port_range.split("-", 1))
        if not 0 < lo <= hi < 65536:
            raise ValueError
    except ValueError:
        print(
            f"knet apiserver: invalid --service-node-port-range {config.service_node_port_range!r}"
            " (want LOW-HIGH)",
            file=sys.stderr,
        )
        return 2
    gctune.settle()
    try:
        asyncio.run(serve(config))
    except OSError as e:
        print(
            f"knet apiserver: cannot listen on {config.bind_address}:{config.port}: {e.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0
