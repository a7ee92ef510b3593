"""`knet dns` against a real apiserver, over real UDP and TCP on 127.0.0.1, asked with
dnspython's resolver and query functions."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename
import pytest
from dns_process import DnsProcess
from prometheus_client.parser import text_string_to_metric_families

from knet.client import ApiClient

_ns_counter = itertools.count()


def resolver(server: DnsProcess) -> dns.resolver.Resolver:
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = ["127.0.0.1"]
    r.port = server.dns_port
    r.lifetime = 3
    return r


def udp(server: DnsProcess, name: str, rdtype: str = "A", **kw: Any) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, **kw)
    return dns.query.udp(q, "127.0.0.1", port=server.dns_port, timeout=3)


def tcp(server: DnsProcess, name: str, rdtype: str = "A") -> dns.message.Message:
    q = dns.message.make_query(name, rdtype)
    return dns.query.tcp(q, "127.0.0.1", port=server.dns_port, timeout=3)


def addresses(resp: dns.message.Message) -> set[str]:
    return {rd.to_text() for rr in resp.answer for rd in rr}


async def new_namespace(client: ApiClient) -> str:
    name = f"dns-t{next(_ns_counter)}-{int(time.time() * 1000) % 100000}"
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def service_body(name: str, headless: bool = False, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    if headless:
        body["clusterIP"] = "None"
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body}


def slice_body(name: str, svc: str, ips: list[str], hostnames: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [ip],
                "conditions": {"ready": True},
                **({"hostname": f"host-{i}"} if hostnames else {}),
            }
            for i, ip in enumerate(ips)
        ],
    }


async def until(check: Any, timeout: float = 1.0) -> float:
    """Poll `check()` (in a thread: it blocks on a socket) until true; the seconds it took."""
    start = time.monotonic()
    while True:
        if await asyncio.to_thread(check):
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not answered within {timeout}s")
        await asyncio.sleep(0.01)


async def test_cluster_ip_service_over_udp_and_tcp(
    client: ApiClient, dns_server: DnsProcess
) -> None:
    ns = await new_namespace(client)
    svc = await client.create(service_body("web"), namespace=ns)
    ip = svc["spec"]["clusterIP"]
    name = f"web.{ns}.svc.cluster.local"
    await until(lambda: addresses(udp(dns_server, name)) == {ip})
    answer = resolver(dns_server).resolve(name, "A")
    assert {rd.to_text() for rd in answer} == {ip}
    assert answer.rrset is not None and answer.rrset.ttl == 5
    assert addresses(tcp(dns_server, name.upper())) == {ip}
    srv = resolver(dns_server).resolve(f"_http._tcp.{name}", "SRV")
    assert {rd.to_text() for rd in srv} == {f"0 100 80 {name}."}
    ptr = resolver(dns_server).resolve(dns.reversename.from_address(ip), "PTR")
    assert {rd.to_text() for rd in ptr} == {f"{name}."}


async def test_nxdomain_and_nodata_carry_the_soa(client: ApiClient, dns_server: DnsProcess) -> None:
    ns = await new_namespace(client)
    await client.create(service_body("web"), namespace=ns)
    name = f"web.{ns}.svc.cluster.local"
    await until(lambda: bool(addresses(udp(dns_server, name))))
    nx = udp(dns_server, f"nope.{ns}.svc.cluster.local")
    assert nx.rcode() == dns.rcode.NXDOMAIN and nx.flags & dns.flags.AA
    assert nx.authority[0].rdtype == dns.rdatatype.SOA
    nodata = udp(dns_server, name, "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and nodata.answer == []
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA
    ent = udp(dns_server, f"{ns}.svc.cluster.local")
    assert ent.rcode() == dns.rcode.NOERROR and ent.answer == []
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver(dns_server).resolve(f"nope.{ns}.svc.cluster.local", "A")


async def test_headless_endpoints_hostnames_and_srv(
    client: ApiClient, dns_server: DnsProcess
) -> None:
    ns = await new_namespace(client)
    await client.create(service_body("db", headless=True), namespace=ns)
    ips = ["10.240.0.1", "10.240.0.2"]
    await client.create(slice_body("db-a", "db", ips, hostnames=True), namespace=ns)
    name = f"db.{ns}.svc.cluster.local"
    await until(lambda: addresses(udp(dns_server, name)) == set(ips))
    assert addresses(udp(dns_server, f"host-1.{name}")) == {"10.240.0.2"}
    srv = udp(dns_server, f"_http._tcp.{name}", "SRV")
    assert addresses(srv) == {f"0 50 8080 host-{i}.{name}." for i in range(2)}
    assert {rd.to_text() for rr in srv.additional for rd in rr} == set(ips)
    ptr = udp(dns_server, dns.reversename.from_address(ips[0]).to_text(), "PTR")
    assert addresses(ptr) == {f"host-0.{name}."}


async def test_changes_are_answered_within_one_second(
    client: ApiClient, dns_server: DnsProcess
) -> None:
    ns = await new_namespace(client)
    name = f"late.{ns}.svc.cluster.local"
    assert udp(dns_server, name).rcode() == dns.rcode.NXDOMAIN
    svc = await client.create(service_body("late"), namespace=ns)
    took = await until(lambda: addresses(udp(dns_server, name)) == {svc["spec"]["clusterIP"]})
    assert took < 1.0
    await client.create(service_body("hl", headless=True), namespace=ns)
    await client.create(slice_body("hl-a", "hl", ["10.241.0.1"]), namespace=ns)
    hl = f"hl.{ns}.svc.cluster.local"
    await until(lambda: addresses(udp(dns_server, hl)) == {"10.241.0.1"})
    sl = await client.get("EndpointSlice", "hl-a", ns)
    sl["endpoints"][0]["conditions"]["ready"] = False
    await client.replace(sl)
    await until(lambda: udp(dns_server, hl).answer == [])
    await client.delete("Service", "late", ns)
    await until(lambda: udp(dns_server, name).rcode() == dns.rcode.NXDOMAIN)


async def test_truncated_over_udp_then_whole_over_tcp(
    client: ApiClient, dns_server: DnsProcess
) -> None:
    ns = await new_namespace(client)
    await client.create(service_body("big", headless=True), namespace=ns)
    ips = [f"10.242.0.{i}" for i in range(1, 101)]
    await client.create(slice_body("big-a", "big", ips), namespace=ns)
    name = f"big.{ns}.svc.cluster.local"
    await until(lambda: len(addresses(tcp(dns_server, name))) == 100)
    small = udp(dns_server, name)  # no EDNS: 512 bytes
    assert small.flags & dns.flags.TC and small.answer == []
    assert addresses(tcp(dns_server, name)) == set(ips)
    edns = udp(dns_server, name, use_edns=0, payload=4096)
    assert not edns.flags & dns.flags.TC and addresses(edns) == set(ips)
    # The stub resolver retries over TCP on TC by itself.
    assert {rd.to_text() for rd in resolver(dns_server).resolve(name, "A")} == set(ips)


def test_other_zones_are_forwarded_and_cached(dns_server: DnsProcess, upstream: Any) -> None:
    before = len(upstream.queries)
    resp = udp(dns_server, "www.example.test")
    assert resp.rcode() == dns.rcode.NOERROR and addresses(resp) == {"192.0.2.53"}
    again = udp(dns_server, "WWW.example.test")
    assert addresses(again) == {"192.0.2.53"} and again.answer[0].ttl <= 60
    assert len(upstream.queries) == before + 1  # the second came from the cache
    assert udp(dns_server, "nx.example.test").rcode() == dns.rcode.NXDOMAIN
    tcp_resp = tcp(dns_server, "tcp.example.test")
    assert addresses(tcp_resp) == {"192.0.2.53"}
    hits = samples(dns_server.metrics(), "coredns_cache_hits_total")
    server = f"dns://127.0.0.1:{dns_server.dns_port}"
    assert {"server": server, "type": "success", "zones": ".", "view": ""} in hits


def samples(text: str, name: str) -> list[dict[str, str]]:
    return [
        s.labels
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


def test_health_ready_and_metrics(dns_server: DnsProcess) -> None:
    udp(dns_server, "x.cluster.local")
    assert dns_server.get(dns_server.health_port, "/health") == (200, "OK")
    assert dns_server.get(dns_server.ready_port, "/ready") == (200, "OK")
    text = dns_server.metrics()
    common = {"server": f"dns://127.0.0.1:{dns_server.dns_port}", "zone": ".", "view": ""}
    requests = {**common, "proto": "udp", "family": "1", "type": "A"}
    assert requests in samples(text, "coredns_dns_requests_total")
    responses = {**common, "rcode": "NXDOMAIN", "plugin": "kubernetes"}
    assert responses in samples(text, "coredns_dns_responses_total")
    buckets = samples(text, "coredns_dns_request_duration_seconds_bucket")
    assert {**common, "type": "A", "le": "+Inf"} in buckets
