"""`knet dns`: flags, wiring, and the process's life (serve until SIGTERM/SIGINT)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.name

from knet.client import ApiClient, ConfigError, SharedInformerFactory, load_kubeconfig
from knet.component import fail, run_main, setup_logging, until_stopped
from knet.dns.cache import AnswerCache
from knet.dns.forward import Forwarder, Upstream, parse_upstream, resolv_conf_upstreams
from knet.dns.health import SidePorts, health_app, metrics_app, ready_app
from knet.dns.incluster import in_cluster, in_cluster_config
from knet.dns.metrics import DnsMetrics
from knet.dns.records import RecordIndex
from knet.dns.server import DnsListener, QueryHandler
from knet.dns.watch import attach

PROGRAM = "knet dns"
log = logging.getLogger("knet.dns")


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def _domain(text: str) -> str:
    try:
        name = dns.name.from_text(text)
    except dns.exception.DNSException as e:
        raise argparse.ArgumentTypeError(f"{text!r} is not a domain name: {e}") from None
    if len(name.labels) < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: the cluster domain needs at least one label")
    return name.to_text(omit_final_dot=True).lower()


def _upstreams(text: str) -> list[Upstream]:
    try:
        return [parse_upstream(part) for part in text.split(",") if part.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _whole_number(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        help="kubeconfig of the API server (default: in a pod, the in-cluster config)",
    )
    p.add_argument("--cluster-domain", type=_domain, default="cluster.local")
    p.add_argument(
        "--upstream",
        type=_upstreams,
        action="extend",
        default=None,
        help="resolvers for other zones, address[:port][,...] (default: --resolv-conf's)",
    )
    p.add_argument("--resolv-conf", type=Path, default=Path("/etc/resolv.conf"))
    p.add_argument(
        "--no-forward",
        action="store_true",
        help="forward nothing: other zones get SERVFAIL at once (a cluster with no way out)",
    )
    p.add_argument("--bind-address", default="0.0.0.0")
    p.add_argument("--dns-port", type=_port, default=53)
    p.add_argument("--health-port", type=_port, default=8080)
    p.add_argument("--ready-port", type=_port, default=8181)
    p.add_argument("--metrics-port", type=_port, default=9153)
    p.add_argument("--cache-size", type=_whole_number, default=10_000, help="0: no cache")
    p.add_argument("--cache-ttl", type=_whole_number, default=30, help="longest cached TTL (s)")
    p.add_argument(
        "--no-fast-path", action="store_true", help="answer everything on the general path"
    )
    p.add_argument("-v", "--verbose", action="store_true")


@dataclass
class DnsServer:
    """Everything one `knet dns` process runs."""

    client: ApiClient
    args: argparse.Namespace
    upstreams: list[Upstream]
    ready: bool = False
    _stops: list[SidePorts | DnsListener] = field(default_factory=list)

    async def run(self) -> int:
        a = self.args
        index = RecordIndex(a.cluster_domain)
        factory = SharedInformerFactory(self.client)
        attach(factory, index)
        # CoreDNS names a listener on every address `dns://:53`.
        host = "" if a.bind_address in ("0.0.0.0", "::") else a.bind_address
        metrics = DnsMetrics(f"dns://{host}:{a.dns_port}")
        handler = QueryHandler(
            index,
            Forwarder(self.upstreams),
            AnswerCache(a.cache_size, a.cache_ttl),
            metrics,
            fast=not a.no_fast_path,
        )
        handler.synced = False
        side = SidePorts()
        self._stops.append(side)
        try:
            await side.start(health_app(), a.bind_address, a.health_port)
            await side.start(ready_app(lambda: self.ready), a.bind_address, a.ready_port)
            await side.start(metrics_app(metrics.registry), a.bind_address, a.metrics_port)
            # Bound at once, so that a port in use fails the start; SERVFAIL until synced (an
            # empty index would say NXDOMAIN for every Service).
            listener = DnsListener(handler, a.bind_address, a.dns_port)
            self._stops.append(listener)
            await listener.start()
            factory.start()
            while not await factory.wait_for_sync(timeout=30):
                log.warning("informers have not synced after 30s; still waiting")
            handler.synced = self.ready = True
            log.info("serving %s on %s:%d", index.zone, a.bind_address, a.dns_port)
            await asyncio.Event().wait()
            return 0
        finally:
            await factory.stop()
            for s in reversed(self._stops):
                await s.stop()


def run(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    try:
        if args.kubeconfig is None and in_cluster(os.environ):
            config = in_cluster_config(os.environ)
        else:
            config = load_kubeconfig(args.kubeconfig)
        client = ApiClient(config)
    except (ValueError, ConfigError) as e:
        return fail(PROGRAM, str(e), 2)
    upstreams: list[Upstream] = [] if args.no_forward else (args.upstream or [])
    if args.upstream is None and not args.no_forward:
        try:
            upstreams = resolv_conf_upstreams(args.resolv_conf)
        except OSError as e:
            log.warning("no upstream resolvers (%s): other zones get SERVFAIL", e)

    async def main() -> int:
        async with client:
            server = DnsServer(client, args, upstreams)
            return await until_stopped(server.run())

    try:
        return run_main(main)
    except OSError as e:  # a port in use, an address not ours
        return fail(PROGRAM, str(e), 1)
