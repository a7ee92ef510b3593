"""Leader election for a program that runs active-standby: upstream's flags, and running the
work only while this process holds the kube-system Lease."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from knet.client import ApiClient, LeaderElectionConfig, LeaderElector
from knet.component.durations import duration_arg

log = logging.getLogger("knet.component.leader")


def add_leader_election_flags(p: argparse.ArgumentParser) -> None:
    """Upstream's --leader-elect flags (15s lease, 10s renew deadline, 2s retry)."""
    p.add_argument("--leader-elect", action="store_true")
    p.add_argument("--leader-elect-lease-duration", type=duration_arg, default=15.0)
    p.add_argument("--leader-elect-renew-deadline", type=duration_arg, default=10.0)
    p.add_argument("--leader-elect-retry-period", type=duration_arg, default=2.0)
    p.add_argument("--leader-elect-identity", default="", help="default: hostname_random")


def leader_election_from_args(
    args: argparse.Namespace, lease_name: str
) -> LeaderElectionConfig | None:
    """The Lease settings the flags ask for (None without --leader-elect); ValueError if the
    durations do not fit together."""
    if not args.leader_elect:
        return None
    return LeaderElectionConfig(
        lease_name=lease_name,
        lease_namespace="kube-system",
        identity=args.leader_elect_identity,
        lease_duration=args.leader_elect_lease_duration,
        renew_deadline=args.leader_elect_renew_deadline,
        retry_period=args.leader_elect_retry_period,
    )


async def run_leading(
    client: ApiClient,
    config: LeaderElectionConfig | None,
    work: Callable[[], Coroutine[Any, Any, None]],
) -> int:
    """Run ``work`` (only while holding the Lease, if ``config``); the exit code: 0 when the
    work ends, 1 when the lease is lost (as upstream: a fresh process starts clean)."""
    if config is None:
        await work()
        return 0
    elector = LeaderElector(
        client,
        config,
        work,
        on_new_leader=lambda who: log.info("%s: leader is now %s", config.lease_name, who),
    )
    await elector.run()
    log.error("%s: leader election lost", config.lease_name)
    return 1
