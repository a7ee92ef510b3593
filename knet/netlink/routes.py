"""IPv4 routes in a namespace's main table: list, ensure (converging), delete.

The later cluster needs routes in node namespaces (podCIDR of node B via node B's IP), so
nothing here assumes a pod namespace.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from pyroute2.netlink import NLM_F_CREATE, NLM_F_REPLACE
from pyroute2.netlink.rtnl import RTM_DELROUTE, RTM_GETROUTE, RTM_NEWROUTE, rtprotos, rtypes
from pyroute2.netlink.rtnl.rtmsg import RT_SCOPE_LINK, RT_SCOPE_NOWHERE, RT_SCOPE_UNIVERSE, rtmsg

from knet.netlink.errors import NetlinkError
from knet.netlink.links import LinkInfo, LinkRef, require_link
from knet.netlink.rtnl import Msg
from knet.netlink.session import Session

MAIN_TABLE = 254  # RT_TABLE_MAIN
DEFAULT = IPv4Network("0.0.0.0/0")
RTN_UNICAST = int(rtypes["RTN_UNICAST"])
RTPROT_STATIC = int(rtprotos["RTPROT_STATIC"])  # as routes an administrator adds (ip route's)


@dataclass(frozen=True)
class Route:
    dst: IPv4Network
    gateway: IPv4Address | None
    oif: int | None  # output interface index


def _parse(msg: Msg) -> tuple[Route, int, int] | None:
    """(route, table, type) of a decoded RTM_NEWROUTE (pyroute2's rtmsg), or None if it is
    not IPv4."""
    if msg["family"] != socket.AF_INET:
        return None
    table = msg.get_attr("RTA_TABLE")
    dst = msg.get_attr("RTA_DST") or "0.0.0.0"
    gw = msg.get_attr("RTA_GATEWAY")
    route = Route(
        dst=IPv4Network(f"{dst}/{msg['dst_len']}"),
        gateway=IPv4Address(gw) if gw else None,
        oif=int(msg.get_attr("RTA_OIF") or 0) or None,
    )
    return route, int(table if table is not None else msg["table"]), int(msg["type"])


def _route_msg(
    dst: IPv4Network | None,
    gateway: IPv4Address | None = None,
    oif: int | None = None,
    *,
    table: int = MAIN_TABLE,
    proto: int = 0,
    scope: int = RT_SCOPE_UNIVERSE,
    rtype: int = 0,
) -> Msg:
    """A pyroute2 rtmsg for an IPv4 route (``dst`` None: a dump filter on ``table``); the
    header is filled in when it is sent."""
    msg = rtmsg()
    msg["family"] = socket.AF_INET
    msg["proto"] = proto
    msg["scope"] = scope
    msg["type"] = rtype
    attrs: list[tuple[str, object]] = []
    if dst is not None:
        msg["dst_len"] = dst.prefixlen
        msg["table"] = table
        if dst.prefixlen:
            attrs.append(("RTA_DST", str(dst.network_address)))
    if gateway is not None:
        attrs.append(("RTA_GATEWAY", str(gateway)))
    if oif is not None:
        attrs.append(("RTA_OIF", oif))
    attrs.append(("RTA_TABLE", table))
    msg["attrs"] = attrs
    return msg


def list_routes(s: Session, table: int = MAIN_TABLE) -> list[Route]:
    """IPv4 unicast routes of ``table`` (the kernel's local/broadcast routes are left out)."""
    out = []
    for m in s.dump("list routes", _route_msg(None, table=table), RTM_GETROUTE):
        if m["header"]["type"] != RTM_NEWROUTE:
            continue
        parsed = _parse(m)
        if parsed is not None and parsed[1] == table and parsed[2] == RTN_UNICAST:
            out.append(parsed[0])
    return out


def ensure_route(
    s: Session, dst: IPv4Network, gateway: IPv4Address | None = None, dev: LinkRef | None = None
) -> None:
    """Route ``dst`` via ``gateway`` and/or out of ``dev``, replacing any other route to the
    same destination (one convergent "replace" request)."""
    if gateway is None and dev is None:
        raise ValueError("a route needs a gateway or a device")
    dev_name = (dev.name if isinstance(dev, LinkInfo) else dev) if dev is not None else None
    via = f" via {gateway}" if gateway else ""
    op = f"ensure route {dst}{via}" + (f" dev {dev_name}" if dev_name else "")
    oif = require_link(s, dev, op).index if dev is not None else None
    scope = RT_SCOPE_UNIVERSE if gateway is not None else RT_SCOPE_LINK  # as ip route does
    msg = _route_msg(dst, gateway, oif, proto=RTPROT_STATIC, scope=scope, rtype=RTN_UNICAST)
    s.request(op, msg, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE)


def ensure_default_route(s: Session, gateway: IPv4Address, dev: LinkRef | None = None) -> None:
    ensure_route(s, DEFAULT, gateway, dev)


def delete_route(s: Session, dst: IPv4Network, gateway: IPv4Address | None = None) -> bool:
    """Delete the route to ``dst`` (via ``gateway`` if given); True if one was deleted."""
    present = [r for r in list_routes(s) if r.dst == dst and gateway in (None, r.gateway)]
    if not present:
        return False
    # Protocol, scope and type left open (0, NOWHERE, 0): match the route whoever added it.
    msg = _route_msg(dst, gateway, scope=RT_SCOPE_NOWHERE)
    try:
        s.request(f"delete route {dst}", msg, RTM_DELROUTE)
    except NetlinkError as exc:
        if exc.errno == errno.ESRCH:
            return False
        raise
    return True
