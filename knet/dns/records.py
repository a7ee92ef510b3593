"""The record index: every name `knet dns` answers for, built from Service and EndpointSlice
dicts (as the API returns them), kept ready for the read path.

A change to one Service or one of its slices rebuilds only that Service's names (`_rebuild`), so
answering is one dict look-up and never walks the Services. Names are lower-case text without
the final dot; answers carry the question's own spelling.

Names follow the Kubernetes DNS-Based Service Discovery specification 1.1.0 and CoreDNS's
`kubernetes` plugin where the spec leaves room (an endpoint without a hostname is named by its
dashed IP, as CoreDNS does; an endpoint whose `ready` is unset counts as ready).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Obj = Mapping[str, Any]
Owner = tuple[str, str]  # (namespace, service name)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Srv:
    priority: int
    weight: int
    port: int
    target: str  # lower-case, no final dot


@dataclass(frozen=True)
class RecordSet:
    """The records of one name. `extra` are A/AAAA of SRV targets for the additional section."""

    a: tuple[str, ...] = ()
    aaaa: tuple[str, ...] = ()
    cname: str | None = None
    srv: tuple[Srv, ...] = ()
    ptr: tuple[str, ...] = ()
    extra: tuple[tuple[str, str], ...] = ()  # (target name, address)


@dataclass
class _Building:
    """Mutable form of a RecordSet while one Service's names are built."""

    a: list[str] = field(default_factory=list)
    aaaa: list[str] = field(default_factory=list)
    cname: str | None = None
    srv: list[Srv] = field(default_factory=list)
    ptr: list[str] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)

    seen: set[str] = field(default_factory=set)

    def add_address(self, ip: str) -> None:
        if ip not in self.seen:  # a set: headless Services may have thousands of addresses
            self.seen.add(ip)
            (self.aaaa if ":" in ip else self.a).append(ip)

    def freeze(self) -> RecordSet:
        return RecordSet(
            tuple(self.a),
            tuple(self.aaaa),
            self.cname,
            tuple(self.srv),
            tuple(self.ptr),
            tuple(self.extra),
        )


def reverse_name(ip: str) -> str:
    """`10.0.0.1` → `1.0.0.10.in-addr.arpa` (lower-case, no final dot)."""
    return ipaddress.ip_address(ip).reverse_pointer.lower()


def dashed(ip: str) -> str:
    """An address as one DNS label, as CoreDNS names endpoints and pods: dots and colons → '-'."""
    return ip.replace(".", "-").replace(":", "-")


@dataclass(frozen=True)
class _Endpoint:
    addresses: tuple[str, ...]
    hostname: str | None
    ports: tuple[tuple[str, str, int], ...]  # (name, protocol, port) of its slice


def _ready_endpoints(slices: Iterable[Obj], publish_not_ready: bool) -> list[_Endpoint]:
    out: list[_Endpoint] = []
    for sl in slices:
        if sl.get("addressType") not in ("IPv4", "IPv6"):
            continue  # FQDN slices carry no addresses DNS can serve
        ports = tuple(
            (p.get("name") or "", (p.get("protocol") or "TCP"), int(p.get("port") or 0))
            for p in sl.get("ports") or ()
        )
        for ep in sl.get("endpoints") or ():
            ready = (ep.get("conditions") or {}).get("ready")
            if ready is False and not publish_not_ready:
                continue
            addrs = tuple(str(a) for a in ep.get("addresses") or ())
            out.append(_Endpoint(addrs, ep.get("hostname"), ports))
    return out


