"""The rtnetlink request/reply loop (knet.netlink.rtnl) against scripted kernel replies, and a
few read-only requests to the real kernel in the current namespace.

The scripted replies and the checks on what was sent are built and read with pyroute2's own
message classes, the same ones rtnl uses, so these tests pin our loop (sequence matching,
ACK/DONE handling, error and extended-ACK translation, dump retries) and the messages that
links/routes put together, not a private encoding."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any

import pytest
from pyroute2.netlink import (
    NLM_F_ACK,
    NLM_F_ACK_TLVS,
    NLM_F_CAPPED,
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_DUMP_INTR,
    NLM_F_EXCL,
    NLM_F_MULTI,
    NLM_F_REPLACE,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    nlmsg,
    nlmsgerr,
)
from pyroute2.netlink.rtnl import RTM_GETLINK, RTM_NEWLINK, RTM_NEWROUTE
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP, ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from knet.netlink import links, routes
from knet.netlink.errors import NetlinkError
from knet.netlink.rtnl import DUMP_RETRIES, KernelError, Rtnl, cappedmsgerr, decode_error
from knet.netlink.session import Session, open_session

Responder = Callable[[int, int], list[bytes]]  # (request seq, request type) -> datagrams


class FakeSocket:
    """Stands in for a NETLINK_ROUTE socket: each request sent is answered with the datagrams
    the responder scripts for it."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.sent: list[bytes] = []
        self.queue: list[bytes] = []
        self.options: dict[int, int] = {}

    def setsockopt(self, level: int, opt: int, value: int) -> None:
        self.options[opt] = value

    def send(self, data: bytes) -> int:
        self.sent.append(bytes(data))
        head = nlmsg(bytes(data))
        head.decode()
        self.queue.extend(self.responder(head["header"]["sequence_number"], head["header"]["type"]))
        return len(data)

    def recvmsg_into(self, buffers: list[bytearray]) -> tuple[int, list[Any], int, None]:
        datagram = self.queue.pop(0)
        buf = buffers[0]
        n = min(len(datagram), len(buf))
        buf[:n] = datagram[:n]
        return n, [], socket.MSG_TRUNC if len(datagram) > len(buf) else 0, None

    def close(self) -> None:
        pass


def _encode(msg: Any, mtype: int, seq: int, flags: int = 0) -> bytes:
    msg["header"] = {"type": mtype, "flags": flags, "sequence_number": seq}
    msg.encode()
    return bytes(msg.data)


def link_reply(seq: int, index: int, name: str, flags: int = 0) -> bytes:
    msg = ifinfmsg()
    msg["index"] = index
    msg["flags"] = IFF_UP
    msg["attrs"] = [("IFLA_IFNAME", name), ("IFLA_MTU", 1500)]
    return _encode(msg, RTM_NEWLINK, seq, flags)


def ack(seq: int, error: int = 0, text: str | None = None, *, capped: bool = True) -> bytes:
    """NLMSG_ERROR as a NETLINK_CAP_ACK socket gets it (or, capped=False, with the flag
    missing, as from a kernel that echoes the whole request)."""
    msg = cappedmsgerr()
    msg["error"] = -error
    msg["request_length"] = 60  # the request's own length, though only its header is echoed
    msg["request_type"] = RTM_NEWLINK
    msg["request_seq"] = seq
    msg["attrs"] = [("NLMSGERR_ATTR_MSG", text)] if text is not None else []
    flags = (NLM_F_CAPPED if capped else 0) | (NLM_F_ACK_TLVS if text is not None else 0)
    return _encode(msg, NLMSG_ERROR, seq, flags)


def done(seq: int, error: int = 0, text: str | None = None) -> bytes:
    msg = nlmsgerr()
    msg["error"] = -error
    msg["attrs"] = [("NLMSGERR_ATTR_MSG", text)] if text is not None else []
    flags = NLM_F_MULTI | (NLM_F_ACK_TLVS if text is not None else 0)
    return _encode(msg, NLMSG_DONE, seq, flags)


def sent_header(data: bytes) -> dict[str, int]:
    head = nlmsg(data)
    head.decode()
    return dict(head["header"])


def test_socket_options_ask_for_capped_extended_acks_and_strict_checks() -> None:
    sock = FakeSocket(lambda seq, mtype: [])
    Rtnl(sock)  # type: ignore[arg-type]
    assert sock.options == {10: 1, 11: 1, 12: 1}  # CAP_ACK, EXT_ACK, GET_STRICT_CHK


