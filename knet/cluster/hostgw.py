"""``knet hostgw``: cross-node pod routes, host-gw style, learned by watching Nodes.

Each node runs one. In its node's namespace it keeps a route to every other node's podCIDR via
that node's InternalIP (which must be on a directly connected network, as flannel's host-gw
needs), removes the routes of nodes that are gone, and masquerades pod traffic leaving the
cluster CIDR (chain KNET-POSTROUTING in the nat table; kproxy owns the KUBE-* chains).

Which routes are ours: those with a gateway whose destination lies inside the cluster CIDR and
is not this node's own podCIDR (that one is the bridge's connected route, without a gateway).
So a restarted agent finds and removes stale routes without any memory of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from knet.client import ApiClient, ConfigError, Informer, load_kubeconfig
from knet.component import fail, run_main, setup_logging, stop_on_signals, wait_any
from knet.netlink import names, routes
from knet.netlink.errors import NetlinkError
from knet.netlink.exec import netns_argv
from knet.netlink.session import SessionCache

log = logging.getLogger("knet.hostgw")

CHAIN = "KNET-POSTROUTING"
JUMP_COMMENT = "knet host-gw: masquerade pods leaving the cluster CIDR"
RESYNC_PERIOD = 30.0


# ---------------------------------------------------------------------------- pure


def internal_ip(node: Mapping[str, Any]) -> IPv4Address | None:
    for addr in (node.get("status") or {}).get("addresses") or []:
        if addr.get("type") == "InternalIP":
            try:
                return IPv4Address(addr.get("address"))
            except ValueError:
                return None
    return None


def pod_cidr(node: Mapping[str, Any]) -> IPv4Network | None:
    cidr = (node.get("spec") or {}).get("podCIDR")
    try:
        return IPv4Network(cidr) if cidr else None
    except ValueError:
        return None


def node_name(node: Mapping[str, Any]) -> str:
    return str((node.get("metadata") or {}).get("name") or "")


def desired_routes(
    nodes: Iterable[Mapping[str, Any]], self_name: str, cluster_cidr: IPv4Network
) -> dict[IPv4Network, IPv4Address]:
    """podCIDR -> gateway for every other node that has both (inside the cluster CIDR)."""
    nodes = list(nodes)
    own = {pod_cidr(n) for n in nodes if node_name(n) == self_name} - {None}
    out: dict[IPv4Network, IPv4Address] = {}
    for n in sorted(nodes, key=node_name):
        if node_name(n) == self_name:
            continue
        cidr, ip = pod_cidr(n), internal_ip(n)
        if cidr is None or ip is None or cidr in own or not cidr.subnet_of(cluster_cidr):
            continue
        out.setdefault(cidr, ip)  # two nodes claiming one CIDR: the first name wins, stably
    return out


@dataclass(frozen=True)
class RoutePlan:
    add: dict[IPv4Network, IPv4Address]  # add or replace
    delete: list[IPv4Network]

    @property
    def empty(self) -> bool:
        return not self.add and not self.delete


def plan_routes(
    current: Iterable[routes.Route],
    desired: Mapping[IPv4Network, IPv4Address],
    cluster_cidr: IPv4Network,
) -> RoutePlan:
    """What to change so that the routes we own are exactly ``desired``."""
    have = {r.dst: r.gateway for r in current if r.gateway is not None}
    add = {dst: gw for dst, gw in desired.items() if have.get(dst) != gw}
    delete = sorted(dst for dst in have if dst.subnet_of(cluster_cidr) and dst not in desired)
    return RoutePlan(add=add, delete=delete)


def masquerade_restore_input(cluster_cidr: IPv4Network) -> str:
    """iptables-restore --noflush input: our chain, rewritten whole each time."""
    c = str(cluster_cidr)
    return (
        "*nat\n"
        f":{CHAIN} - [0:0]\n"
        f'-A {CHAIN} -s {c} -d {c} -m comment --comment "knet host-gw: pod to pod keeps its'
        ' source" -j RETURN\n'
        f'-A {CHAIN} -s {c} -m comment --comment "knet host-gw: pods leaving {c}" -j MASQUERADE\n'
        "COMMIT\n"
    )


def jump_rule(action: str) -> list[str]:
    """iptables arguments that check (-C) or append (-A) the jump from POSTROUTING."""
    return [
        "-t",
        "nat",
        action,
        "POSTROUTING",
        "-m",
        "comment",
        "--comment",
        JUMP_COMMENT,
        "-j",
        CHAIN,
    ]


# ---------------------------------------------------------------------------- kernel


class NodeNet:
    """Routes and the masquerade rule in the node's namespace (None: this process's own)."""

    def __init__(self, netns: str | None) -> None:
        self.netns = netns
        self.sessions = SessionCache(netns)

    def _argv(self, argv: Sequence[str]) -> list[str]:
        return netns_argv(self.netns, argv) if self.netns is not None else list(argv)

    def _run(
        self, argv: Sequence[str], stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._argv(argv), input=stdin, capture_output=True, text=True, timeout=30, check=False
        )

    def ensure_masquerade(self, cluster_cidr: IPv4Network) -> None:
        done = self._run(
            ["iptables-restore", "-w", "--noflush"], masquerade_restore_input(cluster_cidr)
        )
        if done.returncode != 0:
            raise RuntimeError(f"iptables-restore failed: {done.stderr.strip()}")
        if self._run(["iptables", "-w", *jump_rule("-C")]).returncode != 0:
            added = self._run(["iptables", "-w", *jump_rule("-A")])
            if added.returncode != 0:
                raise RuntimeError(f"adding the jump to {CHAIN} failed: {added.stderr.strip()}")

    def sync_routes(
        self, desired: Mapping[IPv4Network, IPv4Address], cluster_cidr: IPv4Network
    ) -> RoutePlan:
        s = self.sessions.get()
        plan = plan_routes(routes.list_routes(s), desired, cluster_cidr)
        for dst in plan.delete:
            log.info("deleting route %s (its node is gone)", dst)
            routes.delete_route(s, dst)
        for dst, gw in plan.add.items():
            log.info("route %s via %s", dst, gw)
            try:
                routes.ensure_route(s, dst, gw)
            except NetlinkError as exc:
                # One unreachable node (not on our link) must not stop the others' routes.
                log.error("cannot route %s via %s: %s", dst, gw, exc)
        return plan

    def close(self) -> None:
        self.sessions.close()


# ---------------------------------------------------------------------------- agent


@dataclass(frozen=True)
class HostGwConfig:
    kubeconfig: Path | None
    node_name: str
    netns: str | None
    cluster_cidr: IPv4Network
    resync_period: float = RESYNC_PERIOD


async def run_agent(config: HostGwConfig, client: ApiClient, stop: asyncio.Event) -> None:
    net = NodeNet(config.netns)
    # Sessions are thread-confined: one thread does all the netlink work.
    pool = ThreadPoolExecutor(1, thread_name_prefix="hostgw-net")
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()
    informer = Informer(client, "Node")
    informer.add_handler(
        on_add=lambda _: changed.set(),
        on_update=lambda _o, _n: changed.set(),
        on_delete=lambda _: changed.set(),
    )
    informer.start()
    masquerade_ok = False
    try:
        await informer.wait_for_sync()
        log.info("watching nodes; this is %s", config.node_name)
        while not stop.is_set():
            changed.clear()
            if not masquerade_ok:
                try:
                    await loop.run_in_executor(pool, net.ensure_masquerade, config.cluster_cidr)
                    masquerade_ok = True
                except Exception as exc:
                    log.error("masquerade rule: %s", exc)
            desired = desired_routes(informer.cache.list(), config.node_name, config.cluster_cidr)
            try:
                await loop.run_in_executor(pool, net.sync_routes, desired, config.cluster_cidr)
            except NetlinkError as exc:
                log.error("syncing routes: %s", exc)
            if not await wait_any([changed, stop], config.resync_period):
                masquerade_ok = False  # a periodic resync checks the rule again too
    finally:
        await informer.stop()
        await loop.run_in_executor(pool, net.close)
        pool.shutdown(wait=True)


# ---------------------------------------------------------------------------- CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", type=Path, default=None, help="how to reach the API server")
    p.add_argument("--node-name", required=True, help="this node's name")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--node-netns", help="the named network namespace that plays the node")
    where.add_argument(
        "--root-netns",
        action="store_true",
        help="this process's own namespace is the node's (a real machine or VM)",
    )
    p.add_argument("--cluster-cidr", default="10.244.0.0/16", help="pod CIDR of the cluster")
    p.add_argument("--resync-period", type=float, default=RESYNC_PERIOD, help="seconds")
    p.add_argument("-v", "--verbose", action="store_true")


def config_from_args(args: argparse.Namespace) -> HostGwConfig:
    try:
        cidr = IPv4Network(args.cluster_cidr)
    except ValueError as e:
        raise ValueError(f"--cluster-cidr: {e}") from None
    if args.node_netns is not None:
        names.validate_netns_name(args.node_netns)
    if args.resync_period <= 0:
        raise ValueError("--resync-period must be positive")
    return HostGwConfig(
        kubeconfig=args.kubeconfig,
        node_name=args.node_name,
        netns=args.node_netns,
        cluster_cidr=cidr,
        resync_period=args.resync_period,
    )


def run(args: argparse.Namespace) -> int:
    setup_logging(args.verbose, quiet=["pyroute2"])
    try:
        config = config_from_args(args)
        client = ApiClient(load_kubeconfig(config.kubeconfig))
    except (ValueError, ConfigError) as e:
        return fail("knet hostgw", str(e), 2)

    async def main() -> int:
        stop = stop_on_signals()
        async with client:
            with contextlib.suppress(asyncio.CancelledError):
                await run_agent(config, client, stop)
        return 0

    return run_main(main)
