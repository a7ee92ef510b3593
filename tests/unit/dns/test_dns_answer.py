"""The spec's answers, from the pure rules: every record type, NXDOMAIN vs NODATA, SOA, case."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.reversename
import dns.rrset
import pytest
from dns_objects import endpoint, endpoint_slice, service

from knet.dns.answer import TTL, answer, classify
from knet.dns.records import RecordIndex


@pytest.fixture
def index() -> RecordIndex:
    idx = RecordIndex("cluster.local")
    idx.upsert_service(service("web", cluster_ip="10.96.0.10"))
    idx.upsert_service(
        service(
            "dual",
            cluster_ip="10.96.0.11",
            clusterIPs=["10.96.0.11", "fd00::11"],
            ports=[{"name": "dns", "port": 53, "protocol": "UDP"}, {"port": 9000}],
        )
    )
    idx.upsert_service(service("db", "prod", cluster_ip="None"))
    idx.upsert_slice(
        endpoint_slice(
            "db-a",
            "db",
            [
                endpoint("10.1.0.1", hostname="db-0"),
                endpoint("10.1.0.2"),
                endpoint("10.1.0.3", ready=False),
                endpoint("10.1.0.4", ready=None),
            ],
            ns="prod",
        )
    )
    idx.upsert_service(service("empty", "prod", cluster_ip="None"))
    idx.upsert_service(
        service("ext", cluster_ip=None, type="ExternalName", externalName="example.org")
    )
    idx.upsert_namespace({"metadata": {"name": "quiet"}})
    return idx


def ask(index: RecordIndex, name: str, rdtype: str = "A") -> dns.message.Message:
    resp = answer(index, dns.message.make_query(name, rdtype))
    assert resp is not None, f"{name} was not answered from the zone"
    return resp


def rdatas(resp: dns.message.Message) -> set[str]:
    return {rd.to_text() for rrset in resp.answer for rd in rrset}


def assert_nodata(resp: dns.message.Message) -> None:
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.answer == []
    assert_soa(resp)


def assert_soa(resp: dns.message.Message) -> None:
    (soa,) = resp.authority
    assert soa.rdtype == dns.rdatatype.SOA
    assert soa.name.to_text() == "cluster.local."
    assert soa.ttl == TTL
    fields = soa[0].to_text().split()
    assert fields[:2] == ["ns.dns.cluster.local.", "hostmaster.cluster.local."]
    assert fields[3:] == ["7200", "1800", "86400", str(TTL)]


def test_cluster_ip_a_is_authoritative_with_ttl_5(index: RecordIndex) -> None:
    resp = ask(index, "web.default.svc.cluster.local")
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.flags & dns.flags.AA
    assert rdatas(resp) == {"10.96.0.10"}
    assert resp.answer[0].ttl == TTL
    assert resp.authority == []


def test_answers_keep_the_question_case(index: RecordIndex) -> None:
    resp = ask(index, "WeB.Default.SVC.cluster.LOCAL")
    assert resp.answer[0].name.to_text() == "WeB.Default.SVC.cluster.LOCAL."
    assert rdatas(resp) == {"10.96.0.10"}


def test_dual_stack_service_has_a_and_aaaa(index: RecordIndex) -> None:
    assert rdatas(ask(index, "dual.default.svc.cluster.local", "A")) == {"10.96.0.11"}
    assert rdatas(ask(index, "dual.default.svc.cluster.local", "AAAA")) == {"fd00::11"}


def test_missing_type_on_existing_name_is_nodata_with_soa(index: RecordIndex) -> None:
    assert_nodata(ask(index, "web.default.svc.cluster.local", "AAAA"))
    assert_nodata(ask(index, "web.default.svc.cluster.local", "MX"))


@pytest.mark.parametrize(
    "name",
    [
        "svc.cluster.local",
        "default.svc.cluster.local",
        "prod.svc.cluster.local",
        "quiet.svc.cluster.local",  # a namespace without Services still exists
        "_tcp.web.default.svc.cluster.local",
        "pod.cluster.local",
        "anyns.pod.cluster.local",
        "empty.prod.svc.cluster.local",  # headless, no ready endpoints
    ],
)
def test_empty_non_terminals_are_nodata(index: RecordIndex, name: str) -> None:
    assert_nodata(ask(index, name))


@pytest.mark.parametrize(
    "name",
    [
        "nope.default.svc.cluster.local",
        "web.nons.svc.cluster.local",
        "nons.svc.cluster.local",
        "x.web.default.svc.cluster.local",
        "cluster.local.default.svc.cluster.local",  # what the search list makes of a name
        "other.cluster.local",
        "*.default.svc.cluster.local",  # no wildcards
        "_http._udp.web.default.svc.cluster.local",
        "not-an-ip.ns.pod.cluster.local",
        "1-2-3-4.a.b.pod.cluster.local",
    ],
)
def test_names_that_do_not_exist_are_nxdomain_with_soa(index: RecordIndex, name: str) -> None:
    resp = ask(index, name)
    assert resp.rcode() == dns.rcode.NXDOMAIN
    assert resp.flags & dns.flags.AA
    assert resp.answer == []
    assert_soa(resp)


def test_headless_answers_each_ready_endpoint(index: RecordIndex) -> None:
    # not-ready 10.1.0.3 is left out; unset `ready` counts as ready
    resp = ask(index, "db.prod.svc.cluster.local")
    assert rdatas(resp) == {"10.1.0.1", "10.1.0.2", "10.1.0.4"}


def test_publish_not_ready_addresses_is_honoured(index: RecordIndex) -> None:
    index.upsert_service(service("db", "prod", cluster_ip="None", publishNotReadyAddresses=True))
    resp = ask(index, "db.prod.svc.cluster.local")
    assert rdatas(resp) == {"10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"}


def test_endpoint_hostnames_and_dashed_ip_names(index: RecordIndex) -> None:
    assert rdatas(ask(index, "db-0.db.prod.svc.cluster.local")) == {"10.1.0.1"}
    assert rdatas(ask(index, "10-1-0-2.db.prod.svc.cluster.local")) == {"10.1.0.2"}
    not_ready = ask(index, "10-1-0-3.db.prod.svc.cluster.local")
    assert not_ready.rcode() == dns.rcode.NXDOMAIN


def test_external_name_is_a_cname_for_every_type(index: RecordIndex) -> None:
    for rdtype in ("A", "AAAA", "CNAME"):
        resp = ask(index, "ext.default.svc.cluster.local", rdtype)
        assert resp.answer[0].rdtype == dns.rdatatype.CNAME
        assert rdatas(resp) == {"example.org."}


def test_srv_for_named_cluster_ip_port_with_address_in_additional(index: RecordIndex) -> None:
    resp = ask(index, "_http._tcp.web.default.svc.cluster.local", "SRV")
    assert rdatas(resp) == {"0 100 80 web.default.svc.cluster.local."}
    extra = {(rr.name.to_text(), rd.to_text()) for rr in resp.additional for rd in rr}
    assert extra == {("web.default.svc.cluster.local.", "10.96.0.10")}
    udp = ask(index, "_dns._udp.dual.default.svc.cluster.local", "SRV")
    assert rdatas(udp) == {"0 100 53 dual.default.svc.cluster.local."}


def test_srv_for_headless_names_each_endpoint(index: RecordIndex) -> None:
    resp = ask(index, "_http._tcp.db.prod.svc.cluster.local", "SRV")
    assert rdatas(resp) == {
        "0 33 8080 db-0.db.prod.svc.cluster.local.",
        "0 33 8080 10-1-0-2.db.prod.svc.cluster.local.",
        "0 33 8080 10-1-0-4.db.prod.svc.cluster.local.",
    }
    assert {rd.to_text() for rr in resp.additional for rd in rr} == {
        "10.1.0.1",
        "10.1.0.2",
        "10.1.0.4",
    }


def test_ptr_for_service_ips_and_headless_endpoints(index: RecordIndex) -> None:
    assert rdatas(ask(index, "10.0.96.10.in-addr.arpa", "PTR")) == {
        "web.default.svc.cluster.local."
    }
    assert rdatas(ask(index, "1.0.1.10.in-addr.arpa", "PTR")) == {"db-0.db.prod.svc.cluster.local."}
    v6 = dns.reversename.from_address("fd00::11").to_text()
    assert rdatas(ask(index, v6, "PTR")) == {"dual.default.svc.cluster.local."}


def test_unknown_reverse_and_other_zones_are_forwarded(index: RecordIndex) -> None:
    assert answer(index, dns.message.make_query("9.9.9.9.in-addr.arpa", "PTR")) is None
    assert answer(index, dns.message.make_query("example.org", "A")) is None
    assert answer(index, dns.message.make_query("xcluster.local", "A")) is None


def test_pod_records(index: RecordIndex) -> None:
    assert rdatas(ask(index, "10-244-1-5.default.pod.cluster.local")) == {"10.244.1.5"}
    assert rdatas(ask(index, "fd00--5.default.pod.cluster.local", "AAAA")) == {"fd00::5"}
    assert_nodata(ask(index, "10-244-1-5.default.pod.cluster.local", "AAAA"))


def test_dns_version_and_apex(index: RecordIndex) -> None:
    assert rdatas(ask(index, "dns-version.cluster.local", "TXT")) == {'"1.1.0"'}
    assert_nodata(ask(index, "dns-version.cluster.local", "A"))
    soa = ask(index, "cluster.local", "SOA")
    assert soa.answer[0].rdtype == dns.rdatatype.SOA
    assert_nodata(ask(index, "cluster.local", "A"))


def test_classify_refuses_what_it_does_not_do() -> None:
    q = dns.message.make_query("web.default.svc.cluster.local", "A")
    assert classify(q) is None
    assert classify(dns.message.make_query("x.cluster.local", "A", rdclass="CH")) == (
        dns.rcode.NOTIMP
    )
    assert classify(dns.message.make_query("cluster.local", "AXFR")) == dns.rcode.NOTIMP
    q.set_opcode(dns.opcode.NOTIFY)
    assert classify(q) == dns.rcode.NOTIMP
    two = dns.message.make_query("a.cluster.local", "A")
    two.question.append(dns.rrset.RRset(dns.name.from_text("b.cluster.local"), 1, 1))
    assert classify(two) == dns.rcode.FORMERR


def test_srv_without_port_and_protocol_lists_every_port(index: RecordIndex) -> None:
    # As CoreDNS: a query for the Service name itself matches any port, named or not.
    resp = ask(index, "dual.default.svc.cluster.local", "SRV")
    assert rdatas(resp) == {
        "0 50 53 dual.default.svc.cluster.local.",
        "0 50 9000 dual.default.svc.cluster.local.",
    }
    headless = ask(index, "db.prod.svc.cluster.local", "SRV")
    assert rdatas(headless) == {
        "0 33 8080 db-0.db.prod.svc.cluster.local.",
        "0 33 8080 10-1-0-2.db.prod.svc.cluster.local.",
        "0 33 8080 10-1-0-4.db.prod.svc.cluster.local.",
    }
    assert_nodata(ask(index, "empty.prod.svc.cluster.local", "SRV"))
