"""IPv4 addresses on links: list, ensure, delete (idempotent)."""

from __future__ import annotations

import errno
import socket
from ipaddress import IPv4Interface

from pyroute2.netlink import NLM_F_CREATE, NLM_F_EXCL
from pyroute2.netlink.rtnl import RTM_DELADDR, RTM_GETADDR, RTM_NEWADDR
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

from knet.netlink.errors import NetlinkError
from knet.netlink.links import LinkInfo, LinkRef, get_link, require_link
from knet.netlink.rtnl import Msg
from knet.netlink.session import Session


def _name(link: LinkRef) -> str:
    return link.name if isinstance(link, LinkInfo) else link


def _addr_msg(index: int, addr: IPv4Interface | None = None) -> Msg:
    """A pyroute2 ifaddrmsg for ``addr`` on link ``index`` (or, without it, naming the link's
    IPv4 addresses for a dump); the header is filled in when it is sent."""
    msg = ifaddrmsg()
    msg["family"] = socket.AF_INET
    msg["index"] = index
    if addr is not None:
        ip = str(addr.ip)
        msg["prefixlen"] = addr.network.prefixlen
        msg["attrs"] = [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip)]
    return msg


def list_addrs(s: Session, link: LinkRef) -> list[IPv4Interface]:
    """IPv4 addresses (with prefix) on the link."""
    op = f"list addresses of {_name(link)}"
    info = require_link(s, link, op)
    out = []
    for m in s.dump(op, _addr_msg(info.index), RTM_GETADDR):
        if m["header"]["type"] != RTM_NEWADDR:
            continue
        if m["family"] != socket.AF_INET or m["index"] != info.index:  # in case the kernel
            continue  # did not filter (no strict checking)
        ip = m.get_attr("IFA_LOCAL") or m.get_attr("IFA_ADDRESS")
        if ip is not None:
            out.append(IPv4Interface(f"{ip}/{m['prefixlen']}"))
    return out


def ensure_addr(s: Session, link: LinkRef, addr: IPv4Interface) -> bool:
    """Put ``addr`` (e.g. 10.244.1.1/24) on the link; True if this call added it."""
    op = f"add address {addr} to {_name(link)}"
    info = require_link(s, link, op)
    try:
        s.request(op, _addr_msg(info.index, addr), RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL)
    except NetlinkError as exc:
        if exc.errno == errno.EEXIST:  # already there: done
            return False
        raise
    return True


def delete_addr(s: Session, link: LinkRef, addr: IPv4Interface) -> bool:
    """Remove ``addr`` from the link; True if it was there. Succeeds when either is gone."""
    op = f"delete address {addr} from {_name(link)}"
    info = link if isinstance(link, LinkInfo) else get_link(s, link)
    if info is None:
        return False
    try:
        s.request(op, _addr_msg(info.index, addr), RTM_DELADDR)
    except NetlinkError as exc:
        if exc.errno in (errno.EADDRNOTAVAIL, errno.ENODEV):
            return False
        raise
    return True
