"""Rendering within a size, FORMERR from a header, the forward cache, upstream parsing."""

from __future__ import annotations

from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from knet.dns.cache import AnswerCache, cache_key
from knet.dns.forward import parse_upstream, resolv_conf_upstreams
from knet.dns.server import formerr, render, udp_limit


def big_response(count: int) -> dns.message.Message:
    q = dns.message.make_query("many.example", "A")
    resp = dns.message.make_response(q)
    ips = [f"10.0.{i // 256}.{i % 256}" for i in range(count)]
    resp.answer.append(dns.rrset.from_text_list("many.example.", 5, "IN", "A", ips))
    resp.additional.append(dns.rrset.from_text("x.example.", 5, "IN", "TXT", '"' + "x" * 200 + '"'))
    return resp


def test_render_sheds_additional_first_then_truncates() -> None:
    fits_without_extra = render(big_response(20), 512)
    m = dns.message.from_wire(fits_without_extra)
    assert not m.flags & dns.flags.TC and len(m.answer[0]) == 20 and m.additional == []
    too_big = dns.message.from_wire(render(big_response(100), 512))
    assert too_big.flags & dns.flags.TC and too_big.answer == []
    whole = dns.message.from_wire(render(big_response(100), 65535))
    assert len(whole.answer[0]) == 100 and not whole.flags & dns.flags.TC


def test_udp_limit_honours_edns_payload() -> None:
    assert udp_limit(dns.message.make_query("a.", "A")) == 512
    assert udp_limit(dns.message.make_query("a.", "A", use_edns=0, payload=4096)) == 4096
    assert udp_limit(dns.message.make_query("a.", "A", use_edns=0, payload=100)) == 512


def test_formerr_from_header_alone() -> None:
    assert formerr(b"\x12\x34\x01") is None
    reply = formerr(b"\x12\x34\x01\x00" + b"\x00\x01" * 4 + b"\xff\xff")
    assert reply is not None
    m = dns.message.from_wire(reply)
    assert m.id == 0x1234 and m.rcode() == dns.rcode.FORMERR and m.flags & dns.flags.RD
    assert formerr(b"\x12\x34\x81\x00" + b"\x00" * 8) is None  # a response: dropped


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cache_ages_ttls_and_expires() -> None:
    clock = Clock()
    cache = AnswerCache(capacity=2, max_ttl=30, clock=clock)
    q = dns.message.make_query("Example.ORG", "A")
    resp = dns.message.make_response(q)
    resp.answer.append(dns.rrset.from_text("example.org.", 300, "IN", "A", "192.0.2.1"))
    cache.put(cache_key(q), resp)
    clock.now += 10
    hit = cache.get(cache_key(dns.message.make_query("example.org", "A")), 77)
    assert hit is not None
    msg, denial = hit
    assert msg.id == 77 and msg.answer[0].ttl == 290 and not denial
    clock.now += 21  # capped at 30 s
    assert cache.get(cache_key(q), 1) is None


def test_cache_keeps_denials_not_failures_and_stays_bounded() -> None:
    cache = AnswerCache(capacity=2, clock=Clock())
    for i in range(3):
        q = dns.message.make_query(f"n{i}.example", "A")
        resp = dns.message.make_response(q)
        resp.set_rcode(dns.rcode.NXDOMAIN)
        resp.authority.append(dns.rrset.from_text("example.", 60, "IN", "SOA", "a. b. 1 2 3 4 60"))
        cache.put(cache_key(q), resp)
    assert len(cache) == 2
    last = cache.get(cache_key(dns.message.make_query("n2.example", "A")), 1)
    assert last is not None and last[1] is True
    failed = dns.message.make_response(dns.message.make_query("f.example", "A"))
    failed.set_rcode(dns.rcode.SERVFAIL)
    cache.put(("f.example.", 1, 1, False), failed)
    assert cache.get(("f.example.", 1, 1, False), 1) is None


def test_parse_upstream() -> None:
    assert parse_upstream("10.0.0.2") == ("10.0.0.2", 53)
    assert parse_upstream("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_upstream("[::1]:5353") == ("::1", 5353)
    assert parse_upstream("fd00::2") == ("fd00::2", 53)
    for bad in ("dns.google", "1.2.3.4:0", "1.2.3.4:x", "[::1]x"):
        with pytest.raises(ValueError):
            parse_upstream(bad)


def test_resolv_conf_upstreams(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# comment\nsearch a.b\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\n"
        "nameserver bogus\noptions ndots:5\n"
    )
    assert resolv_conf_upstreams(conf) == [("10.0.0.2", 53), ("fe80::1", 53)]
