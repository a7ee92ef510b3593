"""Measurements the lab's parent process makes from the root namespace, each in a scratch
namespace through nsenter, each bounded (killed by pid when over budget):

* one ``iptables -A`` into a table of a given size;
* the data plane: TCP connect latency and a bounded transfer from the client pod.

(The restore floors are measured by the control-plane child, interleaved with kproxy's syncs.)
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from knet.netlink.exec import netns_argv
from kproxy.lab.backends import BackendSpec
from kproxy.lab.bounded import Timeout, run_bounded
from kproxy.lab.stats import percentile
from kproxy.lab.topology import Topology, child_env, python_argv

PROBE_CHAIN = "KT-LAB-PROBE"


class MeasureFailed(Exception):
    pass


def append_one_rule(
    spec: BackendSpec, netns: str, repeats: int, timeout: float, slow: float = 5.0
) -> float:
    """Median seconds of one ``iptables -t nat -A`` in ``netns`` (whatever its tables hold).

    The chain is created first (not timed); repeating stops early once one append took longer
    than ``slow`` seconds. Raises Timeout when an append overruns ``timeout``.
    """
    ipt = [spec.iptables, "-w", "-t", "nat"]
    out = run_bounded(netns_argv(netns, [*ipt, "-N", PROBE_CHAIN]), timeout=timeout)
    if out.timed_out:
        raise Timeout(f"{spec.iptables} -N", timeout)
    if not out.ok and "exists" not in out.stderr:
        raise MeasureFailed(f"{spec.iptables} -N {PROBE_CHAIN} failed: {out.stderr.strip()}")
    times: list[float] = []
    for k in range(repeats):
        rule = ["-A", PROBE_CHAIN, "-d", f"192.0.2.{k + 1}/32", "-j", "RETURN"]
        out = run_bounded(netns_argv(netns, [*ipt, *rule]), timeout=timeout)
        if out.timed_out:
            raise Timeout(f"{spec.iptables} -A", timeout)
        if not out.ok:
            raise MeasureFailed(f"{spec.iptables} -A failed: {out.stderr.strip()}")
        times.append(out.seconds)
        if out.seconds > slow:
            break
    return statistics.median(times)


# -------------------------------------------------------------------------------------------
# The data plane


@dataclass(frozen=True)
class DataplaneMode:
    """A way kproxy forwards Service traffic. ``prepare`` puts it in place in the node
    namespace once the control-plane step has run; ``unavailable`` says why it cannot run."""

    name: str
    backends: frozenset[str]  # rows of these backends measure this mode's data plane
    unavailable: str | None = None
    prepare: Callable[[Topology], None] | None = None


def _nothing(topo: Topology) -> None:
    """iptables mode: the proxier's sync already loaded the rules into the node namespace."""


MODES: dict[str, DataplaneMode] = {
    m.name: m
    for m in (
        # python-iptables writes the same x_tables rules as restore-legacy: same data plane.
        DataplaneMode("iptables", frozenset({"restore-legacy", "restore-nft"}), None, _nothing),
        DataplaneMode(
            "userspace",
            frozenset(),
            "kproxy has no userspace mode yet (issue 7); add it here when it lands",
        ),
    )
}


def connect_latency(
    topo: Topology,
    targets: dict[str, str],
    samples: int,
    timeout: float,
) -> dict[str, Any]:
    """p50/p99 connect round trip (µs) per named target ("first": "10.96.0.1:80", ...)."""
    if topo.client is None:
        raise ValueError("the topology has no data plane")
    args = ["connect", "--samples", str(samples), "--deadline", str(max(1.0, timeout - 5))]
    for target in targets.values():
        args += ["--target", target]
    out = run_bounded(
        python_argv(topo.client, "kproxy.lab.agent", args), timeout=timeout, env=child_env()
    )
    if out.timed_out:
        raise Timeout("connect latency", timeout)
    if not out.ok:
        raise MeasureFailed(f"connect agent failed: {out.stderr.strip()[-300:]}")
    raw: dict[str, dict[str, Any]] = json.loads(out.stdout)
    fields: dict[str, Any] = {"connect_failures": 0}
    for label, target in targets.items():
        entry = raw[target]
        us: list[float] = entry["us"]
        if entry["failures"] and not us:
            raise MeasureFailed(f"no connection to {label} ({target}): {entry['error']}")
        fields[f"connect_{label}_p50_us"] = percentile(us, 50)
        fields[f"connect_{label}_p99_us"] = percentile(us, 99)
        fields["connect_failures"] += entry["failures"]
        fields["connect_samples"] = len(us)
    return fields


def transfer(topo: Topology, target: str, seconds: float, timeout: float) -> float:
    """Mbit/s of one bounded TCP transfer from the client through ``target``."""
    if topo.client is None:
        raise ValueError("the topology has no data plane")
    args = ["throughput", "--target", target, "--seconds", str(seconds)]
    out = run_bounded(
        python_argv(topo.client, "kproxy.lab.agent", args), timeout=timeout, env=child_env()
    )
    if out.timed_out:
        raise Timeout("throughput", timeout)
    if not out.ok:
        raise MeasureFailed(f"throughput agent failed: {out.stderr.strip()[-300:]}")
    result = json.loads(out.stdout)
    return float(result["bytes"]) * 8 / 1e6 / float(result["seconds"])