def test_request_returns_the_replies_before_its_ack_and_skips_stray_sequence_numbers() -> None:
    def respond(seq: int, mtype: int) -> list[bytes]:
        stray = link_reply(seq + 7, 9, "stray0") + ack(seq + 7, errno.EPERM)
        return [stray + link_reply(seq, 3, "kt-one"), ack(seq)]

    sock = FakeSocket(respond)
    rtnl = Rtnl(sock)  # type: ignore[arg-type]
    replies = rtnl.request(links.ifinfo(attrs=[("IFLA_IFNAME", "kt-one")]), RTM_GETLINK)
    assert [links.parse_link(m).name for m in replies] == ["kt-one"]
    head = sent_header(sock.sent[0])
    assert head["type"] == RTM_GETLINK
    assert head["flags"] == NLM_F_REQUEST | NLM_F_ACK
    # Every request gets a fresh sequence number.
    rtnl.request(links.ifinfo(attrs=[("IFLA_IFNAME", "kt-one")]), RTM_GETLINK)
    assert sent_header(sock.sent[1])["sequence_number"] == head["sequence_number"] + 1


def test_get_asks_for_no_ack_and_returns_its_one_reply() -> None:
    sock = FakeSocket(lambda seq, mtype: [link_reply(seq, 4, "kt-get")])
    reply = Rtnl(sock).get(links.ifinfo(), RTM_GETLINK)  # type: ignore[arg-type]
    info = links.parse_link(reply)
    assert (info.index, info.name, info.mtu, info.up) == (4, "kt-get", 1500, True)
    assert sent_header(sock.sent[0])["flags"] == NLM_F_REQUEST


def test_a_refusal_carries_the_errno_and_the_kernels_extended_ack_text() -> None:
    sock = FakeSocket(lambda seq, mtype: [ack(seq, errno.EEXIST, "kt: already there")])
    with pytest.raises(KernelError) as err:
        Rtnl(sock).request(links.ifinfo(), RTM_NEWLINK)  # type: ignore[arg-type]
    assert (err.value.errno, err.value.ext_ack) == (errno.EEXIST, "kt: already there")

    session = Session(Rtnl(FakeSocket(sock.responder)), None)  # type: ignore[arg-type]
    with pytest.raises(NetlinkError) as nl_err:
        session.request("create thing", links.ifinfo(), RTM_NEWLINK)
    assert str(nl_err.value) == (
        "create thing in the current netns: File exists (EEXIST): kt: already there"
    )
    assert nl_err.value.errno == errno.EEXIST


def test_error_codes_and_text_are_read_only_where_the_kernel_put_them() -> None:
    assert decode_error(ack(1), 0, NLMSG_ERROR, NLM_F_CAPPED) == (0, "")
    data = ack(1, errno.ENODEV, "kt: no device")
    assert decode_error(data, 0, NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS) == (
        errno.ENODEV,
        "kt: no device",
    )
    # Without NLM_F_CAPPED the request is echoed in full, so nothing after it is trusted.
    data = ack(1, errno.ENODEV, "kt: no device", capped=False)
    assert decode_error(data, 0, NLMSG_ERROR, NLM_F_ACK_TLVS) == (errno.ENODEV, "")
    # A message further into the datagram is read at its own offset.
    pair = ack(5) + ack(6, errno.EINVAL, "kt: second")
    assert decode_error(pair, len(ack(5)), NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS) == (
        errno.EINVAL,
        "kt: second",
    )


def test_dump_collects_until_done_and_reports_an_error_in_done() -> None:
    def respond(seq: int, mtype: int) -> list[bytes]:
        return [
            link_reply(seq, 1, "lo", NLM_F_MULTI) + link_reply(seq, 2, "kt-a", NLM_F_MULTI),
            link_reply(seq, 3, "kt-b", NLM_F_MULTI),
            done(seq),
        ]

    sock = FakeSocket(respond)
    replies = Rtnl(sock).dump(links.ifinfo(), RTM_GETLINK)  # type: ignore[arg-type]
    assert [links.parse_link(m).name for m in replies] == ["lo", "kt-a", "kt-b"]
    assert sent_header(sock.sent[0])["flags"] == NLM_F_REQUEST | NLM_F_DUMP

    failing = FakeSocket(lambda seq, mtype: [done(seq, errno.ENOENT, "kt: no table")])
    with pytest.raises(KernelError) as err:
        Rtnl(failing).dump(links.ifinfo(), RTM_GETLINK)  # type: ignore[arg-type]
    assert (err.value.errno, err.value.ext_ack) == (errno.ENOENT, "kt: no table")


