"""Deleting UDP conntrack entries that would keep sending clients to a dead endpoint.

A UDP "connection" lives in conntrack as long as packets keep coming, and every packet of it
follows the DNAT chosen for the first one. When an endpoint goes away, a client that keeps
sending would never be balanced onto a live endpoint, so kproxy deletes the entries DNATed to
it (upstream does the same after each successful sync). TCP needs nothing: the client sees a
reset or timeout and reconnects.

Planning (which entries) is pure; deleting runs the ``conntrack`` tool, argv only, in this
process's network namespace or in ``netns``.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kproxy.backend.base import BackendError
from kproxy.backend.restore import Runner, check_netns, in_netns, run_subprocess
from kproxy.servicemodel import EndpointInfo, ServicePortInfo, ServicePortName

log = logging.getLogger("kproxy.conntrack")


@dataclass(frozen=True)
class FlowFilter:
    """Entries to delete: by original destination address or port, and by DNAT target."""

    protocol: str
    orig_dst: str | None = None
    orig_port_dst: int | None = None
    dst_nat: str | None = None

    def argv(self) -> list[str]:
        argv = ["-D", "-p", self.protocol]
        if self.orig_dst is not None:
            argv += ["--orig-dst", self.orig_dst]
        if self.orig_port_dst is not None:
            argv += ["--orig-port-dst", str(self.orig_port_dst)]
        if self.dst_nat is not None:
            argv += ["--dst-nat", self.dst_nat]
        return argv


def _service_ips(info: ServicePortInfo) -> tuple[str, ...]:
    return (info.cluster_ip, *info.external_ips, *info.load_balancer_ips)


def stale_flows(
    stale_endpoints: Iterable[tuple[ServicePortName, EndpointInfo]],
    newly_active: Iterable[ServicePortName],
    services: Mapping[ServicePortName, ServicePortInfo],
) -> list[FlowFilter]:
    """The UDP entries to delete after a sync (sorted, without duplicates)."""
    out: set[FlowFilter] = set()
    for spn, ep in stale_endpoints:
        info = services.get(spn)
        if info is None or info.protocol != "UDP":
            continue
        for ip in _service_ips(info):
            out.add(FlowFilter("udp", orig_dst=ip, dst_nat=ep.ip))
        if info.node_port:
            out.add(FlowFilter("udp", orig_port_dst=info.node_port, dst_nat=ep.ip))
    for spn in newly_active:
        # Entries made while the service had no endpoint lead nowhere; start afresh.
        info = services.get(spn)
        if info is None or info.protocol != "UDP":
            continue
        for ip in _service_ips(info):
            out.add(FlowFilter("udp", orig_dst=ip))
        if info.node_port:
            out.add(FlowFilter("udp", orig_port_dst=info.node_port))
    return sorted(out, key=FlowFilter.argv)


class Conntrack:
    """Runs ``conntrack -D`` for each filter."""

    def __init__(
        self,
        *,
        netns: str | None = None,
        binary: str = "conntrack",
        runner: Runner | None = None,
        timeout: float = 10.0,
    ) -> None:
        check_netns(netns)
        self.netns = netns
        self.binary = binary
        self._run = runner or run_subprocess
        self.timeout = timeout
        self._warned_missing = False

    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    def delete(self, flows: Iterable[FlowFilter]) -> int:
        """Delete matching entries; returns how many filters ran cleanly. Failures are logged,
        not raised: a leftover entry only delays recovery until it times out."""
        ok = 0
        for flow in flows:
            argv = in_netns(self.netns, [self.binary, *flow.argv()])
            try:
                proc = self._run(argv, None, self.timeout)
            except BackendError as e:
                if not self._warned_missing:
                    log.warning("cannot clear conntrack entries: %s", e)
                    self._warned_missing = True
                continue
            # conntrack exits 1 when nothing matched ("0 flow entries have been deleted").
            if proc.returncode == 0 or "0 flow entries" in proc.stderr:
                ok += 1
            else:
                log.warning("%s failed: %s", " ".join(argv), proc.stderr.strip()[:200])
        return ok
