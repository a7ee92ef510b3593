"""The byte-level fast path gives exactly the general path's answers, or steps aside."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rdatatype
import dns.rrset
import pytest
from dns_objects import endpoint, endpoint_slice, service
from hypothesis import given, settings
from hypothesis import strategies as st

from knet.dns.answer import answer
from knet.dns.fastpath import FastPath
from knet.dns.records import RecordIndex
from knet.dns.server import render


@pytest.fixture
def index() -> RecordIndex:
    idx = RecordIndex()
    idx.upsert_service(service("web", cluster_ip="10.96.0.10"))
    idx.upsert_service(service("h", cluster_ip="None"))
    idx.upsert_slice(endpoint_slice("h-1", "h", [endpoint(f"10.0.0.{i}") for i in range(1, 4)]))
    idx.upsert_service(service("ext", cluster_ip=None, type="ExternalName", externalName="a.b"))
    return idx


def normal(wire: bytes) -> tuple[object, ...]:
    m = dns.message.from_wire(wire)
    sections = tuple(
        frozenset((rr.name.to_text(), rr.ttl, rr.rdtype, rd.to_text()) for rr in sec for rd in rr)
        for sec in (m.answer, m.authority, m.additional)
    )
    names = tuple(rr.name.to_text() for rr in m.answer)  # case kept, compared exactly
    return m.id, m.flags, m.rcode(), m.edns, m.payload, str(m.question), sections, names


@pytest.mark.parametrize("use_edns", [False, True])
@pytest.mark.parametrize(
    ("name", "rdtype"),
    [
        ("web.default.svc.cluster.local", "A"),
        ("WEB.Default.svc.Cluster.Local", "A"),
        ("h.default.svc.cluster.local", "A"),
        ("10-0-0-2.h.default.svc.cluster.local", "A"),
        ("nope.default.svc.cluster.local", "A"),
        ("Web.default.svc.cluster.local.default.svc.cluster.local", "AAAA"),
        ("example.org.svc.cluster.local", "A"),
        ("web.default.svc.cluster.local", "AAAA"),  # NODATA
        ("ext.default.svc.cluster.local", "A"),  # CNAME
        ("default.svc.cluster.local", "A"),  # empty non-terminal
        ("10-1-2-3.ns.pod.cluster.local", "A"),
        ("cluster.local", "SOA"),
        ("dns-version.cluster.local", "TXT"),
        ("_http._tcp.h.default.svc.cluster.local", "SRV"),
        ("10.0.96.10.in-addr.arpa", "PTR"),
        ("web.default.svc.cluster.local", "TYPE65280"),
    ],
)
def test_fast_answers_equal_general_answers(
    index: RecordIndex, name: str, rdtype: str, use_edns: bool
) -> None:
    fast = FastPath(index)
    for spelling in (name, name.upper(), name.lower()):  # the first fills the memo
        q = dns.message.make_query(spelling, rdtype, use_edns=0 if use_edns else None)
        hit = fast.answer(q.to_wire(), udp=True)
        assert hit is not None
        general = answer(index, q)
        assert general is not None
        assert normal(hit[0]) == normal(render(general, 512))
        assert hit[2] == general.rcode()


@pytest.mark.parametrize(
    ("name", "rdtype", "rdclass"),
    [
        ("example.org", "A", "IN"),  # forwarded
        ("9.9.9.9.in-addr.arpa", "PTR", "IN"),  # not ours: forwarded
        ("web.default.svc.cluster.local", "A", "CH"),
        ("cluster.local", "AXFR", "IN"),
    ],
)
def test_other_queries_take_the_general_path(
    index: RecordIndex, name: str, rdtype: str, rdclass: str
) -> None:
    q = dns.message.make_query(name, rdtype, rdclass=rdclass)
    assert FastPath(index).answer(q.to_wire(), udp=True) is None


def test_no_recursion_desired_is_kept(index: RecordIndex) -> None:
    q = dns.message.make_query("web.default.svc.cluster.local", "A")
    fast = FastPath(index)
    assert fast.answer(q.to_wire(), udp=True) is not None
    q.flags &= ~dns.flags.RD
    hit = fast.answer(q.to_wire(), udp=True)
    assert hit is not None
    assert not dns.message.from_wire(hit[0]).flags & dns.flags.RD


def test_edns_options_and_extra_questions_take_the_general_path(index: RecordIndex) -> None:
    q = dns.message.make_query("web.default.svc.cluster.local", "A", use_edns=0, want_dnssec=True)
    q.use_edns(0, options=[dns.edns.GenericOption(10, b"12345678")])
    assert FastPath(index).answer(q.to_wire(), udp=True) is None
    two = dns.message.make_query("web.default.svc.cluster.local", "A")
    two.question.append(dns.rrset.RRset(dns.name.from_text("x.cluster.local"), 1, 1))
    assert FastPath(index).answer(two.to_wire(), udp=True) is None


def test_a_change_is_seen_at_once(index: RecordIndex) -> None:
    fast = FastPath(index)
    wire = dns.message.make_query("web.default.svc.cluster.local", "A").to_wire()
    assert fast.answer(wire, udp=True) is not None
    index.upsert_service(service("web", cluster_ip="10.96.0.99"))
    hit = fast.answer(wire, udp=True)
    assert hit is not None
    assert dns.message.from_wire(hit[0]).answer[0][0].to_text() == "10.96.0.99"


def test_an_answer_too_big_for_udp_steps_aside(index: RecordIndex) -> None:
    index.upsert_slice(endpoint_slice("h-2", "h", [endpoint(f"10.0.1.{i}") for i in range(40)]))
    wire = dns.message.make_query("h.default.svc.cluster.local", "A").to_wire()
    fast = FastPath(index)
    assert fast.answer(wire, udp=True) is None
    assert fast.answer(wire, udp=False) is not None


def test_an_edns_answer_bigger_than_our_payload_renders_for_tcp(index: RecordIndex) -> None:
    index.upsert_slice(endpoint_slice("h-3", "h", [endpoint(f"10.0.2.{i}") for i in range(200)]))
    wire = dns.message.make_query("h.default.svc.cluster.local", "A", use_edns=0).to_wire()
    fast = FastPath(index)
    assert fast.answer(wire, udp=True) is None  # over 1232 bytes: the general path truncates
    hit = fast.answer(wire, udp=False)
    assert hit is not None and len(dns.message.from_wire(hit[0]).answer[0]) == 203


def without_serial(wire: bytes) -> tuple[object, ...]:
    """`normal`, but blind to the SOA serial: a kept negative answer may carry an older one."""
    m = dns.message.from_wire(wire)
    m.authority = [
        dns.rrset.from_rdata(rr.name, rr.ttl, rr[0].replace(serial=0))
        if rr.rdtype == dns.rdatatype.SOA
        else rr
        for rr in m.authority
    ]
    return normal(m.to_wire())


QUESTIONS = [(f"{svc}.{ns}.svc.cluster.local", "A") for svc in ("a", "b") for ns in ("n1", "n2")]
QUESTIONS += [
    ("n1.svc.cluster.local", "A"),
    ("n3.svc.cluster.local", "A"),
    ("10-0-0-1.a.n1.svc.cluster.local", "A"),
    ("_http._tcp.a.n1.svc.cluster.local", "SRV"),
    ("1.0.0.10.in-addr.arpa", "PTR"),
]
OPS = st.tuples(
    st.sampled_from(["svc", "headless", "slice", "unready", "delete-svc", "delete-slice", "ns"]),
    st.sampled_from(["a", "b"]),
    st.sampled_from(["n1", "n2", "n3"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(OPS, max_size=8))
def test_memo_follows_every_change(ops: list[tuple[str, str, str]]) -> None:
    index = RecordIndex()
    fast = FastPath(index)

    def compare() -> None:
        for name, rdtype in QUESTIONS:
            q = dns.message.make_query(name, rdtype)
            general = answer(index, q)
            hit = fast.answer(q.to_wire(), udp=False)
            if general is None:
                assert hit is None
                continue
            assert hit is not None
            assert without_serial(hit[0]) == without_serial(render(general, 65535))

    compare()  # fills the memo with the empty index's answers
    for op, svc, ns in ops:
        if op == "svc":
            index.upsert_service(service(svc, ns, cluster_ip="10.0.0.1"))
        elif op == "headless":
            index.upsert_service(service(svc, ns, cluster_ip="None"))
        elif op in ("slice", "unready"):
            ep = endpoint("10.0.0.1", ready=op == "slice")
            index.upsert_slice(endpoint_slice(f"{svc}-1", svc, [ep], ns=ns))
        elif op == "delete-svc":
            index.delete_service(service(svc, ns))
        elif op == "delete-slice":
            index.delete_slice(endpoint_slice(f"{svc}-1", svc, [], ns=ns))
        else:
            index.upsert_namespace({"metadata": {"name": ns}})
        compare()
