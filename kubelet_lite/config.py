"""kubelet-lite's configuration: the command line, checked, as one frozen object."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_address
from pathlib import Path

from knet.api.names import is_dns1123_subdomain
from knet.netlink import names

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class ConfigError(ValueError):
    """A flag value kubelet-lite cannot use; the message names the flag."""


_SIZE_RE = re.compile(r"^(\d+)(Ki|Mi|Gi|K|M|G)?$")
_SIZE_UNITS = {None: 1, "K": 1000, "M": 10**6, "G": 10**9, "Ki": 1024, "Mi": 2**20, "Gi": 2**30}


def parse_size(text: str, flag: str) -> int:
    """A byte count as the kubelet's quantity flags take it: ``10Mi``, ``500Ki``, ``1000000``."""
    m = _SIZE_RE.match(text.strip())
    if m is None:
        raise ConfigError(f"{flag}: {text!r} is not a size (like 10Mi, 500Ki)")
    return int(m[1]) * _SIZE_UNITS[m[2]]


def parse_duration(text: str, flag: str = "duration") -> float:
    """Go-style durations as kubelet takes them: ``10s``, ``1m30s``, ``250ms``; seconds."""
    s = text.strip()
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(s):
        if m.start() != pos:
            break
        total += float(m[1]) * _UNITS[m[2]]
        pos = m.end()
    if not s or pos != len(s):
        raise ConfigError(f"{flag}: {text!r} is not a duration (like 10s, 1m30s, 250ms)")
    return total


@dataclass(frozen=True, kw_only=True)
class KubeletConfig:
    kubeconfig: Path
    node_name: str
    node_ip: IPv4Address
    root_dir: Path
    pod_cidr: IPv4Network | None = None
    node_netns: str | None = None
    bridge: str = "kbr0"
    node_status_update_frequency: float = 10.0
    node_lease_duration_seconds: int = 40
    pod_netns_prefix: str = "kl-"
    max_pods: int = 110
    crash_loop_backoff_initial: float = 10.0
    crash_loop_backoff_max: float = 300.0
    sync_frequency: float = 60.0
    cluster_dns: tuple[str, ...] = ("10.96.0.10",)
    cluster_domain: str = "cluster.local"
    resolv_conf: Path = Path("/etc/resolv.conf")
    pod_max_pids: int = -1  # on the pod's cgroup, as the kubelet; -1: no limit
    port: int = 10250  # the kubelet API (HTTPS); 0: none
    address: str | None = None  # None: 0.0.0.0 inside --node-netns only (never the root netns)
    container_log_max_size: int = 10 * 1024 * 1024
    container_log_max_files: int = 5

    def __post_init__(self) -> None:
        if is_dns1123_subdomain(self.node_name):
            raise ConfigError(
                f"--hostname-override: {self.node_name!r} is not a valid node name (lower-case "
                "letters, digits, '-' and '.', at most 253 characters)"
            )
        if self.pod_cidr is not None and self.pod_cidr.prefixlen > 30:
            raise ConfigError(
                f"--pod-cidr: {self.pod_cidr} is too small for pods (need /30 or larger)"
            )
        if self.node_netns is not None:
            try:
                names.validate_netns_name(self.node_netns)
            except ValueError as exc:
                raise ConfigError(f"--node-netns: {exc}") from None
        try:
            names.validate_ifname(self.bridge)
            names.netns_name("x", self.pod_netns_prefix)
        except ValueError as exc:
            raise ConfigError(f"--bridge/--pod-netns-prefix: {exc}") from None
        if self.node_status_update_frequency <= 0:
            raise ConfigError("--node-status-update-frequency must be positive")
        if self.node_lease_duration_seconds <= 0:
            raise ConfigError("--node-lease-duration-seconds must be positive")
        if not 0 < self.crash_loop_backoff_initial <= self.crash_loop_backoff_max:
            raise ConfigError("need 0 < --crash-loop-backoff-initial <= --crash-loop-backoff-max")
        if self.max_pods < 1:
            raise ConfigError("--max-pods must be at least 1")
        for server in self.cluster_dns:
            try:
                ip_address(server)
            except ValueError:
                raise ConfigError(f"--cluster-dns: {server!r} is not an IP address") from None
        if is_dns1123_subdomain(self.cluster_domain):
            raise ConfigError(f"--cluster-domain: {self.cluster_domain!r} is not a DNS domain")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port: {self.port} is not a port number (0 turns the API off)")
        if self.container_log_max_files < 2:
            raise ConfigError("--container-log-max-files must be at least 2")
        if self.container_log_max_size < 64 * 1024:
            raise ConfigError("--container-log-max-size must be at least 64Ki")

    @property
    def lease_renew_interval(self) -> float:
        """A quarter of the lease duration, as kubelet renews (10 s for 40 s)."""
        return self.node_lease_duration_seconds / 4

    @property
    def pods_dir(self) -> Path:
        return self.root_dir / "pods"

    @property
    def ipam_dir(self) -> Path:
        return self.root_dir / "ipam"

    @property
    def runtime_dir(self) -> Path:
        return self.root_dir / "runtime"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kubelet-lite",
        description="The node agent: pods of this node as processes in network namespaces.",
    )
    p.add_argument("--kubeconfig", required=True, help="how to reach the API server")
    p.add_argument("--hostname-override", required=True, help="this node's name")
    p.add_argument("--node-ip", required=True, help="this node's IPv4 address (InternalIP)")
    p.add_argument(
        "--pod-cidr",
        help="pod addresses for this node; without it, Node.spec.podCIDR (set by the control "
        "plane) is used",
    )
    p.add_argument(
        "--node-netns",
        help="named network namespace that plays the node (local cluster, tests); the bridge "
        "and pod veths live there. Unset: this process's namespace",
    )
    p.add_argument("--root-dir", required=True, help="state: checkpoints, IPAM, logs")
    p.add_argument("--bridge", default="kbr0", help="the node's pod bridge (default kbr0)")
    p.add_argument("--node-status-update-frequency", default="10s")
    p.add_argument("--node-lease-duration-seconds", type=int, default=40)
    p.add_argument("--max-pods", type=int, default=110)
    p.add_argument("--sync-frequency", default="1m", help="periodic resync of every pod")
    p.add_argument(
        "--pod-netns-prefix",
        default="kl-",
        help="prefix of pod network namespace names (default kl-)",
    )
    p.add_argument("--crash-loop-backoff-initial", default="10s")
    p.add_argument("--crash-loop-backoff-max", default="5m")
    p.add_argument(
        "--cluster-dns",
        default="10.96.0.10",
        help="comma-separated DNS server IPs for ClusterFirst pods (default 10.96.0.10)",
    )
    p.add_argument(
        "--cluster-domain",
        default="cluster.local",
        help="the cluster's DNS domain, in pods' search lists (default cluster.local)",
    )
    p.add_argument(
        "--resolv-conf",
        default="/etc/resolv.conf",
        help="the node's resolver configuration, for Default-policy and hostNetwork pods",
    )
    p.add_argument(
        "--pod-max-pids",
        type=int,
        default=-1,
        help="most processes a pod may run (pids cgroup; default -1: no limit)",
    )
    p.add_argument("--port", type=int, default=10250, help="kubelet API port (HTTPS); 0: off")
    p.add_argument(
        "--address",
        help="kubelet API address; unset: 0.0.0.0 inside --node-netns (never the root netns)",
    )
    p.add_argument("--container-log-max-size", default="10Mi")
    p.add_argument("--container-log-max-files", type=int, default=5)
    p.add_argument("-v", "--v", type=int, default=0, dest="verbosity", help="log verbosity")
    return p


