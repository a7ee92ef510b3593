#!/usr/bin/env python3
"""Say what the node's iptables rules do to a new connection.

Reads an iptables-save dump from a file (``--dump FILE``), from stdin (``--dump -``), or, with
no ``--dump``, runs ``iptables-save`` itself (read-only). Then follows one packet through nat
and filter, the way kube-proxy's own tests do, and prints the outcome in plain words.

Examples:
    iptables-save | scripts/trace_packet.py --dump - --src 10.244.1.5 --dst 10.96.0.10 \\
        --dport 53 --proto udp --node-ip 192.168.56.11
    scripts/trace_packet.py --variant legacy --src 203.0.113.7 --dst 192.168.56.11 \\
        --dport 30080 --node-ip 192.168.56.11 --verbose
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
    p.add_argument("--src", required=True, help="source IP of the packet")
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
    return p.parse_args(argv)


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
