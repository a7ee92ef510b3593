"""The lab's scratch network: a node namespace with a bridge, a client pod and a server pod.

    kt-lab-<tag>-node   bridge ktlbr0 10.244.0.1/24; ip_forward and bridge-nf-call-iptables on
                        (pod-to-pod replies cross the bridge and must meet conntrack to be
                        un-DNATed), ICMP redirects off; route 10.128.0.0/9 via the server pod.
                        kproxy's rules are loaded here.
    kt-lab-<tag>-cli    eth0 10.244.0.2/24, default route via the node: the client pod
    kt-lab-<tag>-srv    eth0 10.244.0.3/24, and 10.128.0.1/9 on lo, which makes the whole /9
                        local: every endpoint address of the synthetic cluster answers here.
                        A TCP server (kproxy.lab.agent serve) listens on :8080.

Without the data plane only the node namespace is made. Everything is built with knet.netlink
in namespaces we create, nothing in the root namespace; ``close()`` kills the server by its pid
and removes every namespace (veths go with them), pass or fail.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from types import TracebackType

from knet.netlink import addrs, links, routes, sysctl
from knet.netlink import netns as netns_mod
from knet.netlink.exec import netns_argv
from knet.netlink.session import open_session
from kproxy.lab import workload as w
from kproxy.lab.bounded import kill_group_or_pid, signals_held

PREFIX = "kt-lab-"
BRIDGE = "ktlbr0"
NODE_ADDR = IPv4Interface("10.244.0.1/24")
CLIENT_ADDR = IPv4Interface("10.244.0.2/24")
SERVER_ADDR = IPv4Interface("10.244.0.3/24")
SERVER_PORT = w.TARGET_PORT
_REPO = str(Path(__file__).resolve().parents[2])


def python_argv(netns: str, module: str, args: Sequence[str]) -> list[str]:
    """Run ``python -m module args`` (this interpreter) inside ``netns``."""
    return netns_argv(netns, [sys.executable, "-m", module, *args])


def child_env() -> dict[str, str]:
    """The environment for our Python children: this checkout first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_REPO, env.get("PYTHONPATH")]))
    return env


class Topology:
    def __init__(self, tag: str, *, dataplane: bool, start_timeout: float = 20.0) -> None:
        self.tag = tag
        self.node = f"{PREFIX}{tag}-node"
        self.client: str | None = f"{PREFIX}{tag}-cli" if dataplane else None
        self.server: str | None = f"{PREFIX}{tag}-srv" if dataplane else None
        self.start_timeout = start_timeout
        self.made: list[str] = []
        self.server_proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Topology:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _make_ns(self, name: str) -> None:
        with signals_held():  # created and recorded, or neither
            netns_mod.create(name)
            self.made.append(name)

    def _build(self) -> None:
        self._make_ns(self.node)
        with open_session(self.node) as s:
            links.set_up(s, "lo")
        # The userspace mode's proxy listens on one kernel-picked port per Service.
        sysctl.write(self.node, {"net.ipv4.ip_local_port_range": "1024 65535"})
        if self.client is None or self.server is None:
            return
        self._make_ns(self.client)
        self._make_ns(self.server)
        sysctl.write(
            self.node,
            {
                sysctl.IP_FORWARD: 1,
                # Off before the bridge exists, so it inherits "default". A redirect would tell
                # the client to reach a VIP through the server directly, bypassing the rules.
                "net.ipv4.conf.all.send_redirects": 0,
                "net.ipv4.conf.default.send_redirects": 0,
            },
        )
        sysctl.ensure_bridge_nf_call_iptables(self.node)
        with open_session(self.node) as s:
            bridge = links.ensure_bridge(s, BRIDGE)
            addrs.ensure_addr(s, bridge, NODE_ADDR)
            for host, peer_ns in (("ktlcli0", self.client), ("ktlsrv0", self.server)):
                links.create_veth(s, host, "eth0", peer_ns, master=bridge, up=True)
            routes.ensure_route(s, w.ENDPOINT_CIDR, SERVER_ADDR.ip)
        for ns, addr in ((self.client, CLIENT_ADDR), (self.server, SERVER_ADDR)):
            with open_session(ns) as s:
                links.set_up(s, "lo")
                links.set_up(s, "eth0")
                addrs.ensure_addr(s, "eth0", addr)
                routes.ensure_default_route(s, NODE_ADDR.ip)
                if ns == self.server:
                    # On loopback a prefix is local as a whole (like 127.0.0.0/8).
                    first = w.ENDPOINT_CIDR.network_address + 1
                    addrs.ensure_addr(
                        s, "lo", IPv4Interface(f"{first}/{w.ENDPOINT_CIDR.prefixlen}")
                    )
        self._start_server(self.server)

    def _start_server(self, ns: str) -> None:
        argv = python_argv(ns, "kproxy.lab.agent", ["serve", "--port", str(SERVER_PORT)])
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
            start_new_session=True,
        )
        self.server_proc = proc
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], self.start_timeout)
        line = proc.stdout.readline().strip() if ready else ""
        if line != "ready":
            raise RuntimeError(f"the lab's TCP server in {ns} did not start: {line!r}")

    @property
    def pod_ip(self) -> IPv4Address:
        return SERVER_ADDR.ip

    def close(self) -> None:
        # A second Ctrl-C (or a SIGTERM) must not cut the cleanup short: it waits until the
        # namespaces are gone.
        with signals_held():
            proc, self.server_proc = self.server_proc, None
            if proc is not None:
                kill_group_or_pid(proc, group=True)
            errors = []
            for name in reversed(self.made):
                try:
                    netns_mod.remove(name)
                except Exception as e:  # keep removing the others
                    errors.append(f"{name}: {e}")
            self.made.clear()
        if errors:
            raise RuntimeError("could not remove lab namespaces: " + "; ".join(errors))


class ScratchNamespace:
    """One empty namespace (for the restore floor and the empty-table append)."""

    def __init__(self, name: str) -> None:
        if not name.startswith(PREFIX):
            raise ValueError(f"lab namespaces are named {PREFIX}..., not {name!r}")
        self.name = name

    def __enter__(self) -> str:
        with signals_held():
            netns_mod.create(self.name)
        return self.name

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with signals_held():
            netns_mod.remove(self.name)