def config_from_args(args: argparse.Namespace) -> KubeletConfig:
    try:
        node_ip = ip_address(args.node_ip)
    except ValueError:
        raise ConfigError(f"--node-ip: {args.node_ip!r} is not an IP address") from None
    if not isinstance(node_ip, IPv4Address):
        raise ConfigError(f"--node-ip: {node_ip} is IPv6; kubelet-lite is IPv4 only")
    pod_cidr = None
    if args.pod_cidr:
        try:
            pod_cidr = IPv4Network(args.pod_cidr, strict=True)
        except ValueError as exc:
            raise ConfigError(f"--pod-cidr: {exc}") from None
    return KubeletConfig(
        kubeconfig=Path(args.kubeconfig),
        node_name=args.hostname_override,
        node_ip=node_ip,
        pod_cidr=pod_cidr,
        node_netns=args.node_netns,
        root_dir=Path(args.root_dir).absolute(),
        bridge=args.bridge,
        node_status_update_frequency=parse_duration(
            args.node_status_update_frequency, "--node-status-update-frequency"
        ),
        node_lease_duration_seconds=args.node_lease_duration_seconds,
        pod_netns_prefix=args.pod_netns_prefix,
        max_pods=args.max_pods,
        sync_frequency=parse_duration(args.sync_frequency, "--sync-frequency"),
        crash_loop_backoff_initial=parse_duration(
            args.crash_loop_backoff_initial, "--crash-loop-backoff-initial"
        ),
        crash_loop_backoff_max=parse_duration(
            args.crash_loop_backoff_max, "--crash-loop-backoff-max"
        ),
        cluster_dns=tuple(s.strip() for s in args.cluster_dns.split(",") if s.strip()),
        cluster_domain=args.cluster_domain.strip().rstrip("."),
        resolv_conf=Path(args.resolv_conf),
        pod_max_pids=args.pod_max_pids,
        port=args.port,
        address=args.address,
        container_log_max_size=parse_size(args.container_log_max_size, "--container-log-max-size"),
        container_log_max_files=args.container_log_max_files,
    )


def parse_args(argv: Sequence[str] | None = None) -> tuple[KubeletConfig, int]:
    """(config, verbosity); raises ConfigError (or SystemExit from argparse) on bad flags."""
    args = build_parser().parse_args(argv)
    return config_from_args(args), args.verbosity
