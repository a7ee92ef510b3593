"""`knet controller-manager`: runs the control loops, optionally only while it holds the
kube-system/kube-controller-manager Lease (active-standby with --leader-elect)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from knet import gctune
from knet.client import (
    ApiClient,
    ConfigError,
    LeaderElectionConfig,
    LeaderElector,
    SharedInformerFactory,
    load_kubeconfig,
)
from knet.controllers.base import Controller, ControllerContext
from knet.controllers.cidrset import CidrSet
from knet.controllers.deployment import DeploymentController
from knet.controllers.durations import duration_arg
from knet.controllers.endpointslice import EndpointSliceController
from knet.controllers.garbagecollector import GarbageCollector
from knet.controllers.namespace import NamespaceController
from knet.controllers.nodeipam import NodeIpamController
from knet.controllers.nodelifecycle import NodeLifecycleController
from knet.controllers.replicaset import ReplicaSetController

log = logging.getLogger("knet.controllers.manager")

ALL_CONTROLLERS = (
    "endpointslice",
    "replicaset",
    "deployment",
    "nodelifecycle",
    "nodeipam",
    "namespace",
    "garbagecollector",
)
LEASE_NAME = "kube-controller-manager"


@dataclass(frozen=True)
class ManagerOptions:
    controllers: tuple[str, ...] = ALL_CONTROLLERS
    cluster_cidr: str | None = None
    allocate_node_cidrs: bool = False
    node_cidr_mask_size: int = 24
    node_monitor_period: float = 5.0
    node_monitor_grace_period: float = 40.0
    pod_eviction_timeout: float = 300.0
    leader_elect: bool = False
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str = ""
    resync_period: float | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def check(self) -> None:
        unknown = set(self.controllers) - set(ALL_CONTROLLERS)
        if unknown:
            raise ValueError(
                f"unknown controllers {sorted(unknown)}; known: {', '.join(ALL_CONTROLLERS)}"
            )
        if self.allocate_node_cidrs:
            if not self.cluster_cidr:
                raise ValueError("--allocate-node-cidrs needs --cluster-cidr")
            CidrSet(self.cluster_cidr, self.node_cidr_mask_size)  # raises on a bad pair
        if self.node_monitor_grace_period <= 0 or self.node_monitor_period <= 0:
            raise ValueError("node monitor periods must be positive")


def build_controllers(ctx: ControllerContext, options: ManagerOptions) -> list[Controller]:
    out: list[Controller] = []
    wanted = set(options.controllers)
    if "endpointslice" in wanted:
        out.append(EndpointSliceController(ctx))
    if "replicaset" in wanted:
        out.append(ReplicaSetController(ctx))
    if "deployment" in wanted:
        out.append(DeploymentController(ctx))
    if "nodelifecycle" in wanted:
        out.append(
            NodeLifecycleController(
                ctx,
                monitor_period=options.node_monitor_period,
                grace_period=options.node_monitor_grace_period,
                eviction_timeout=options.pod_eviction_timeout,
            )
        )
    if "nodeipam" in wanted and options.allocate_node_cidrs and options.cluster_cidr:
        out.append(NodeIpamController(ctx, options.cluster_cidr, options.node_cidr_mask_size))
    if "namespace" in wanted:
        out.append(NamespaceController(ctx))
    if "garbagecollector" in wanted:
        out.append(GarbageCollector(ctx))
    return out


async def run_controllers(client: ApiClient, options: ManagerOptions) -> None:
    """Start the informers, wait for their first lists, then run every loop until cancelled."""
    factory = SharedInformerFactory(client, resync_period=options.resync_period)
    ctx = ControllerContext(client=client, factory=factory)
    controllers = build_controllers(ctx, options)
    factory.start()
    try:
        while not await factory.wait_for_sync(timeout=30):
            log.warning("informers have not synced after 30s; still waiting")
        log.info("caches synced; running %s", ", ".join(c.name for c in controllers))
        await asyncio.gather(*(c.run() for c in controllers))
    finally:
        await factory.stop()


async def run_manager(client: ApiClient, options: ManagerOptions) -> int:
    """Run the loops (under leader election if asked); returns the exit code."""
    if not options.leader_elect:
        await run_controllers(client, options)
        return 0
    config = LeaderElectionConfig(
        lease_name=LEASE_NAME,
        lease_namespace="kube-system",
        identity=options.identity,
        lease_duration=options.lease_duration,
        renew_deadline=options.renew_deadline,
        retry_period=options.retry_period,
    )
    elector = LeaderElector(
        client,
        config,
        lambda: run_controllers(client, options),
        on_new_leader=lambda who: log.info("leader is now %s", who),
    )
    await elector.run()
    # Upstream exits when it loses the lease: a fresh process starts clean as a candidate.
    log.error("leader election lost")
    return 1


# ---------------------------------------------------------------------------- CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", type=Path, default=None, help="kubeconfig of the API server")
    add_manager_flags(p)
    p.add_argument("-v", "--verbose", action="store_true")


def add_manager_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--controllers",
        default=",".join(ALL_CONTROLLERS),
        help=f"comma-separated loops to run (default: all of {', '.join(ALL_CONTROLLERS)})",
    )
    p.add_argument("--cluster-cidr", default=None, help="pod CIDR of the cluster")
    p.add_argument("--allocate-node-cidrs", action="store_true")
    p.add_argument("--node-cidr-mask-size", type=int, default=24)
    p.add_argument("--node-monitor-period", type=duration_arg, default=5.0)
    p.add_argument("--node-monitor-grace-period", type=duration_arg, default=40.0)
    p.add_argument("--pod-eviction-timeout", type=duration_arg, default=300.0)
    add_leader_flags(p)


def add_leader_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--leader-elect", action="store_true")
    p.add_argument("--leader-elect-lease-duration", type=duration_arg, default=15.0)
    p.add_argument("--leader-elect-renew-deadline", type=duration_arg, default=10.0)
    p.add_argument("--leader-elect-retry-period", type=duration_arg, default=2.0)
    p.add_argument("--leader-elect-identity", default="", help="default: hostname_random")


def options_from_args(args: argparse.Namespace) -> ManagerOptions:
    controllers = tuple(c.strip() for c in str(args.controllers).split(",") if c.strip())
    options = ManagerOptions(
        controllers=controllers,
        cluster_cidr=args.cluster_cidr,
        allocate_node_cidrs=args.allocate_node_cidrs,
        node_cidr_mask_size=args.node_cidr_mask_size,
        node_monitor_period=args.node_monitor_period,
        node_monitor_grace_period=args.node_monitor_grace_period,
        pod_eviction_timeout=args.pod_eviction_timeout,
        leader_elect=args.leader_elect,
        lease_duration=args.leader_elect_lease_duration,
        renew_deadline=args.leader_elect_renew_deadline,
        retry_period=args.leader_elect_retry_period,
        identity=args.leader_elect_identity,
    )
    options.check()
    return options


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def until_signalled(main: asyncio.Future[int] | asyncio.Task[int]) -> int:
    """Run `main` until it ends or SIGTERM/SIGINT arrives (then cancel it: 0)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stopper: asyncio.Future[bool] = asyncio.ensure_future(stop.wait())
    waits: set[asyncio.Future[int] | asyncio.Future[bool]] = {main, stopper}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if main.done():
        return main.result()
    main.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await main
    return 0


def run(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    try:
        options = options_from_args(args)
        client = ApiClient(load_kubeconfig(args.kubeconfig))
    except (ValueError, ConfigError) as e:
        print(f"knet controller-manager: {e}", file=sys.stderr)
        return 2

    async def main() -> int:
        async with client:
            return await until_signalled(asyncio.ensure_future(run_manager(client, options)))

    gctune.settle()
    return asyncio.run(main())
