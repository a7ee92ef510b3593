"""The rtnetlink request/reply loop; every message is marshalled by pyroute2.

What is ours: one NETLINK_ROUTE socket, a sequence number, and the loop that sends one request
and reads datagrams until that request's ACK (or error), or, for a dump, its NLMSG_DONE.
Nothing else shares the socket (it joins no multicast group) and requests go one at a time, so
every reply belongs to the request in flight; stray sequence numbers are skipped all the same.

What is pyroute2's: the message classes that encode requests and decode replies (ifinfmsg,
ifaddrmsg, rtmsg, nlmsgerr) and the protocol constants. Callers build a pyroute2 message and
get decoded pyroute2 messages back. Even the loop's own look at each nlmsghdr (to split a
datagram, match the sequence number and pick the class) goes through pyroute2's ``nlmsg``: it
costs ~5 µs a message more than a struct read, lost in the noise of a request's ~300 µs.

Why not pyroute2's IPRoute as well: its synchronous API runs an asyncio event loop for every
request (about 0.3 ms quiet, 1 ms under load, measured on pyroute2 0.9), and a pod sandbox needs
about ten requests. The socket comes from whoever opened it in the right namespace (see
nsthread); this module never changes namespace.

Errors: a kernel refusal raises ``KernelError`` (an OSError with the errno, plus the kernel's
extended-ACK message when it gave one).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from collections.abc import Iterator
from typing import Any

from pyroute2.netlink import (
    NETLINK_EXT_ACK,
    NETLINK_GET_STRICT_CHK,
    NLM_F_ACK,
    NLM_F_ACK_TLVS,
    NLM_F_CAPPED,
    NLM_F_DUMP,
    NLM_F_DUMP_INTR,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    SOL_NETLINK,
    nlmsg,
    nlmsgerr,
)
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

# pyroute2 messages (nlmsg subclasses) are untyped; this alias documents where they flow.
Msg = Any

NETLINK_CAP_ACK = 10  # netlink(7); pyroute2 has no name for it
RECV_BUFFER = 1 << 16  # the kernel sends dump chunks of at most 32 KiB
DUMP_RETRIES = 5
NLMSG_HDRLEN = 16  # sizeof(struct nlmsghdr): a shorter remainder holds no message
# The reply classes, by message type: pyroute2's own table (RTM_NEWLINK -> ifinfmsg, ...).
REPLY_CLASSES: dict[int, Any] = dict(MarshalRtnl.msg_map)


class cappedmsgerr(nlmsgerr):  # type: ignore[misc]  # pyroute2 is untyped
    """nlmsgerr as the kernel sends it on a NETLINK_CAP_ACK socket: the error code, the
    request's header alone (NLM_F_CAPPED), then the extended-ACK attributes. pyroute2's
    nlmsgerr expects the attributes right after the code, so it would read the echoed header
    as attributes; naming that header as fields puts the attributes where they are."""

    __slots__ = ()
    fields = (
        ("error", "i"),
        ("request_length", "I"),
        ("request_type", "H"),
        ("request_flags", "H"),
        ("request_seq", "I"),
        ("request_pid", "I"),
    )


class KernelError(OSError):
    """The kernel refused a request: ``errno`` plus its extended-ACK text (may be empty)."""

    def __init__(self, code: int, ext_ack: str = "") -> None:
        super().__init__(code, os.strerror(code))
        self.ext_ack = ext_ack


def decode_error(data: bytes, offset: int, mtype: int, flags: int) -> tuple[int, str]:
    """(errno, extended-ACK text) of an NLMSG_ERROR or NLMSG_DONE message at ``offset``;
    errno 0 is an ACK (or a clean end of dump)."""
    if mtype == NLMSG_ERROR and flags & NLM_F_CAPPED:
        msg = cappedmsgerr(data, offset=offset)
    else:
        # NLMSG_DONE carries no echoed request. An uncapped error (a kernel that ignored
        # NETLINK_CAP_ACK) echoes the whole request, so its attributes are not read below.
        msg = nlmsgerr(data, offset=offset)
    msg.decode()
    code = -int(msg["error"])
    text = ""
    if code and flags & NLM_F_ACK_TLVS and (mtype == NLMSG_DONE or flags & NLM_F_CAPPED):
        text = str(msg.get_attr("NLMSGERR_ATTR_MSG") or "")
    return code, text


class Rtnl:
    """A NETLINK_ROUTE socket, one request at a time. Not thread-safe (Session guards it)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._seq = 0
        self._buf = bytearray(RECV_BUFFER)
        capped = False
        with contextlib.suppress(OSError):
            sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            capped = True
        # Extended ACKs only on a capped socket, where the kernel's text sits at a known place.
        opts = (NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK) if capped else (NETLINK_GET_STRICT_CHK,)
        for opt in opts:
            # Older kernels lack some: plainer errors, and dumps are filtered by the callers.
            with contextlib.suppress(OSError):
                sock.setsockopt(SOL_NETLINK, opt, 1)

    @classmethod
    def here(cls) -> Rtnl:
        """A socket in the calling thread's network namespace."""
        return cls(socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0))

    def close(self) -> None:
        self.sock.close()

    def request(self, msg: Msg, mtype: int, flags: int = 0) -> list[Msg]:
        """Send ``msg`` (a pyroute2 message, header left to us) as ``mtype`` with an ACK
        requested; return the decoded messages that came before the ACK. Raises KernelError
        if the kernel refused it."""
        seq = self._send(msg, mtype, flags | NLM_F_ACK)
        return [m for m, _ in self._replies(seq, dump=False)]

    def get(self, msg: Msg, mtype: int) -> Msg:
        """A request answered by exactly one message (e.g. RTM_GETLINK by name): no ACK is
        asked for, saving a datagram. Raises KernelError if the kernel refused it."""
        seq = self._send(msg, mtype, 0)
        for reply, _ in self._replies(seq, dump=False, single=True):
            return reply
        raise KernelError(errno.EBADMSG, "the kernel sent no reply")

    def dump(self, msg: Msg, mtype: int) -> list[Msg]:
        """A dump request; retried when the kernel reports the dump was interrupted by a
        concurrent change (NLM_F_DUMP_INTR), so the result is consistent."""
        for _ in range(DUMP_RETRIES):
            seq = self._send(msg, mtype, NLM_F_DUMP)
            out: list[Msg] = []
            interrupted = False
            for reply, reply_flags in self._replies(seq, dump=True):
                interrupted |= bool(reply_flags & NLM_F_DUMP_INTR)
                out.append(reply)
            if not interrupted:
                return out
        raise KernelError(errno.EINTR, "dump kept being interrupted by concurrent changes")

    def _send(self, msg: Msg, mtype: int, flags: int) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        msg["header"] = {
            "type": mtype,
            "flags": flags | NLM_F_REQUEST,
            "sequence_number": self._seq,
        }
        msg.reset()  # a dump retry sends the same message again
        msg.encode()
        self.sock.send(msg.data)
        return self._seq

    def _replies(self, seq: int, dump: bool, single: bool = False) -> Iterator[tuple[Msg, int]]:
        """Decoded replies to request ``seq`` with their nlmsghdr flags, until its ACK / DONE
        (or, with ``single``, its one reply). Message types without a pyroute2 class in
        REPLY_CLASSES are skipped."""
        buf = self._buf
        while True:
            n, _, msg_flags, _ = self.sock.recvmsg_into([buf])
            if msg_flags & socket.MSG_TRUNC:
                raise KernelError(errno.EMSGSIZE, "netlink reply larger than the receive buffer")
            data = bytes(memoryview(buf)[:n])
            offset = 0
            while offset + NLMSG_HDRLEN <= n:
                head = nlmsg(data, offset=offset)
                head.decode()  # the nlmsghdr alone: length, type, flags, seq
                length, mtype, flags, mseq = (
                    head["header"][k] for k in ("length", "type", "flags", "sequence_number")
                )
                if length < NLMSG_HDRLEN or offset + length > n:
                    raise KernelError(errno.EBADMSG, "malformed netlink message")
                at = offset
                offset += (length + 3) & ~3
                if mseq != seq:
                    continue
                if mtype == NLMSG_ERROR or (mtype == NLMSG_DONE and dump):
                    code, text = decode_error(data, at, mtype, flags)
                    if code:
                        raise KernelError(code, text)
                    return  # the ACK, or the end of the dump
                cls = REPLY_CLASSES.get(mtype)
                if cls is None:
                    continue
                reply = cls(data, offset=at)
                reply.decode()
                yield reply, flags
                if single:
                    return
