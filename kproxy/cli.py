"""kproxy's command line: kube-proxy's flag names (including 1.32's spellings) -> Options.

Parsing is pure: ``parse_options(argv)`` returns a frozen Options or exits with status 2 and a
usage message, as argparse does, for anything it cannot accept.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

PROXY_MODES = ("iptables", "userspace", "nftables")
BACKENDS = ("restore", "python-iptables")
VARIANTS = ("legacy", "nft", "auto")
DEFAULT_HEALTHZ_PORT = 10256
DEFAULT_METRICS_PORT = 10249

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go duration ("1s", "500ms", "1m30s", "0") in seconds."""
    value = text.strip()
    if value in ("0", "+0", "-0"):
        return 0.0
    if value.startswith("-"):
        raise argparse.ArgumentTypeError(f"duration {text!r} must not be negative")
    pos, total = 0, 0.0
    while pos < len(value):
        m = _DURATION_PART.match(value, pos)
        if not m:
            raise argparse.ArgumentTypeError(
                f"invalid duration {text!r}: use a number with a unit, e.g. 1s, 500ms, 1m30s"
            )
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos == 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}")
    return total


@dataclass(frozen=True)
class BindAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_bind_address(text: str, default_port: int) -> BindAddress | None:
    """Parse 'host:port', '[v6]:port' or a bare IP (default port); '' disables the server."""
    value = text.strip()
    if not value:
        return None
    host, port_text = value, ""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: {host!r} is not an IP address") from None
    if not port_text:
        return BindAddress(host, default_port)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r}: {port_text!r} is not a port number")
    return BindAddress(host, int(port_text))


