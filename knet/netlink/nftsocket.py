"""The nf_tables socket: one NETLINK_NETFILTER socket in a namespace, batches and dumps.

Messages come from ``knet.netlink.nftables``. A batch is BEGIN .. messages .. END in one
datagram, applied by the kernel as one transaction; an ACK is asked for on the last message
only (the kernel reports every failing message anyway), so a sync costs one round trip. The
socket is opened in the target namespace by a throwaway thread (nsthread).
"""

from __future__ import annotations

import errno
import socket
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pyroute2.netlink import NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR
from pyroute2.netlink.nfnetlink import NFNL_SUBSYS_NFTABLES, nfgen_msg
from pyroute2.netlink.nfnetlink import nftsocket as nfts

from knet.netlink import netns as netns_mod
from knet.netlink.errors import NetlinkError, describe
from knet.netlink.nftables import Op, Rule, Table, op_bytes, pyroute2_message
from knet.netlink.nsthread import call_in_netns
from knet.netlink.rtnl import KernelError, decode_error

NETLINK_NETFILTER = 12
NFNL_MSG_BATCH_BEGIN = 0x10
NFNL_MSG_BATCH_END = 0x11
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
SOCKET_BUFFER = 1 << 26  # large batches (a full sync at 10k Services) are one datagram
RECV_BUFFER = 1 << 17
REPLY_TIMEOUT = 60.0


def _batch_marker(mtype: int, seq: int) -> bytes:
    msg = nfgen_msg()
    msg["res_id"] = NFNL_SUBSYS_NFTABLES
    msg["header"]["type"] = mtype
    msg["header"]["flags"] = NLM_F_REQUEST
    msg["header"]["sequence_number"] = seq
    msg.encode()
    return bytes(msg.data)


# Reply classes for dumps, by full message type.
_REPLY_CLASSES: dict[int, Any] = {
    (NFNL_SUBSYS_NFTABLES << 8) | t: c
    for t, c in (
        (nfts.NFT_MSG_NEWTABLE, nfts.nft_table_msg),
        (nfts.NFT_MSG_NEWCHAIN, nfts.nft_chain_msg),
        (nfts.NFT_MSG_NEWRULE, nfts.nft_rule_msg),
        (nfts.NFT_MSG_NEWSET, nfts.nft_set_msg),
        (nfts.NFT_MSG_NEWSETELEM, nfts.nft_set_elem_list_msg),
    )
}


class BatchError(NetlinkError):
    """A batch the kernel refused (nothing of it applied); ``failed`` names the messages."""

    def __init__(self, where: str, reason: str, code: int | None, failed: list[str]) -> None:
        super().__init__("nf_tables transaction", where, reason, code)
        self.failed = failed


class NftSocket:
    """One NETLINK_NETFILTER socket in a namespace; one batch (or dump) at a time."""

    def __init__(self, sock: socket.socket, where: str) -> None:
        self.sock = sock
        self.where = where
        self._seq = 0
        self._buf = bytearray(RECV_BUFFER)
        for opt in (SO_SNDBUFFORCE, SO_RCVBUFFORCE):
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
            except OSError:  # not CAP_NET_ADMIN: the ordinary limit (smaller batches only)
                sock.setsockopt(socket.SOL_SOCKET, opt - 25, SOCKET_BUFFER)
        sock.settimeout(REPLY_TIMEOUT)

    def close(self) -> None:
        self.sock.close()

    def _next(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        return self._seq

    def transact(self, table: Table, ops: Sequence[Op]) -> None:
        """Apply ``ops`` as one transaction; raise BatchError (nothing applied) on refusal."""
        if not ops:
            return
        begin = self._next()
        chunks = [_batch_marker(NFNL_MSG_BATCH_BEGIN, begin)]
        # A refused batch marker is answered on the marker's own sequence number, and then
        # nothing else is: it ends the wait like the last message's ACK.
        names: dict[int, Op] = {begin: Op("begin", table)}
        seq = begin
        for i, op in enumerate(ops):
            seq = self._next()
            chunks.append(op_bytes(table, op, seq, ack=i == len(ops) - 1))
            names[seq] = op
        end = self._next()
        chunks.append(_batch_marker(NFNL_MSG_BATCH_END, end))
        names[end] = Op("end", table)
        try:
            self.sock.send(b"".join(chunks))
        except OSError as exc:
            reason, code = describe(exc)
            raise NetlinkError("send nf_tables batch", self.where, reason, code) from exc
        self._collect(names, last=seq)

    def _collect(self, names: dict[int, Op], last: int) -> None:
        failed: list[tuple[Op, int, str]] = []
        while True:
            for mseq, mtype, data, at, flags in self._datagram():
                if mtype != NLMSG_ERROR or mseq not in names:
                    continue
                code, text = decode_error(data, at, mtype, flags)
                if code:
                    failed.append((names[mseq], code, text))
                if mseq == last or (code and names[mseq].verb in ("begin", "end")):
                    if failed:
                        self._raise(failed)
                    return

    def _raise(self, failed: list[tuple[Op, int, str]]) -> None:
        _, code, text = failed[0]
        what = [f"{o.verb} {describe_obj(o.obj)}" for o, _, _ in failed]
        reason, _ = describe(KernelError(code, text))
        raise BatchError(self.where, f"{what[0]}: {reason}", code, what)

    def _datagram(self) -> Iterable[tuple[int, int, bytes, int, int]]:
        try:
            n = self.sock.recv_into(self._buf)
        except OSError as exc:  # a timeout too: the kernel never answered
            reason, code = describe(exc)
            raise NetlinkError("read nf_tables reply", self.where, reason, code) from exc
        data = bytes(memoryview(self._buf)[:n])
        offset = 0
        while offset + 16 <= n:
            length, mtype, flags, seq = struct.unpack_from("=IHHI", data, offset)
            if length < 16:
                raise NetlinkError(
                    "read nf_tables reply", self.where, "malformed message", errno.EBADMSG
                )
            yield seq, mtype, data, offset, flags
            offset += (length + 3) & ~3

    def dump(self, family: int, mtype: int, attrs: Sequence[tuple[str, Any]] = ()) -> list[Any]:
        """A GET dump (``nfts.NFT_MSG_GET*``), decoded with pyroute2's classes."""
        cls = _REPLY_CLASSES[(NFNL_SUBSYS_NFTABLES << 8) | (mtype - 1)]
        msg = pyroute2_message(cls, mtype, family, list(attrs), NLM_F_DUMP)
        seq = self._next()
        msg["header"]["sequence_number"] = seq
        msg.encode()
        self.sock.send(msg.data)
        out: list[Any] = []
        while True:
            for mseq, rtype, data, at, flags in self._datagram():
                if mseq != seq:
                    continue
                if rtype in (NLMSG_DONE, NLMSG_ERROR):
                    code, text = decode_error(data, at, rtype, flags)
                    if code:
                        reason, _ = describe(KernelError(code, text))
                        raise NetlinkError("nf_tables dump", self.where, reason, code)
                    return out
                rcls = _REPLY_CLASSES.get(rtype)
                if rcls is not None:
                    reply = rcls(data, offset=at)
                    reply.decode()
                    out.append(reply)


def describe_obj(obj: object) -> str:
    if isinstance(obj, tuple):
        return f"elements of set {obj[0]} ({len(obj[1])})"
    if isinstance(obj, Rule):
        return f"rule in chain {obj.chain}"
    kind = type(obj).__name__.lower().replace("nftset", "set")
    return f"{kind} {getattr(obj, 'name', '')}"


def open_socket(netns: str | None) -> NftSocket:
    """A NETLINK_NETFILTER socket in the named namespace (None: the caller's own)."""
    where = f"netns {netns}" if netns is not None else "the current netns"

    def make() -> socket.socket:
        return socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_NETFILTER
        )

    try:
        sock = make() if netns is None else call_in_netns(netns_mod.path(netns), make)
    except OSError as exc:
        reason, code = describe(exc)
        raise NetlinkError("open nf_tables socket", where, reason, code) from exc
    return NftSocket(sock, where)


