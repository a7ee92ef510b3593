"""A packet's path through nftables mode's table, as the kernel itself traced it.

A scratch table ``ip knet-trace`` marks matching packets with ``meta nftrace set 1`` before
any other hook runs; the kernel then reports every rule each marked packet hits (nftrace
events, read by ``knet.netlink.nftsocket.TraceListener``). The caller sends the probe; the
scratch table is removed afterwards, whatever happens.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

from knet.netlink import nftables as nl
from knet.netlink.nftsocket import TraceEvent, TraceListener, open_socket
from kproxy.nftables.layout import PROTO_NUMBERS, TABLE

TRACE_TABLE = "knet-trace"
META_NFTRACE = 12  # NFT_META_NFTRACE


def trace_ops(dst: str, protocol: str, dport: int) -> list[nl.Op]:
    """The scratch table: prerouting and output chains that mark the probe for tracing."""
    table = nl.Table(nl.NFPROTO_IPV4, TRACE_TABLE)
    match = (
        nl.meta_load(nl.META_L4PROTO),
        nl.cmp(nl.CMP_EQ, bytes([PROTO_NUMBERS[protocol.upper()]])),
        nl.payload(nl.NETWORK_HEADER, 16, 4),
        nl.cmp(nl.CMP_EQ, socket.inet_aton(dst)),
        nl.payload(nl.TRANSPORT_HEADER, 2, 2),
        nl.cmp(nl.CMP_EQ, struct.pack("!H", dport)),
        nl.Expr("immediate", (("DREG", nl.REG_1), ("DATA", b"\x01"))),
        nl.meta_store(META_NFTRACE),
    )
    ops = [nl.Op("add", table), nl.Op("delete", table), nl.Op("add", table)]
    for name, hook in (("pre", nl.PREROUTING), ("out", nl.OUTPUT)):
        ops.append(nl.Op("add", nl.Chain(name, hook, -350)))
        ops.append(nl.Op("add", nl.Rule(name, match)))
    return ops


def first_packet(events: list[TraceEvent]) -> list[TraceEvent]:
    """The steps of the first traced packet (retransmissions get trace ids of their own)
    through kproxy's table."""
    ours = [e for e in events if e.table == TABLE]
    if not ours:
        return []
    first = ours[0].trace_id
    return [e for e in ours if e.trace_id == first]


def run_trace(
    netns: str | None, probe: Callable[[], None], dst: str, protocol: str, dport: int, wait: float
) -> list[TraceEvent]:
    """Mark packets to ``dst``:``dport``, run ``probe`` (which sends one), and return the
    first packet's steps through kproxy's table."""
    table = nl.Table(nl.NFPROTO_IPV4, TRACE_TABLE)
    listener = TraceListener(netns)
    sock = open_socket(netns)
    try:
        sock.transact(table, trace_ops(dst, protocol, dport))
        try:
            probe()
            events = listener.collect(wait)
        finally:
            sock.transact(table, [nl.Op("delete", table)])
    finally:
        sock.close()
        listener.close()
    return first_packet(events)


def describe(steps: list[TraceEvent]) -> str:
    """The steps in words, one line each."""
    if not steps:
        return "the packet did not reach kproxy's table (no trace events)"
    lines = []
    for e in steps:
        if e.kind == "rule":
            to = f" {e.target}" if e.target else ""
            lines.append(f"{e.chain}: rule #{e.rule_handle} -> {e.verdict}{to}")
        elif e.kind == "policy":
            lines.append(f"{e.chain}: end of the base chain, policy {e.verdict}")
        else:
            lines.append(f"{e.chain}: end of chain, back to the caller")
    return "\n".join(lines)
