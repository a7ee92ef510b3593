"""The HA control plane's pieces for machines that are not this one (the Vagrant VMs): the etcd
PKI, an etcd member's command line and haproxy's configuration, printed or written by the
same code `knet cluster up --control-planes 3` uses.

    python -m knet.cluster.ha_provision pki DIR NAME=IP...
    python -m knet.cluster.ha_provision etcd-argv --pki-dir DIR --data-dir DIR --name NAME \\
        NAME=IP...
    python -m knet.cluster.ha_provision haproxy-config --bind ADDR [--bind ...] NAME=HOST:PORT...

On machines the members use etcd's usual ports (client 2379, peer 2380, metrics 2381).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from knet.cluster import etcdmembers, loadbalancer
from knet.cluster.etcdmembers import Member, Pki

CLIENT_PORT, PEER_PORT, METRICS_PORT = 2379, 2380, 2381


def members(specs: Sequence[str]) -> list[Member]:
    """NAME=IP pairs, in order, as members on etcd's usual ports; ValueError if malformed."""
    found = []
    for i, spec in enumerate(specs):
        name, sep, host = spec.partition("=")
        if not sep or not name or not host:
            raise ValueError(f"{spec!r}: want NAME=IP")
        found.append(Member(i, name, CLIENT_PORT, PEER_PORT, METRICS_PORT, host=host))
    if len({m.name for m in found}) != len(found):
        raise ValueError("member names must differ")
    return found


def backends(specs: Sequence[str]) -> list[tuple[str, str]]:
    found = []
    for spec in specs:
        name, sep, addr = spec.partition("=")
        if not sep or not name or ":" not in addr:
            raise ValueError(f"{spec!r}: want NAME=HOST:PORT")
        found.append((name, addr))
    return found


def run(args: argparse.Namespace) -> str:
    """What the command prints."""
    if args.command == "pki":
        ms = members(args.members)
        etcdmembers.ensure_pki(Pki(args.dir), ms)
        return f"etcd PKI for {', '.join(m.name for m in ms)} in {args.dir}"
    if args.command == "etcd-argv":
        ms = members(args.members)
        own = next((m for m in ms if m.name == args.name), None)
        if own is None:
            raise ValueError(f"--name {args.name} is not one of the members")
        argv = etcdmembers.member_argv(own, ms, Pki(args.pki_dir), args.data_dir, args.token)
        return shlex.join(argv)
    return loadbalancer.config(args.bind, backends(args.backends)).rstrip("\n")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m knet.cluster.ha_provision", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    pk = sub.add_parser("pki", help="make the etcd CA and certificates (only what is missing)")
    pk.add_argument("dir", type=Path)
    pk.add_argument("members", nargs="+", metavar="NAME=IP")
    ea = sub.add_parser("etcd-argv", help="print a member's etcd command line")
    ea.add_argument("--pki-dir", type=Path, required=True)
    ea.add_argument("--data-dir", type=Path, required=True)
    ea.add_argument("--name", required=True)
    ea.add_argument("--token", default="knet")
    ea.add_argument("members", nargs="+", metavar="NAME=IP")
    hc = sub.add_parser("haproxy-config", help="print haproxy.cfg for the API servers")
    hc.add_argument("--bind", action="append", required=True)
    hc.add_argument("backends", nargs="+", metavar="NAME=HOST:PORT")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        print(run(args))
    except (ValueError, OSError) as e:
        print(f"ha_provision: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
