"""IPv4 addresses on links: list, ensure, delete (idempotent)."""

from __future__ import annotations

import errno
import socket
from ipaddress import IPv4Interface

from knet.netlink.errors import NetlinkError
from knet.netlink.links import LinkInfo, LinkRef, get_link, require_link
from knet.netlink.session import Session


def _name(link: LinkRef) -> str:
    return link.name if isinstance(link, LinkInfo) else link


def list_addrs(s: Session, link: LinkRef) -> list[IPv4Interface]:
    """IPv4 addresses (with prefix) on the link."""
    op = f"list addresses of {_name(link)}"
    info = require_link(s, link, op)
    msgs = s.call(op, s.ipr.addr, "dump", index=info.index, family=socket.AF_INET)
    return [IPv4Interface(f"{m.get('address')}/{m['prefixlen']}") for m in msgs]


def ensure_addr(s: Session, link: LinkRef, addr: IPv4Interface) -> bool:
    """Put ``addr`` (e.g. 10.244.1.1/24) on the link; True if this call added it."""
    op = f"add address {addr} to {_name(link)}"
    info = require_link(s, link, op)
    try:
        s.call(
            op,
            s.ipr.addr,
            "add",
            index=info.index,
            address=str(addr.ip),
            prefixlen=addr.network.prefixlen,
        )
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
        s.call(
            op,
            s.ipr.addr,
            "del",
            index=info.index,
            address=str(addr.ip),
            prefixlen=addr.network.prefixlen,
        )
    except NetlinkError as exc:
        if exc.errno in (errno.EADDRNOTAVAIL, errno.ENODEV):
            return False
        raise
    return True
