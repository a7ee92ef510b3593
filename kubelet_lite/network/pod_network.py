"""Pod network sandboxes with CNI bridge + host-local semantics, in-process.

add()    netns named from the pod UID; node bridge (gateway address) ensured; veth pair with the
         host end on the bridge (hairpin on) and the pod end ``eth0`` in the pod netns, holding
         an address from the node's podCIDR; lo up; default route via the gateway.
         All-or-nothing: if a step fails, what this call created is undone, newest first.
delete() idempotent and best-effort (CNI DEL): every step runs even when an earlier one finds
         nothing, and it succeeds when the netns, the link or the allocation is already gone.
check()  lists drift between what add() built and what the kernel and IPAM now hold.

Blocking calls; from async code run them with ``asyncio.to_thread``. Calls for different pods
may run concurrently; calls for the same pod must be serialized by the caller (as kubelet's
per-pod workers do, and as CNI requires of runtimes).
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable
from contextlib import ExitStack
from ipaddress import IPv4Address, IPv4Interface

from knet.ipam.allocator import IPAllocator
from knet.ipam.disk_store import DiskStore
from knet.ipam.store import Owner
from knet.netlink import addrs, links, names, routes, sysctl
from knet.netlink import netns as netns_mod
from knet.netlink.errors import NetlinkError
from knet.netlink.session import Session, SessionCache, open_session
from kubelet_lite.network.conf import NetConf, SandboxResult, SandboxSpec

log = logging.getLogger(__name__)


class SandboxError(Exception):
    """add/delete failed; the message names the pod, the failed step and any rollback trouble.

    ``rolled_back`` is False only when add() could not undo all it made: its caller must then
    treat the sandbox as half made (a later delete() finishes the job)."""

    def __init__(self, message: str, rolled_back: bool = True) -> None:
        super().__init__(message)
        self.rolled_back = rolled_back


class PodNetwork:
    """add/check/delete pod sandboxes on one node, as configured by a NetConf."""

    def __init__(self, conf: NetConf) -> None:
        self.conf = conf
        self.allocator = IPAllocator(conf.ip_range, DiskStore(conf.ipam_dir))
        self._node = SessionCache(conf.node_netns)
        self._sysctls_done_for: int | None = None
        self._mutex = threading.Lock()

    def close(self) -> None:
        """Close the cached netlink sessions to the node namespace."""
        self._node.close()

    def __enter__(self) -> PodNetwork:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- naming --------------------------------------------------------------------------------
    def netns_name(self, spec: SandboxSpec) -> str:
        return names.netns_name(spec.pod_uid, self.conf.netns_prefix)

    def host_veth(self, spec: SandboxSpec) -> str:
        return names.veth_name(spec.pod_uid, spec.ifname, self.conf.veth_prefix)

    # -- node ----------------------------------------------------------------------------------
    def ensure_node(self) -> None:
        """Converge the node side: bridge up with the gateway address, and in a named node
        namespace ip_forward and bridge-nf-call-iptables on. add() does this too."""
        self._ensure_node(self._node.get())

    def _ensure_node(self, node: Session) -> links.LinkInfo:
        conf = self.conf
        bridge = links.ensure_bridge(node, conf.bridge)
        addrs.ensure_addr(node, bridge, conf.gateway)
        if conf.node_sysctls and conf.node_netns is not None:
            # Once per node namespace instance (a recreated namespace starts with defaults).
            ident = os.stat(netns_mod.path(conf.node_netns)).st_ino
            with self._mutex:
                if self._sysctls_done_for != ident:
                    sysctl.ensure_ip_forward(conf.node_netns)
                    sysctl.ensure_bridge_nf_call_iptables(conf.node_netns)
                    self._sysctls_done_for = ident
        return bridge

    # -- add -----------------------------------------------------------------------------------
    def add(self, spec: SandboxSpec) -> SandboxResult:
        conf = self.conf
        ns, veth = self.netns_name(spec), self.host_veth(spec)
        owner = Owner(spec.pod_uid, spec.ifname)
        rollback_failures: list[str] = []

        def undo(what: str, fn: Callable[[], object]) -> Callable[[], None]:
            def run() -> None:
                try:
                    fn()
                except Exception as exc:  # keep undoing the rest; report it with the failure
                    log.warning("rollback of %s for pod %s failed: %s", what, spec.label, exc)
                    rollback_failures.append(f"{what}: {exc}")

            return run

        step = "open node namespace"
        try:
            node = self._node.get()
            step = "ensure node bridge"
            bridge = self._ensure_node(node)
            with ExitStack() as rollback:
                step = "create pod netns"
                with open_session(ns, create=True) as pod:
                    rollback.callback(undo(f"remove netns {ns}", lambda: netns_mod.remove(ns)))
                    step = "create veth"
                    # Born up and already a bridge port, and not read back: one request.
                    links.add_veth(node, veth, spec.ifname, ns, conf.mtu, master=bridge, up=True)
                    rollback.callback(
                        undo(f"delete veth {veth}", lambda: links.delete_link(node, veth))
                    )
                    if conf.hairpin:
                        step = "set hairpin"
                        links.write_hairpin(node, veth, True)
                    step = "allocate IP"
                    alloc = self.allocator.allocate(owner)
                    rollback.callback(
                        undo(f"release {alloc.ip}", lambda: self.allocator.release(owner))
                    )
                    step = "configure pod interface"
                    eth = links.require_link(pod, spec.ifname, step)
                    addrs.ensure_addr(pod, eth, alloc.interface)
                    links.set_up(pod, eth)
                    links.set_up(pod, "lo")
                    step = "add default route"
                    routes.ensure_default_route(pod, alloc.gateway, eth)
                rollback.pop_all()  # success: keep everything
        except Exception as exc:
            msg = f"add sandbox for pod {spec.label}: {step}: {exc}"
            if rollback_failures:
                msg += "; rollback incomplete: " + "; ".join(rollback_failures)
            raise SandboxError(msg, rolled_back=not rollback_failures) from exc
        return SandboxResult(
            netns=ns,
            netns_path=netns_mod.path(ns),
            ifname=spec.ifname,
            ip=alloc.ip,
            prefixlen=alloc.prefixlen,
            gateway=alloc.gateway,
            host_veth=veth,
            mac=eth.mac or "",
        )

    # -- delete --------------------------------------------------------------------------------
    def delete(self, spec: SandboxSpec) -> None:
        """Remove the pod's veth, IP reservation and netns; succeeds if any are already gone."""
        ns, veth = self.netns_name(spec), self.host_veth(spec)
        failures: list[str] = []
        # Deleting the host end takes the pod's eth0 with it, without entering the pod netns.
        try:
            links.delete_link(self._node.get(), veth)
        except NetlinkError as exc:
            if not (exc.errno == errno.ENOENT and self.conf.node_netns is not None):
                failures.append(f"delete veth {veth}: {exc}")
            # ENOENT: the node namespace itself is gone, and its links with it.
        try:
            self.allocator.release(Owner(spec.pod_uid, spec.ifname))
        except Exception as exc:
            failures.append(f"release IP: {exc}")
        try:
            netns_mod.remove(ns)
        except Exception as exc:
            failures.append(f"remove netns {ns}: {exc}")
        if failures:
            raise SandboxError(f"delete sandbox for pod {spec.label}: " + "; ".join(failures))

    # -- check ---------------------------------------------------------------------------------
    def check(self, spec: SandboxSpec, prev: SandboxResult | None = None) -> list[str]:
        """Drift between the sandbox and reality; [] when all is as add() left it."""
        conf = self.conf
        ns, veth = self.netns_name(spec), self.host_veth(spec)
        problems: list[str] = []
        alloc = self.allocator.get(Owner(spec.pod_uid, spec.ifname))
        expected: IPv4Interface | None = prev.interface if prev else None
        if alloc is None:
            problems.append(f"IPAM: no reservation for {spec.pod_uid}/{spec.ifname}")
        elif expected is not None and alloc.ip != expected.ip:
            problems.append(f"IPAM: reservation is {alloc.ip}, sandbox was given {expected.ip}")
        elif expected is None:
            expected = alloc.interface
        problems += self._check_node(veth)
        try:
            with open_session(ns) as pod:
                problems += _check_pod(pod, spec.ifname, expected, conf.ip_range.gateway)
        except NetlinkError as exc:
            problems.append(f"netns {ns} is missing" if exc.errno == errno.ENOENT else str(exc))
        return problems

    def _check_node(self, veth: str) -> list[str]:
        conf = self.conf
        where = f"node netns {conf.node_netns}" if conf.node_netns else "node"
        out: list[str] = []
        try:
            node = self._node.get()
            br = links.get_link(node, conf.bridge)
            if br is None or br.kind != "bridge":
                return [f"{where}: bridge {conf.bridge} is missing"]
            if not br.up:
                out.append(f"{where}: bridge {conf.bridge} is down")
            if conf.gateway not in addrs.list_addrs(node, conf.bridge):
                out.append(f"{where}: bridge {conf.bridge} lacks gateway {conf.gateway}")
            host = links.get_link(node, veth)
            if host is None:
                return [*out, f"{where}: host veth {veth} is missing"]
            if host.master != br.index:
                out.append(f"{where}: host veth {veth} is not attached to {conf.bridge}")
            if not host.up:
                out.append(f"{where}: host veth {veth} is down")
            if conf.hairpin and host.master == br.index and not host.hairpin:
                out.append(f"{where}: hairpin mode is off on {veth}")
        except NetlinkError as exc:
            out.append(f"{where}: {exc}")
        return out


def _check_pod(
    pod: Session, ifname: str, expected: IPv4Interface | None, gateway: IPv4Address
) -> list[str]:
    where = f"netns {pod.netns}"
    out: list[str] = []
    lo = links.get_link(pod, "lo")
    if lo is None or not lo.up:
        out.append(f"{where}: lo is down")
    link = links.get_link(pod, ifname)
    if link is None:
        return [*out, f"{where}: interface {ifname} is missing"]
    if not link.up:
        out.append(f"{where}: interface {ifname} is down")
    have = addrs.list_addrs(pod, ifname)
    if expected is not None and expected not in have:
        shown = ", ".join(map(str, have)) or "none"
        out.append(f"{where}: {ifname} lacks address {expected} (has {shown})")
    default = [r for r in routes.list_routes(pod) if r.dst == routes.DEFAULT]
    if not any(r.gateway == gateway and r.oif == link.index for r in default):
        out.append(f"{where}: no default route via {gateway} dev {ifname}")
    return out