def _cidr(text: str) -> str:
    try:
        return str(ipaddress.IPv4Network(text.strip(), strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IPv4 CIDR") from None


def _cidr_list(text: str) -> tuple[str, ...]:
    return tuple(_cidr(part) for part in text.split(",") if part.strip())


def _ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IPv4 address") from None


def parse_port_range(text: str) -> tuple[int, int] | None:
    """kube-proxy's --proxy-port-range: "BEGIN-END", "BEGIN+OFFSET", a single port, or ""
    (None: the kernel picks free ports)."""
    value = text.strip()
    if not value:
        return None
    try:
        if "+" in value:
            lo_text, off_text = value.split("+", 1)
            lo, hi = int(lo_text), int(lo_text) + int(off_text)
        elif "-" in value:
            lo_text, hi_text = value.split("-", 1)
            lo, hi = int(lo_text), int(hi_text)
        else:
            lo = hi = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid port range {text!r}: use BEGIN-END or BEGIN+OFFSET"
        ) from None
    if not 0 < lo <= hi < 65536:
        raise argparse.ArgumentTypeError(f"port range {text!r} must lie within 1-65535, low-high")
    return (lo, hi)


def _bit(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 31:
        raise argparse.ArgumentTypeError(f"{text!r} must be a bit number in 0..31")
    return int(text)


@dataclass(frozen=True)
class Options:
    kubeconfig: Path | None
    hostname: str
    proxy_mode: Literal["iptables", "userspace", "nftables"]
    cluster_cidr: str | None
    masquerade_all: bool
    masquerade_bit: int
    min_sync_period: float
    sync_period: float
    iptables_backend: Literal["restore", "python-iptables"]
    iptables_variant: Literal["legacy", "nft", "auto"]
    healthz_bind_address: BindAddress | None
    metrics_bind_address: BindAddress | None
    cleanup: bool
    use_endpoints: bool
    node_ips: tuple[str, ...]
    nodeport_addresses: tuple[str, ...]
    verbosity: int
    # userspace mode only
    proxy_port_range: tuple[int, int] | None = None
    udp_timeout: float = 5.0
    userspace_copy: Literal["splice", "buffered"] = "splice"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kproxy",
        description="kube-proxy for one node: iptables, nftables or userspace mode.",
    )
    p.add_argument("--kubeconfig", type=Path, help="kubeconfig of the API server to watch")
    p.add_argument(
        "--hostname-override",
        default="",
        help="this node's name (default: the host name, lowercased)",
    )
    p.add_argument(
        "--proxy-mode",
        default="iptables",
        type=lambda s: s or "iptables",
        choices=PROXY_MODES,
        help="which proxy implementation to run",
    )
    p.add_argument(
        "--cluster-cidr",
        type=_cidr,
        help="pod CIDR: traffic to a ClusterIP from outside it is masqueraded",
    )
    p.add_argument("--masquerade-all", action="store_true", help="SNAT all service traffic")
    p.add_argument(
        "--iptables-masquerade-bit", dest="masquerade_bit", type=_bit, default=14, metavar="BIT"
    )
    p.add_argument(
        "--min-sync-period",
        "--iptables-min-sync-period",
        dest="min_sync_period",
        type=parse_duration,
        default=1.0,
        metavar="DURATION",
        help="least time between syncs after the first bursts (default 1s)",
    )
    p.add_argument(
        "--sync-period",
        "--iptables-sync-period",
        dest="sync_period",
        type=parse_duration,
        default=30.0,
        metavar="DURATION",
        help="canary poll and retry period; health timeout is twice this (default 30s)",
    )
    p.add_argument("--iptables-backend", choices=BACKENDS, default="restore")
    p.add_argument("--iptables-variant", choices=VARIANTS, default="auto")
    p.add_argument(
        "--healthz-bind-address",
        default=f"0.0.0.0:{DEFAULT_HEALTHZ_PORT}",
        metavar="IP:PORT",
        help='"" disables the health server',
    )
    p.add_argument(
        "--metrics-bind-address",
        default=f"127.0.0.1:{DEFAULT_METRICS_PORT}",
        metavar="IP:PORT",
        help='"" disables the metrics server',
    )
    p.add_argument("--cleanup", action="store_true", help="remove kproxy's rules and exit")
    p.add_argument(
        "--use-endpoints",
        action="store_true",
        help="watch core/v1 Endpoints instead of EndpointSlices",
    )
    p.add_argument(
        "--bind-address",
        "--node-ip",
        dest="node_ip",
        default="",
        metavar="IP",
        help="this node's primary IP (0.0.0.0: find it from the Node object)",
    )
    p.add_argument(
        "--nodeport-addresses",
        type=_cidr_list,
        default=(),
        metavar="CIDRS",
        help="comma-separated CIDRs whose node addresses accept NodePorts (default: all)",
    )
    p.add_argument(
        "--proxy-port-range",
        type=parse_port_range,
        default=None,
        metavar="BEGIN-END",
        help="userspace mode: ports for the service listeners (default: any free port)",
    )
    p.add_argument(
        "--udp-timeout",
        type=parse_duration,
        default=5.0,
        metavar="DURATION",
        help="userspace mode: idle UDP sessions are closed after this long (default 5s)",
    )
    p.add_argument(
        "--userspace-copy",
        choices=("splice", "buffered"),
        default="splice",
        help="userspace mode: how TCP bytes are relayed (splice: zero-copy, the default)",
    )
    p.add_argument("-v", "--v", dest="verbosity", type=int, default=0, metavar="LEVEL")
    return p


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        healthz = parse_bind_address(args.healthz_bind_address, DEFAULT_HEALTHZ_PORT)
        metrics = parse_bind_address(args.metrics_bind_address, DEFAULT_METRICS_PORT)
        node_ips: tuple[str, ...] = ()
        if args.node_ip and args.node_ip not in ("0.0.0.0", "::"):
            node_ips = (_ipv4(args.node_ip),)
    except argparse.ArgumentTypeError as e:
        parser.error(str(e))
    if args.min_sync_period > args.sync_period:
        parser.error("--min-sync-period must not exceed --sync-period")
    if args.sync_period <= 0:
        parser.error("--sync-period must be greater than 0")
    if args.udp_timeout <= 0:
        parser.error("--udp-timeout must be greater than 0")
    if not args.cleanup and args.kubeconfig is None:
        parser.error("--kubeconfig is required (except with --cleanup)")
    hostname = (args.hostname_override or socket.gethostname()).strip().lower()
    return Options(
        kubeconfig=args.kubeconfig,
        hostname=hostname,
        proxy_mode=args.proxy_mode,
        cluster_cidr=args.cluster_cidr,
        masquerade_all=args.masquerade_all,
        masquerade_bit=args.masquerade_bit,
        min_sync_period=args.min_sync_period,
        sync_period=args.sync_period,
        iptables_backend=args.iptables_backend,
        iptables_variant=args.iptables_variant,
        healthz_bind_address=healthz,
        metrics_bind_address=metrics,
        cleanup=args.cleanup,
        use_endpoints=args.use_endpoints,
        node_ips=node_ips,
        nodeport_addresses=args.nodeport_addresses,
        verbosity=args.verbosity,
        proxy_port_range=args.proxy_port_range,
        udp_timeout=args.udp_timeout,
        userspace_copy=args.userspace_copy,
    )
