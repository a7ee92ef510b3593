"""IPv4 routes in a namespace's main table: list, ensure (converging), delete.

The later cluster needs routes in node namespaces (podCIDR of node B via node B's IP), so
nothing here assumes a pod namespace.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from knet.netlink.errors import NetlinkError
from knet.netlink.links import LinkInfo, LinkRef, require_link
from knet.netlink.session import Session

MAIN_TABLE = 254
DEFAULT = IPv4Network("0.0.0.0/0")


@dataclass(frozen=True)
class Route:
    dst: IPv4Network
    gateway: IPv4Address | None
    oif: int | None  # output interface index


def _to_route(msg: Any) -> Route:
    dst = msg.get("dst") or "0.0.0.0"
    gw = msg.get("gateway")
    oif = msg.get("oif")
    return Route(
        dst=IPv4Network(f"{dst}/{msg['dst_len']}"),
        gateway=IPv4Address(gw) if gw else None,
        oif=int(oif) if oif else None,
    )


def list_routes(s: Session, table: int = MAIN_TABLE) -> list[Route]:
    """IPv4 unicast routes of ``table`` (the kernel's local/broadcast routes are left out)."""
    msgs = s.call("list routes", s.ipr.route, "dump", family=socket.AF_INET, table=table)
    return [_to_route(m) for m in msgs if m.get("type") in (None, 1)]  # 1 = RTN_UNICAST


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
    kw: dict[str, Any] = {"dst": str(dst), "table": MAIN_TABLE}
    if gateway is not None:
        kw["gateway"] = str(gateway)
    if dev is not None:
        kw["oif"] = require_link(s, dev, op).index
    s.call(op, s.ipr.route, "replace", **kw)


def ensure_default_route(s: Session, gateway: IPv4Address, dev: LinkRef | None = None) -> None:
    ensure_route(s, DEFAULT, gateway, dev)


def delete_route(s: Session, dst: IPv4Network, gateway: IPv4Address | None = None) -> bool:
    """Delete the route to ``dst`` (via ``gateway`` if given); True if one was deleted."""
    present = [r for r in list_routes(s) if r.dst == dst and gateway in (None, r.gateway)]
    if not present:
        return False
    kw: dict[str, Any] = {"dst": str(dst), "table": MAIN_TABLE}
    if gateway is not None:
        kw["gateway"] = str(gateway)
    try:
        s.call(f"delete route {dst}", s.ipr.route, "del", **kw)
    except NetlinkError as exc:
        if exc.errno == errno.ESRCH:
            return False
        raise
    return True