def _srv_weight(count: int) -> int:
    return max(1, 100 // max(1, count))


def _cluster_ips(spec: Obj) -> list[str]:
    ips = [str(ip) for ip in spec.get("clusterIPs") or ()]
    if not ips and spec.get("clusterIP"):
        ips = [str(spec["clusterIP"])]
    return [ip for ip in ips if ip and ip != "None"]


def service_names(zone: str, service: Obj, slices: Iterable[Obj]) -> dict[str, RecordSet]:
    """Every name one Service contributes, with its records (pure)."""
    meta, spec = service.get("metadata") or {}, service.get("spec") or {}
    base = f"{meta['name']}.{meta.get('namespace') or 'default'}.svc.{zone}".lower()
    names: dict[str, _Building] = {}

    def at(name: str) -> _Building:
        return names.setdefault(name, _Building())

    if spec.get("type") == "ExternalName":
        external = str(spec.get("externalName") or "").rstrip(".").lower()
        if external:
            at(base).cname = external
        return {n: b.freeze() for n, b in names.items()}

    # SRV: `_<port>._<proto>.<base>` for named ports, and, as CoreDNS answers a query without
    # port and protocol, `<base>` itself for every port.
    srv: dict[str, list[tuple[int, str, tuple[str, ...]]]] = {}

    def add_srv(pname: str, proto: str, port: int, target: str, ips: tuple[str, ...]) -> None:
        srv.setdefault(base, []).append((port, target, ips))
        if pname:
            srv.setdefault(f"_{pname}._{proto.lower()}.{base}".lower(), []).append(
                (port, target, ips)
            )

    cluster_ips = tuple(_cluster_ips(spec))
    if cluster_ips:
        for ip in cluster_ips:
            at(base).add_address(ip)
            at(reverse_name(ip)).ptr.append(base)
        for p in spec.get("ports") or ():
            add_srv(
                p.get("name") or "", p.get("protocol") or "TCP", int(p["port"]), base, cluster_ips
            )
    else:
        # Headless: one record per ready endpoint address, and a name per endpoint.
        at(base)  # the name exists even with no ready endpoints (NODATA, not NXDOMAIN)
        for ep in _ready_endpoints(slices, bool(spec.get("publishNotReadyAddresses"))):
            for ip in ep.addresses:
                target = f"{(ep.hostname or dashed(ip)).lower()}.{base}"
                at(base).add_address(ip)
                at(target).add_address(ip)
                at(reverse_name(ip)).ptr.append(target)
                for pname, proto, port in ep.ports:
                    add_srv(pname, proto, port, target, (ip,))
    for srv_name, targets in srv.items():
        weight = _srv_weight(len(targets))  # equal shares of 100, as CoreDNS gives
        b = at(srv_name)
        for port, target, ips in targets:
            b.srv.append(Srv(0, weight, port, target))
            b.extra.extend((target, ip) for ip in ips)
    return {n: b.freeze() for n, b in names.items()}


def ancestors(name: str, zone: str) -> list[str]:
    """The names between `name` and `zone`, both excluded: `a.b.svc.z` → [`b.svc.z`, `svc.z`]."""
    out: list[str] = []
    rest = name
    while "." in rest:
        rest = rest.split(".", 1)[1]
        if not rest.endswith("." + zone):
            break
        out.append(rest)
    return out


def _merge(sets: Iterable[RecordSet]) -> RecordSet:
    sets = list(sets)
    if len(sets) == 1:
        return sets[0]
    b = _Building()
    for s in sets:
        for ip in (*s.a, *s.aaaa):
            b.add_address(ip)
        b.cname = b.cname or s.cname
        b.srv.extend(s.srv)
        b.ptr.extend(p for p in s.ptr if p not in b.ptr)
        b.extra.extend(s.extra)
    return b.freeze()


class RecordIndex:
    """Services, their slices and the names they make. Writers call the upsert/delete methods
    (from informer handlers); readers call `lookup`/`is_node`."""

    def __init__(self, zone: str = "cluster.local") -> None:
        self.zone = zone.rstrip(".").lower()
        self.services: dict[Owner, Obj] = {}
        self.slices: dict[Owner, dict[str, Obj]] = {}  # by service, then slice name
        self.namespaces: set[str] = set()
        self._owned: dict[Owner, dict[str, RecordSet]] = {}
        self._by_name: dict[str, dict[Owner, RecordSet]] = {}
        self.names: dict[str, RecordSet] = {}  # merged: what the read path uses
        self._ent: dict[str, int] = {}  # empty non-terminals, by how many names lie below
        self.serial = int(time.time())
        # Told each name whose answers may have changed (records, or existence), as it changes:
        # caches of rendered answers drop just those.
        self.listeners: list[Callable[[str], None]] = []

    # ---------------------------------------------------------------- read path

    def lookup(self, name: str) -> RecordSet | None:
        return self.names.get(name)

    def is_node(self, name: str) -> bool:
        """True if `name` exists in the tree (with records, or as an empty non-terminal)."""
        return name in self.names or name in self._ent

    # ---------------------------------------------------------------- write path

    def upsert_service(self, svc: Obj) -> None:
        owner = _owner(svc)
        self.services[owner] = svc
        self._rebuild(owner)

    def delete_service(self, svc: Obj) -> None:
        owner = _owner(svc)
        self.services.pop(owner, None)
        self._rebuild(owner)

    def upsert_slice(self, sl: Obj) -> None:
        owner = _slice_owner(sl)
        if owner is None:
            return
        self.slices.setdefault(owner, {})[sl["metadata"]["name"]] = sl
        self._rebuild(owner)

    def delete_slice(self, sl: Obj) -> None:
        owner = _slice_owner(sl)
        if owner is None:
            return
        by_name = self.slices.get(owner, {})
        by_name.pop(sl["metadata"]["name"], None)
        if not by_name:
            self.slices.pop(owner, None)
        self._rebuild(owner)

    def upsert_namespace(self, ns: Obj) -> None:
        name = ns["metadata"]["name"]
        if name not in self.namespaces:
            self.namespaces.add(name)
            self._touch(f"{name}.svc.{self.zone}".lower())
        self._changed()

    def delete_namespace(self, ns: Obj) -> None:
        name = ns["metadata"]["name"]
        if name in self.namespaces:
            self.namespaces.discard(name)
            self._touch(f"{name}.svc.{self.zone}".lower())
        self._changed()

    def namespace_exists(self, ns: str) -> bool:
        return ns in self.namespaces or f"{ns}.svc.{self.zone}" in self._ent

    def _rebuild(self, owner: Owner) -> None:
        svc = self.services.get(owner)
        new = (
            service_names(self.zone, svc, self.slices.get(owner, {}).values())
            if svc is not None
            else {}
        )
        old = self._owned.pop(owner, {})
        if new:
            self._owned[owner] = new
        for name in old.keys() - new.keys():
            self._drop(name, owner)
        for name, records in new.items():
            if old.get(name) != records:
                self._put(name, owner, records)
        self._changed()

    def _put(self, name: str, owner: Owner, records: RecordSet) -> None:
        owners = self._by_name.setdefault(name, {})
        if not owners:
            for anc in ancestors(name, self.zone):
                below = self._ent.get(anc, 0)
                self._ent[anc] = below + 1
                if not below:
                    self._touch(anc)  # NXDOMAIN → NODATA
        owners[owner] = records
        self.names[name] = _merge(owners.values())
        self._touch(name)

    def _drop(self, name: str, owner: Owner) -> None:
        owners = self._by_name.get(name, {})
        owners.pop(owner, None)
        self._touch(name)
        if owners:
            self.names[name] = _merge(owners.values())
            return
        self._by_name.pop(name, None)
        self.names.pop(name, None)
        for anc in ancestors(name, self.zone):
            left = self._ent.get(anc, 0) - 1
            if left > 0:
                self._ent[anc] = left
            else:
                self._ent.pop(anc, None)
                self._touch(anc)

    def _touch(self, name: str) -> None:
        for listener in self.listeners:
            listener(name)

    def _changed(self) -> None:
        self.serial = max(self.serial, int(time.time()))


def _owner(obj: Obj) -> Owner:
    meta = obj["metadata"]
    return (str(meta.get("namespace") or "default"), str(meta["name"]))


def _slice_owner(sl: Obj) -> Owner | None:
    meta = sl["metadata"]
    svc = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    if not svc:
        return None  # a slice not managed for a Service names nothing
    return (str(meta.get("namespace") or "default"), str(svc))
