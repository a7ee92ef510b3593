"""The record index stays exact as Services and slices come, change and go."""

from __future__ import annotations

from typing import Any

import dns.message
import dns.rcode
from dns_objects import endpoint, endpoint_slice, service

from knet.dns.answer import answer
from knet.dns.records import RecordIndex, ancestors


def test_ancestors_stop_below_the_zone() -> None:
    assert ancestors("a.b.svc.cluster.local", "cluster.local") == [
        "b.svc.cluster.local",
        "svc.cluster.local",
    ]
    assert ancestors("1.0.0.10.in-addr.arpa", "cluster.local") == []


def test_delete_removes_names_and_empty_non_terminals() -> None:
    idx = RecordIndex()
    idx.upsert_service(service("web", "shop"))
    assert idx.is_node("shop.svc.cluster.local")
    assert idx.lookup("_http._tcp.web.shop.svc.cluster.local") is not None
    idx.delete_service(service("web", "shop"))
    assert idx.names == {}
    assert not idx.is_node("shop.svc.cluster.local")
    assert not idx.is_node("_tcp.web.shop.svc.cluster.local")


def test_service_update_replaces_its_records() -> None:
    idx = RecordIndex()
    idx.upsert_service(service("web", cluster_ip="10.96.0.1"))
    idx.upsert_service(service("web", cluster_ip="10.96.0.2", ports=[{"port": 80}]))
    rs = idx.lookup("web.default.svc.cluster.local")
    assert rs is not None and rs.a == ("10.96.0.2",)
    assert idx.lookup("1.0.96.10.in-addr.arpa") is None
    assert idx.lookup("_http._tcp.web.default.svc.cluster.local") is None


def test_slices_before_their_service_count_once_it_comes() -> None:
    idx = RecordIndex()
    idx.upsert_slice(endpoint_slice("h-1", "h", [endpoint("10.0.0.1")]))
    assert idx.lookup("h.default.svc.cluster.local") is None
    idx.upsert_service(service("h", cluster_ip="None"))
    rs = idx.lookup("h.default.svc.cluster.local")
    assert rs is not None and rs.a == ("10.0.0.1",)


def test_slices_of_one_service_merge_and_leave() -> None:
    idx = RecordIndex()
    idx.upsert_service(service("h", cluster_ip="None"))
    idx.upsert_slice(endpoint_slice("h-1", "h", [endpoint("10.0.0.1")]))
    idx.upsert_slice(endpoint_slice("h-2", "h", [endpoint("fd00::2")], address_type="IPv6"))
    rs = idx.lookup("h.default.svc.cluster.local")
    assert rs is not None and rs.a == ("10.0.0.1",) and rs.aaaa == ("fd00::2",)
    idx.delete_slice(endpoint_slice("h-1", "h", []))
    rs = idx.lookup("h.default.svc.cluster.local")
    assert rs is not None and rs.a == () and rs.aaaa == ("fd00::2",)
    assert idx.lookup("10-0-0-1.h.default.svc.cluster.local") is None


def test_an_address_in_two_headless_services_has_both_ptrs() -> None:
    idx = RecordIndex()
    for name in ("a", "b"):
        idx.upsert_service(service(name, cluster_ip="None"))
        idx.upsert_slice(endpoint_slice(f"{name}-1", name, [endpoint("10.0.0.7")]))
    rs = idx.lookup("7.0.0.10.in-addr.arpa")
    assert rs is not None
    assert set(rs.ptr) == {
        "10-0-0-7.a.default.svc.cluster.local",
        "10-0-0-7.b.default.svc.cluster.local",
    }
    idx.delete_service(service("a", cluster_ip="None"))
    rs = idx.lookup("7.0.0.10.in-addr.arpa")
    assert rs is not None and rs.ptr == ("10-0-0-7.b.default.svc.cluster.local",)


def test_listeners_hear_each_touched_name() -> None:
    idx = RecordIndex()
    heard: list[str] = []
    idx.listeners.append(heard.append)
    idx.upsert_service(service("web", cluster_ip="10.96.0.1", ports=[{"port": 80}]))
    assert set(heard) == {
        "web.default.svc.cluster.local",
        "default.svc.cluster.local",  # NXDOMAIN → NODATA
        "svc.cluster.local",
        "1.0.96.10.in-addr.arpa",
    }
    heard.clear()
    idx.upsert_service(service("web", cluster_ip="10.96.0.1", ports=[{"port": 80}]))
    assert heard == []  # nothing changed
    idx.upsert_namespace({"metadata": {"name": "quiet"}})
    assert heard == ["quiet.svc.cluster.local"]


def test_unlabelled_and_fqdn_slices_name_nothing() -> None:
    idx = RecordIndex()
    idx.upsert_service(service("h", cluster_ip="None"))
    sl = endpoint_slice("free", "h", [endpoint("10.0.0.1")])
    del sl["metadata"]["labels"]
    idx.upsert_slice(sl)
    idx.upsert_slice(endpoint_slice("f", "h", [{"addresses": ["x.example"]}], address_type="FQDN"))
    rs = idx.lookup("h.default.svc.cluster.local")
    assert rs is not None and rs.a == ()


class NoScan(dict):  # type: ignore[type-arg]
    """A dict that fails the test if anything walks it."""

    def __iter__(self) -> Any:
        raise AssertionError("the read path walked every Service")

    values = items = keys = __iter__  # type: ignore[assignment]


def test_answering_never_walks_the_services() -> None:
    idx = RecordIndex()
    for i in range(50):
        idx.upsert_service(service(f"s{i}", cluster_ip=f"10.96.0.{i + 1}"))
    idx.services = NoScan(idx.services)
    idx.slices = NoScan(idx.slices)
    for name, rdtype in [
        ("s7.default.svc.cluster.local", "A"),
        ("nope.default.svc.cluster.local", "A"),
        ("default.svc.cluster.local", "A"),
        ("_http._tcp.s3.default.svc.cluster.local", "SRV"),
        ("8.0.96.10.in-addr.arpa", "PTR"),
    ]:
        resp = answer(idx, dns.message.make_query(name, rdtype))
        assert resp is not None and resp.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)