def test_an_interrupted_dump_is_retried_and_gives_up_after_the_retries() -> None:
    calls: list[int] = []

    def respond(seq: int, mtype: int) -> list[bytes]:
        calls.append(seq)
        flags = NLM_F_MULTI | (NLM_F_DUMP_INTR if len(calls) == 1 else 0)
        return [link_reply(seq, len(calls), f"kt-try{len(calls)}", flags), done(seq)]

    replies = Rtnl(FakeSocket(respond)).dump(links.ifinfo(), RTM_GETLINK)  # type: ignore[arg-type]
    assert [links.parse_link(m).name for m in replies] == ["kt-try2"]
    assert len(calls) == 2

    def always(seq: int, mtype: int) -> list[bytes]:
        return [link_reply(seq, 1, "kt-x", NLM_F_MULTI | NLM_F_DUMP_INTR), done(seq)]

    sock = FakeSocket(always)
    with pytest.raises(KernelError) as err:
        Rtnl(sock).dump(links.ifinfo(), RTM_GETLINK)  # type: ignore[arg-type]
    assert err.value.errno == errno.EINTR
    assert len(sock.sent) == DUMP_RETRIES


def test_a_truncated_or_malformed_datagram_is_an_error() -> None:
    big = FakeSocket(lambda seq, mtype: [b"\0" * (1 << 17)])
    with pytest.raises(KernelError) as err:
        Rtnl(big).request(links.ifinfo(), RTM_NEWLINK)  # type: ignore[arg-type]
    assert err.value.errno == errno.EMSGSIZE

    def bad_length(seq: int, mtype: int) -> list[bytes]:
        data = bytearray(ack(seq))
        data[0] = 200  # nlmsg_len past the end of the datagram
        return [bytes(data)]

    with pytest.raises(KernelError) as err:
        Rtnl(FakeSocket(bad_length)).request(links.ifinfo(), RTM_NEWLINK)  # type: ignore[arg-type]
    assert err.value.errno == errno.EBADMSG


def _sent_by(call: Callable[[Session], object]) -> list[bytes]:
    """What ``call`` sends on a session whose kernel ACKs everything."""
    sock = FakeSocket(lambda seq, mtype: [ack(seq)])
    call(Session(Rtnl(sock), None))  # type: ignore[arg-type]
    return sock.sent


def test_add_veth_sends_one_request_with_the_peer_inside() -> None:
    bridge = links.LinkInfo(7, "kbr0", "bridge", None, 1500, True, None, None)
    [data] = _sent_by(
        lambda s: links.add_veth(s, "kv-host", "eth0", None, 1400, master=bridge, up=True)
    )
    msg = ifinfmsg(data)
    msg.decode()
    assert msg["header"]["type"] == RTM_NEWLINK
    create = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    assert msg["header"]["flags"] == create
    assert (msg["flags"], msg["change"]) == (IFF_UP, IFF_UP)
    assert msg.get_attr("IFLA_IFNAME") == "kv-host"
    assert (msg.get_attr("IFLA_MTU"), msg.get_attr("IFLA_MASTER")) == (1400, 7)
    info = msg.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert (peer.get_attr("IFLA_IFNAME"), peer.get_attr("IFLA_MTU")) == ("eth0", 1400)


def test_write_hairpin_names_the_port_and_sets_its_mode() -> None:
    [data] = _sent_by(lambda s: links.write_hairpin(s, "kv-host", True))
    msg = ifinfmsg(data)
    msg.decode()
    assert msg.get_attr("IFLA_IFNAME") == "kv-host"
    info = msg.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_SLAVE_KIND") == "bridge"
    assert info.get_attr("IFLA_INFO_SLAVE_DATA").get_attr("IFLA_BRPORT_MODE") == 1


def test_default_route_is_a_replace_with_gateway_device_and_no_destination() -> None:
    eth = links.LinkInfo(2, "eth0", "veth", None, 1500, True, None, None)
    gw = IPv4Address("10.244.1.1")
    [data] = _sent_by(lambda s: routes.ensure_default_route(s, gw, eth))
    msg = rtmsg(data)
    msg.decode()
    assert msg["header"]["type"] == RTM_NEWROUTE
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
    assert msg["header"]["flags"] == flags
    assert (msg["family"], msg["dst_len"], msg["table"]) == (socket.AF_INET, 0, routes.MAIN_TABLE)
    assert (msg["proto"], msg["scope"], msg["type"]) == (routes.RTPROT_STATIC, 0, 1)
    assert msg.get_attr("RTA_DST") is None
    assert (msg.get_attr("RTA_GATEWAY"), msg.get_attr("RTA_OIF")) == ("10.244.1.1", 2)


def test_read_only_requests_to_the_real_kernel_in_this_namespace() -> None:
    # Only reads: nothing in the current namespace is changed.
    with open_session(None) as s:
        lo = links.get_link(s, "lo")
        assert lo is not None and lo.name == "lo" and lo.kind is None
        assert lo.index in [link.index for link in links.list_links(s)]
        assert links.get_link(s, "kt-nonexistent") is None
        with pytest.raises(NetlinkError) as err:
            links.require_link(s, "kt-nonexistent", "look up kt-nonexistent")
        assert err.value.errno == errno.ENODEV
        assert all(r.dst.version == 4 for r in routes.list_routes(s))
