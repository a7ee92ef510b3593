"""`knet controller-manager`: runs the control loops, optionally only while it holds the
kube-system/kube-controller-manager Lease (active-standby with --leader-elect)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from knet.client import (
    ApiClient,
    ConfigError,
    LeaderElectionConfig,
    SharedInformerFactory,
    load_kubeconfig,
)
from knet.component import duration_arg, fail, run_main, setup_logging, until_stopped
from knet.component.leader import add_leader_election_flags, run_leading
from knet.controllers.base import Controller, ControllerContext
from knet.controllers.cidrset import CidrSet
from knet.controllers.cronjob import CronJobController
from knet.controllers.daemonset import DaemonSetController
from knet.controllers.deployment import DeploymentController
from knet.controllers.disruption import DisruptionController
from knet.controllers.endpointslice import EndpointSliceController
from knet.controllers.garbagecollector import GarbageCollector
from knet.controllers.job import JobController
from knet.controllers.namespace import NamespaceController
from knet.controllers.nodeipam import NodeIpamController
from knet.controllers.nodelifecycle import NodeLifecycleController
from knet.controllers.replicaset import ReplicaSetController
from knet.controllers.replicationcontroller import ReplicationControllerController
from knet.controllers.statefulset import StatefulSetController

log = logging.getLogger("knet.controllers.manager")

ALL_CONTROLLERS = (
    "endpointslice",
    "replicaset",
    "deployment",
    "nodelifecycle",
    "nodeipam",
    "namespace",
    "garbagecollector",
    "replicationcontroller",
    "job",
    "daemonset",
    "cronjob",
    "statefulset",
    "disruption",
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


def _node_lifecycle(ctx: ControllerContext, options: ManagerOptions) -> Controller | None:
    return NodeLifecycleController(
        ctx,
        monitor_period=options.node_monitor_period,
        grace_period=options.node_monitor_grace_period,
        eviction_timeout=options.pod_eviction_timeout,
    )


def _node_ipam(ctx: ControllerContext, options: ManagerOptions) -> Controller | None:
    if not (options.allocate_node_cidrs and options.cluster_cidr):
        return None
    return NodeIpamController(ctx, options.cluster_cidr, options.node_cidr_mask_size)


# Each controller's constructor by name; None from one means "not with these options".
_BUILDERS: dict[str, Callable[[ControllerContext, ManagerOptions], Controller | None]] = {
    "endpointslice": lambda ctx, _: EndpointSliceController(ctx),
    "replicaset": lambda ctx, _: ReplicaSetController(ctx),
    "deployment": lambda ctx, _: DeploymentController(ctx),
    "nodelifecycle": _node_lifecycle,
    "nodeipam": _node_ipam,
    "namespace": lambda ctx, _: NamespaceController(ctx),
    "garbagecollector": lambda ctx, _: GarbageCollector(ctx),
    "replicationcontroller": lambda ctx, _: ReplicationControllerController(ctx),
    "job": lambda ctx, _: JobController(ctx),
    "daemonset": lambda ctx, _: DaemonSetController(ctx),
    "cronjob": lambda ctx, _: CronJobController(ctx),
    "statefulset": lambda ctx, _: StatefulSetController(ctx),
    "disruption": lambda ctx, _: DisruptionController(ctx),
}


def build_controllers(ctx: ControllerContext, options: ManagerOptions) -> list[Controller]:
    """The wanted controllers, in ALL_CONTROLLERS order."""
    wanted = set(options.controllers)
    built = (_BUILDERS[name](ctx, options) for name in ALL_CONTROLLERS if name in wanted)
    return [c for c in built if c is not None]


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


def leader_config(options: ManagerOptions) -> LeaderElectionConfig | None:
    if not options.leader_elect:
        return None
    return LeaderElectionConfig(
        lease_name=LEASE_NAME,
        lease_namespace="kube-system",
        identity=options.identity,
        lease_duration=options.lease_duration,
        renew_deadline=options.renew_deadline,
        retry_period=options.retry_period,
    )


async def run_manager(client: ApiClient, options: ManagerOptions) -> int:
    """Run the loops (under leader election if asked); returns the exit code."""
    return await run_leading(
        client, leader_config(options), lambda: run_controllers(client, options)
    )


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
    add_leader_election_flags(p)


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


def run(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    try:
        options = options_from_args(args)
        leader_config(options)  # the lease durations must fit together
        client = ApiClient(load_kubeconfig(args.kubeconfig))
    except (ValueError, ConfigError) as e:
        return fail("knet controller-manager", str(e), 2)

    async def main() -> int:
        async with client:
            return await until_stopped(run_manager(client, options))

    return run_main(main)
