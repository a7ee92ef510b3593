"""Links: bridges, veth pairs, bridge ports (master, hairpin), up/down, delete.

Every ensure_* converges and succeeds when the work is already done; every delete_* succeeds when
the link is already gone. Failures raise NetlinkError naming the link and the namespace.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any

from knet.netlink import netns as netns_mod
from knet.netlink.errors import NetlinkError
from knet.netlink.names import validate_ifname
from knet.netlink.session import Session

IFF_UP = 0x1
BRIDGE_MODE_HAIRPIN = 1


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


def _nested(msg: Any, *path: str) -> Any:
    try:
        return msg.get_nested(*path)
    except (AttributeError, KeyError, TypeError):
        return None


def _to_info(msg: Any) -> LinkInfo:
    mode = None
    if _nested(msg, "IFLA_LINKINFO", "IFLA_INFO_SLAVE_KIND") == "bridge":
        mode = _nested(msg, "IFLA_LINKINFO", "IFLA_INFO_SLAVE_DATA", "IFLA_BRPORT_MODE")
    master = msg.get("master")
    return LinkInfo(
        index=int(msg["index"]),
        name=str(msg.get("ifname")),
        kind=_nested(msg, "IFLA_LINKINFO", "IFLA_INFO_KIND"),
        mac=msg.get("address"),
        mtu=int(msg.get("mtu") or 0),
        up=bool(msg["flags"] & IFF_UP),
        master=int(master) if master else None,
        hairpin=None if mode is None else bool(mode & BRIDGE_MODE_HAIRPIN),
    )


# Functions take a link by name, or by the LinkInfo an earlier call returned (saving a lookup:
# each netlink "get" costs about a millisecond in pyroute2).
LinkRef = str | LinkInfo


def get_link(s: Session, name: str) -> LinkInfo | None:
    """The link called ``name`` in the session's namespace, or None."""
    validate_ifname(name)
    try:
        msgs = s.call(f"get link {name}", s.ipr.link, "get", ifname=name)
    except NetlinkError as exc:
        if exc.errno == errno.ENODEV:
            return None
        raise
    return _to_info(msgs[0])


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
    return [_to_info(m) for m in s.call("list links", s.ipr.link, "dump")]


def set_up(s: Session, link: LinkRef) -> None:
    """Administratively up (a no-op if it already is)."""
    if isinstance(link, LinkInfo):
        if not link.up:
            s.call(f"set {link.name} up", s.ipr.link, "set", index=link.index, state="up")
        return
    # By name, in one request: setting "up" twice is harmless, so no lookup first.
    validate_ifname(link)
    s.call(f"set {link} up", s.ipr.link, "set", ifname=link, state="up")


def set_down(s: Session, link: LinkRef) -> None:
    op = f"set {_name(link)} down"
    info = require_link(s, link, op)
    if info.up:
        s.call(op, s.ipr.link, "set", index=info.index, state="down")


def set_mtu(s: Session, link: LinkRef, mtu: int) -> None:
    op = f"set {_name(link)} mtu {mtu}"
    info = require_link(s, link, op)
    if info.mtu != mtu:
        s.call(op, s.ipr.link, "set", index=info.index, mtu=mtu)


def ensure_bridge(s: Session, name: str, mtu: int | None = None) -> LinkInfo:
    """A bridge called ``name``, administratively up. An existing non-bridge link is an error."""
    op = f"ensure bridge {name}"
    info = get_link(s, name)
    if info is None:
        kw: dict[str, Any] = {"ifname": name, "kind": "bridge", "state": "up"}
        if mtu is not None:
            kw["mtu"] = mtu
        try:
            s.call(f"create bridge {name}", s.ipr.link, "add", **kw)
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
    validate_ifname(name)
    validate_ifname(peer)
    dest = f" in netns {peer_netns}" if peer_netns else ""
    op = f"create veth {name} (peer {peer}{dest})"
    peer_spec: dict[str, Any] = {"ifname": peer}
    if mtu is not None:
        peer_spec["mtu"] = mtu
    fd = None
    try:
        if peer_netns is not None:
            try:
                fd = os.open(netns_mod.path(peer_netns), os.O_RDONLY)
            except OSError as exc:
                raise NetlinkError(
                    op, s.where, f"cannot open netns {peer_netns}: {exc.strerror}", exc.errno
                ) from exc
            peer_spec["net_ns_fd"] = fd
        kw: dict[str, Any] = {"ifname": name, "kind": "veth", "peer": peer_spec}
        if mtu is not None:
            kw["mtu"] = mtu
        if master is not None:
            kw["master"] = master.index
        if up:
            kw["state"] = "up"
        s.call(op, s.ipr.link, "add", **kw)
    finally:
        if fd is not None:
            os.close(fd)
    return require_link(s, name, op)


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
        s.call(op, s.ipr.link, "set", index=info.index, master=br.index)


def set_nomaster(s: Session, name: str) -> None:
    """Detach ``name`` from its bridge (no-op if it is not a port, or is gone)."""
    info = get_link(s, name)
    if info is not None and info.master is not None:
        s.call(f"detach {name} from its bridge", s.ipr.link, "set", index=info.index, master=0)


def set_hairpin(s: Session, link: LinkRef, on: bool = True) -> None:
    """Hairpin mode on a bridge port: frames may leave by the port they came in on.

    Needed so a pod can reach itself through a Service VIP that DNATs back to it.
    """
    op = f"set hairpin {'on' if on else 'off'} on {_name(link)}"
    info = require_link(s, link, op)
    if info.hairpin is None:
        raise NetlinkError(op, s.where, f"link {info.name} is not a bridge port")
    if info.hairpin != on:
        s.call(op, s.ipr.brport, "set", index=info.index, mode=BRIDGE_MODE_HAIRPIN if on else 0)


def delete_link(s: Session, name: str) -> bool:
    """Delete ``name`` (a veth takes its peer with it). True if it existed."""
    info = get_link(s, name)
    if info is None:
        return False
    try:
        s.call(f"delete link {name}", s.ipr.link, "del", index=info.index)
    except NetlinkError as exc:
        if exc.errno == errno.ENODEV:  # deleted concurrently (e.g. its peer's netns went away)
            return False
        raise
    return True