NFNLGRP_NFTRACE = 9
NETLINK_ADD_MEMBERSHIP = 1
SOL_NETLINK = 270
NFT_MSG_TRACE = 17
_TRACE_TYPES = {1: "policy", 2: "return", 3: "rule"}
_VERDICTS = {0: "drop", 1: "accept", -1: "continue", -2: "break", -3: "jump", -4: "goto"}
_VERDICTS[-5] = "return"


@dataclass(frozen=True)
class TraceEvent:
    """One step of a packet the kernel traced (``meta nftrace set 1``)."""

    trace_id: int
    table: str
    chain: str
    kind: str  # rule / return / policy
    rule_handle: int | None
    verdict: str | None
    target: str | None  # the chain of a jump/goto


def _attrs(data: bytes, offset: int, end: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while offset + 4 <= end:
        length, atype = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        out[atype & 0x3FFF] = data[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return out


def _text(raw: bytes | None) -> str | None:
    return raw.rstrip(b"\0").decode() if raw is not None else None


def decode_trace(data: bytes, offset: int, length: int) -> TraceEvent:
    """An NFT_MSG_TRACE message (nlmsghdr at ``offset``) as a TraceEvent."""
    a = _attrs(data, offset + 20, offset + length)
    verdict = target = None
    if 5 in a:  # NFTA_TRACE_VERDICT
        v = _attrs(a[5], 0, len(a[5]))
        code = struct.unpack("!i", v[1])[0] if 1 in v else None
        verdict = _VERDICTS.get(code, str(code)) if code is not None else None
        target = _text(v.get(2))
    handle = struct.unpack("!Q", a[3])[0] if 3 in a else None
    kind = _TRACE_TYPES.get(struct.unpack("!I", a[4])[0], "?") if 4 in a else "?"
    trace_id = struct.unpack("!I", a[6])[0] if 6 in a else 0
    return TraceEvent(
        trace_id, _text(a.get(1)) or "", _text(a.get(2)) or "", kind, handle, verdict, target
    )


class TraceListener:
    """A socket in a namespace that receives the kernel's nftrace events."""

    def __init__(self, netns: str | None) -> None:
        self._sock = open_socket(netns).sock
        self._sock.bind((0, 0))  # a port id of its own: multicast goes to bound sockets
        self._sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTRACE)

    def close(self) -> None:
        self._sock.close()

    def collect(self, seconds: float) -> list[TraceEvent]:
        """Every trace event that arrives within ``seconds``."""
        out: list[TraceEvent] = []
        deadline = time.monotonic() + seconds
        buf = bytearray(RECV_BUFFER)
        while (left := deadline - time.monotonic()) > 0:
            self._sock.settimeout(left)
            try:
                n = self._sock.recv_into(buf)
            except TimeoutError:
                break
            data, offset = bytes(buf[:n]), 0
            while offset + 16 <= n:
                length, mtype = struct.unpack_from("=IH", data, offset)
                if length < 16:
                    break
                if mtype == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_TRACE:
                    out.append(decode_trace(data, offset, length))
                offset += (length + 3) & ~3
        return out
