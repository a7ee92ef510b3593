"""Links: bridges, veth pairs, bridge ports (master, hairpin), up/down, delete.

Every ensure_* converges and succeeds when the work is already done; every delete_* succeeds when
the link is already gone. Failures raise NetlinkError naming the link and the namespace.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any

from pyroute2.netlink import NLM_F_CREATE, NLM_F_EXCL
from pyroute2.netlink.rtnl import RTM_DELLINK, RTM_GETLINK, RTM_NEWLINK, RTM_SETLINK
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP, ifinfmsg

from knet.netlink import netns as netns_mod
from knet.netlink.errors import NetlinkError
from knet.netlink.names import validate_ifname
from knet.netlink.rtnl import Msg
from knet.netlink.session import Session

BRIDGE_MODE_HAIRPIN = 1  # IFLA_BRPORT_MODE value (if_bridge.h)
RTEXT_FILTER_SKIP_STATS = 1 << 3  # IFLA_EXT_MASK: counters are of no use here and cost the kernel


@dataclass(frozen=True)
class LinkInfo:
    index: int
    name: str
    kind: str | None  # "bridge", "veth", ... None for plain devices such as lo
    mac: str | None
    mtu: int
    up: bool  # administratively up (IFF_UP)
    master: int | None  # index of the bridge this link is a port of
    hairpin: bool | None  # None when the link is not a bridge port


def parse_link(msg: Msg) -> LinkInfo:
    """LinkInfo from a decoded RTM_NEWLINK (pyroute2's ifinfmsg).

    pyroute2 decodes an attribute when it is first read; one pass over the ~40 top-level
    slots by name (rather than a get_attr scan per field) and reading only the few we use
    keeps this cheap. The bridge-port data (~40 more attributes) is read only for ports."""
    slots = {slot.name: slot for slot in msg["attrs"]}

    def value(name: str) -> Any:
        slot = slots.get(name)
        return slot.value if slot is not None else None

    kind = hairpin = None
    info = value("IFLA_LINKINFO")
    if info is not None:
        kind = info.get_attr("IFLA_INFO_KIND")
        if info.get_attr("IFLA_INFO_SLAVE_KIND") == "bridge":
            port = info.get_attr("IFLA_INFO_SLAVE_DATA")
            mode = port.get_attr("IFLA_BRPORT_MODE") if port is not None else None
            hairpin = bool(mode is not None and mode & BRIDGE_MODE_HAIRPIN)
    mac = value("IFLA_ADDRESS")
    return LinkInfo(
        index=int(msg["index"]),
        name=str(value("IFLA_IFNAME") or ""),
        kind=str(kind) if kind is not None else None,
        mac=str(mac) if mac else None,
        mtu=int(value("IFLA_MTU") or 0),
        up=bool(msg["flags"] & IFF_UP),
        master=int(value("IFLA_MASTER") or 0) or None,
        hairpin=hairpin,
    )


def ifinfo(
    index: int = 0, flags: int = 0, change: int = 0, attrs: list[tuple[str, object]] | None = None
) -> Msg:
    """A pyroute2 ifinfmsg for a request (the header is filled in when it is sent)."""
    msg = ifinfmsg()
    msg["index"] = index
    msg["flags"] = flags
    msg["change"] = change
    msg["attrs"] = attrs or []
    return msg


def _by(link: LinkInfo | str, attrs: list[tuple[str, object]] | None = None) -> Msg:
    """ifinfmsg naming the link: by index when known, else by name (the kernel looks it up)."""
    if isinstance(link, LinkInfo):
        return ifinfo(link.index, attrs=attrs)
    return ifinfo(attrs=[("IFLA_IFNAME", validate_ifname(link)), *(attrs or [])])


# Functions take a link by name, or by the LinkInfo an earlier call returned (saving a lookup).
LinkRef = str | LinkInfo


def get_link(s: Session, name: str) -> LinkInfo | None:
    """The link called ``name`` in the session's namespace, or None."""
    validate_ifname(name)
    req = ifinfo(attrs=[("IFLA_IFNAME", name), ("IFLA_EXT_MASK", RTEXT_FILTER_SKIP_STATS)])
    try:
        reply = s.get(f"get link {name}", req, RTM_GETLINK)
    except NetlinkError as exc:
        if exc.errno == errno.ENODEV:
            return None
        raise
    return parse_link(reply)


def require_link(s: Session, link: LinkRef, op: str) -> LinkInfo:
    """The link's info, failing with ENODEV (naming ``op``) when it does not exist."""
    if isinstance(link, LinkInfo):
        return link
    info = get_link(s, link)
    if info is None:
        raise NetlinkError(op, s.where, f"link {link} does not exist", errno.ENODEV)
    return info


def _name(link: LinkRef) -> str:
    return link.name if isinstance(link, LinkInfo) else link


def list_links(s: Session) -> list[LinkInfo]:
    req = ifinfo(attrs=[("IFLA_EXT_MASK", RTEXT_FILTER_SKIP_STATS)])
    msgs = s.dump("list links", req, RTM_GETLINK)
    return [parse_link(m) for m in msgs if m["header"]["type"] == RTM_NEWLINK]


def _set_flags(s: Session, op: str, link: LinkRef, up: bool) -> None:
    msg = _by(link)
    msg["flags"] = IFF_UP if up else 0
    msg["change"] = IFF_UP
    s.request(op, msg, RTM_SETLINK)


def set_up(s: Session, link: LinkRef) -> None:
    """Administratively up (a no-op if it already is)."""
    if isinstance(link, LinkInfo) and link.up:
        return
    # By name, in one request: setting "up" twice is harmless, so no lookup first.
    if not isinstance(link, LinkInfo):
        validate_ifname(link)
    _set_flags(s, f"set {_name(link)} up", link, True)


def set_down(s: Session, link: LinkRef) -> None:
    op = f"set {_name(link)} down"
    info = require_link(s, link, op)
    if info.up:
        _set_flags(s, op, info, False)


def set_mtu(s: Session, link: LinkRef, mtu: int) -> None:
    op = f"set {_name(link)} mtu {mtu}"
    info = require_link(s, link, op)
    if info.mtu != mtu:
        s.request(op, ifinfo(info.index, attrs=[("IFLA_MTU", mtu)]), RTM_SETLINK)


def ensure_bridge(s: Session, name: str, mtu: int | None = None) -> LinkInfo:
    """A bridge called ``name``, administratively up. An existing non-bridge link is an error."""
    op = f"ensure bridge {name}"
    info = get_link(s, name)
    if info is None:
        attrs: list[tuple[str, object]] = [("IFLA_IFNAME", name)]
        if mtu is not None:
            attrs.append(("IFLA_MTU", mtu))
        attrs.append(("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "bridge")]}))
        try:
            s.request(
                f"create bridge {name}",
                ifinfo(0, IFF_UP, IFF_UP, attrs),
                RTM_NEWLINK,
                NLM_F_CREATE | NLM_F_EXCL,
            )
        except NetlinkError as exc:
            if exc.errno != errno.EEXIST:  # a concurrent ensure may have created it: fine
                raise
        info = require_link(s, name, op)
    if info.kind != "bridge":
        raise NetlinkError(op, s.where, f"link {name} exists but is a {info.kind or 'device'}")
    if not info.up:
        set_up(s, info)
        info = require_link(s, name, op)
    return info


def add_veth(
    s: Session,
    name: str,
    peer: str,
    peer_netns: str | None = None,
    mtu: int | None = None,
    *,
    master: LinkInfo | None = None,
    up: bool = False,
) -> None:
    """Create a veth pair in one request, without reading it back (see create_veth).

    ``up`` brings ``name`` up as it is born and ``master`` makes it a port of that bridge at
    once, saving a request each. (The peer cannot be born up: the kernel opens it before the
    pair is linked, and refuses with ENOTCONN.)
    """
    validate_ifname(name)
    validate_ifname(peer)
    dest = f" in netns {peer_netns}" if peer_netns else ""
    op = f"create veth {name} (peer {peer}{dest})"
    peer_attrs: list[tuple[str, object]] = [("IFLA_IFNAME", peer)]
    if mtu is not None:
        peer_attrs.append(("IFLA_MTU", mtu))
    fd = None
    try:
        if peer_netns is not None:
            try:
                fd = os.open(netns_mod.path(peer_netns), os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise NetlinkError(
                    op, s.where, f"cannot open netns {peer_netns}: {exc.strerror}", exc.errno
                ) from exc
            peer_attrs.append(("IFLA_NET_NS_FD", fd))
        attrs: list[tuple[str, object]] = [("IFLA_IFNAME", name)]
        if mtu is not None:
            attrs.append(("IFLA_MTU", mtu))
        if master is not None:
            attrs.append(("IFLA_MASTER", master.index))
        veth_data = {"attrs": [("VETH_INFO_PEER", {"attrs": peer_attrs})]}
        linkinfo = {"attrs": [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", veth_data)]}
        attrs.append(("IFLA_LINKINFO", linkinfo))
        flag = IFF_UP if up else 0
        s.request(op, ifinfo(0, flag, flag, attrs), RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
    finally:
        if fd is not None:
            os.close(fd)


def create_veth(
    s: Session,
    name: str,
    peer: str,
    peer_netns: str | None = None,
    mtu: int | None = None,
    *,
    master: LinkInfo | None = None,
    up: bool = False,
) -> LinkInfo:
    """Create a veth pair: ``name`` here, ``peer`` born directly inside ``peer_netns``.

    Creating the peer in its target namespace under its final name (e.g. eth0) is one atomic
    kernel request, so there is no half-moved state and no temporary name that could collide
    in this namespace. Fails with EEXIST if ``name`` exists (CNI: ADD must not reuse an
    interface).
    """
    add_veth(s, name, peer, peer_netns, mtu, master=master, up=up)
    return require_link(s, name, f"create veth {name}")


def ensure_veth(
    s: Session, name: str, peer: str, peer_netns: str | None = None, mtu: int | None = None
) -> tuple[LinkInfo, bool]:
    """Like create_veth, but an existing veth called ``name`` is accepted: (info, created)."""
    info = get_link(s, name)
    if info is not None:
        if info.kind != "veth":
            raise NetlinkError(
                f"ensure veth {name}",
                s.where,
                f"link {name} exists but is a {info.kind or 'device'}",
            )
        return info, False
    return create_veth(s, name, peer, peer_netns, mtu), True


def set_master(s: Session, link: LinkRef, bridge: LinkRef) -> None:
    """Attach ``link`` as a port of ``bridge`` (no-op if it already is)."""
    op = f"attach {_name(link)} to bridge {_name(bridge)}"
    br = require_link(s, bridge, op)
    info = require_link(s, link, op)
    if info.master != br.index:
        s.request(op, ifinfo(info.index, attrs=[("IFLA_MASTER", br.index)]), RTM_SETLINK)


def set_nomaster(s: Session, name: str) -> None:
    """Detach ``name`` from its bridge (no-op if it is not a port, or is gone)."""
    info = get_link(s, name)
    if info is not None and info.master is not None:
        op = f"detach {name} from its bridge"
        s.request(op, ifinfo(info.index, attrs=[("IFLA_MASTER", 0)]), RTM_SETLINK)


def write_hairpin(s: Session, link: LinkRef, on: bool = True) -> None:
    """Set hairpin mode on a bridge port in one request, without reading it first (the
    kernel refuses, EOPNOTSUPP, when the link is not a bridge port)."""
    op = f"set hairpin {'on' if on else 'off'} on {_name(link)}"
    mode = BRIDGE_MODE_HAIRPIN if on else 0
    port = {"attrs": [("IFLA_BRPORT_MODE", mode)]}
    linkinfo = {"attrs": [("IFLA_INFO_SLAVE_KIND", "bridge"), ("IFLA_INFO_SLAVE_DATA", port)]}
    s.request(op, _by(link, [("IFLA_LINKINFO", linkinfo)]), RTM_NEWLINK)


def set_hairpin(s: Session, link: LinkRef, on: bool = True) -> None:
    """Hairpin mode on a bridge port: frames may leave by the port they came in on.

    Needed so a pod can reach itself through a Service VIP that DNATs back to it.
    """
    op = f"set hairpin {'on' if on else 'off'} on {_name(link)}"
    info = require_link(s, link, op)
    if info.hairpin is None:
        raise NetlinkError(op, s.where, f"link {info.name} is not a bridge port")
    if info.hairpin != on:
        write_hairpin(s, info, on)


def delete_link(s: Session, name: str) -> bool:
    """Delete ``name`` (a veth takes its peer with it). True if it existed."""
    validate_ifname(name)
    try:
        s.request(f"delete link {name}", _by(name), RTM_DELLINK)
    except NetlinkError as exc:
        if exc.errno == errno.ENODEV:  # not there (or deleted concurrently, with its peer's netns)
            return False
        raise
    return True
