#!/usr/bin/env python3
"""Say what the node's iptables rules do to a new connection.

Reads an iptables-save dump from a file (``--dump FILE``), from stdin (``--dump -``), or, with
no ``--dump``, runs ``iptables-save`` itself (read-only). Then follows one packet through nat
and filter, the way kube-proxy's own tests do, and prints the outcome in plain words.

With ``--nft`` it asks the kernel instead, for nftables mode: a scratch table marks packets to
--dst:--dport in the node namespace (--netns) for nftrace, one connection (or datagram) is
sent from --from-netns (default: the node itself), and the rules the first packet hit in
``table ip knet-proxy`` are printed. The scratch table is removed afterwards. Needs root.

Examples:
    iptables-save | scripts/trace_packet.py --dump - --src 10.244.1.5 --dst 10.96.0.10 \\
        --dport 53 --proto udp --node-ip 192.168.56.11
    scripts/trace_packet.py --variant legacy --src 203.0.113.7 --dst 192.168.56.11 \\
        --dport 30080 --node-ip 192.168.56.11 --verbose
    scripts/trace_packet.py --nft --netns kt-node --from-netns kt-client --dst 10.96.0.10 \
        --dport 80
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from knet.netlink.errors import NetlinkError
from kproxy.backend.base import BackendError
from kproxy.backend.restore import RestoreBackend
from kproxy.rules.parse import ParseError, parse_dump
from kproxy.rules.trace import TraceError, trace_packet


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--dump", help="iptables-save output to read ('-' for stdin)")
    p.add_argument(
        "--variant",
        choices=("legacy", "nft", "auto"),
        default="auto",
        help="which iptables-save to run when --dump is not given",
    )
    p.add_argument("--netns", help="read the rules of /run/netns/NAME instead (needs root)")
    p.add_argument("--src", help="source IP of the packet (iptables traces)")
    p.add_argument("--dst", required=True, help="destination IP of the packet")
    p.add_argument("--dport", required=True, type=int, help="destination port")
    p.add_argument("--proto", default="tcp", choices=("tcp", "udp", "sctp"))
    p.add_argument(
        "--node-ip",
        action="append",
        default=[],
        help="an address of the node (repeat); decides LOCAL address matches",
    )
    p.add_argument(
        "--local", action="store_true", help="the packet is sent by the node itself (nat OUTPUT)"
    )
    p.add_argument(
        "--recent",
        action="append",
        default=[],
        metavar="LIST=IP",
        help="pretend IP is in the 'recent' list LIST (session affinity); repeat as needed",
    )
    p.add_argument(
        "--assume-jumps",
        action="store_true",
        help="add kube-proxy's jumps from built-in chains where missing (for rendered rule "
        "sets, which do not contain them); off by default so a live node is shown as it is",
    )
    p.add_argument("--verbose", action="store_true", help="also list every rule that matched")
    p.add_argument("--nft", action="store_true", help="trace nftables mode with the kernel")
    p.add_argument("--from-netns", help="--nft: send the probe from this namespace")
    p.add_argument("--wait", type=float, default=1.0, help="--nft: seconds to collect events")
    args = p.parse_args(argv)
    if args.nft and not args.netns:
        p.error("--nft needs --netns (the node's namespace)")
    if not args.nft and not args.src:
        p.error("--src is required (except with --nft)")
    return args


PROBE = """
import socket, sys
host, port, proto = sys.argv[1], int(sys.argv[2]), sys.argv[3]
kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
with socket.socket(socket.AF_INET, kind) as s:
    s.settimeout(1.0)
    try:
        s.connect((host, port))
        s.send(b"trace")
    except OSError:
        pass
"""


def _nft_trace(args: argparse.Namespace) -> str:
    from kproxy.nftables.trace import describe, run_trace

    where = args.from_netns or args.netns
    argv = ["nsenter", f"--net=/run/netns/{where}", "--", sys.executable, "-c", PROBE]
    argv += [args.dst, str(args.dport), args.proto]

    def probe() -> None:
        subprocess.run(argv, check=True, timeout=10, capture_output=True)

    steps = run_trace(args.netns, probe, args.dst, args.proto, args.dport, args.wait)
    return describe(steps)


def _read_dump(args: argparse.Namespace) -> str:
    if args.dump == "-":
        return sys.stdin.read()
    if args.dump:
        return Path(args.dump).read_text()
    backend = RestoreBackend(args.variant, netns=args.netns)
    return "".join(backend.save(table) for table in ("filter", "nat"))


def _recent(pairs: list[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for pair in pairs:
        name, sep, ip = pair.partition("=")
        if not sep or not name or not ip:
            raise SystemExit(f"--recent wants LIST=IP, got {pair!r}")
        out.setdefault(name, set()).add(ip)
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.nft:
        try:
            print(_nft_trace(args))
        except (OSError, subprocess.SubprocessError, NetlinkError, ValueError, KeyError) as e:
            print(f"trace_packet: {e}", file=sys.stderr)
            return 1
        return 0
    try:
        dump = parse_dump(_read_dump(args))
        trace = trace_packet(
            dump,
            src_ip=args.src,
            dst_ip=args.dst,
            protocol=args.proto,
            dst_port=args.dport,
            node_ips=args.node_ip,
            local_src=args.local,
            recent=_recent(args.recent),
            assume_jumps=args.assume_jumps,
        )
    except (OSError, ParseError, TraceError, BackendError, ValueError) as e:
        print(f"trace_packet: {e}", file=sys.stderr)
        return 1
    print(trace.describe(verbose=args.verbose))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
