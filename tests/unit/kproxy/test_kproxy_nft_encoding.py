"""The fast encodings in knet.netlink.nftables produce exactly pyroute2's bytes."""

from __future__ import annotations

import pytest

from knet.netlink import nftables as nl

ELEMENTS = [
    nl.Element("service-ips", b"\x0a\x60\0\x0a\x06\0\0\0\0\x50\0\0", nl.Verdict(nl.GOTO, "svc-a")),
    nl.Element("eps-a", nl.u32_host(3), b"\x0a\xf4\0\x05\x1f\x90\0\0"),
    nl.Element("hairpin", b"\x0a\xf4\0\x05" * 2),
    nl.Element("no-endpoint-services", b"\x0a\x60\0\x0b\x11\0\0\0\0\x35\0\0", nl.Verdict(nl.DROP)),
]


def pyroute2_elements(elements: list[nl.Element]) -> bytes:
    msg = nl._msg(
        nl.nfts.nft_set_elem_list_msg,
        nl.nfts.NFT_MSG_NEWSETELEM,
        nl.NFPROTO_IPV4,
        nl._elements_attrs("t", elements[0].set, elements),
        0,
    )
    msg.encode()
    return next(p for t, p in nl._attrs_of(bytes(msg.data)) if t == 3)


@pytest.mark.parametrize("element", ELEMENTS, ids=lambda e: e.set)
def test_element_bytes_equal_pyroute2s(element: nl.Element) -> None:
    assert nl.element_bytes(element) == pyroute2_elements([element])


def test_a_rule_with_spliced_expressions_equals_pyroute2s_message() -> None:
    exprs = (
        nl.payload(nl.NETWORK_HEADER, 16, 4, nl.REG32_00),
        nl.lookup("service-ips", nl.REG32_00, nl.REG_VERDICT),
        nl.numgen_random(3),
        nl.dnat(nl.REG32_00, nl.REG32_01),
        nl.verdict(nl.GOTO, "svc-a"),
    )
    fast = nl.encode_op(nl.Table(nl.NFPROTO_IPV4, "t"), nl.Op("add", nl.Rule("c", exprs)))
    fast.encode()
    attrs = [
        ("NFTA_RULE_TABLE", "t"),
        ("NFTA_RULE_CHAIN", "c"),
        ("NFTA_RULE_EXPRESSIONS", [nl._expr_dict(e) for e in exprs]),
    ]
    flags = nl.NLM_F_CREATE | nl.NLM_F_APPEND
    slow = nl._msg(nl.nfts.nft_rule_msg, nl.nfts.NFT_MSG_NEWRULE, nl.NFPROTO_IPV4, attrs, flags)
    slow.encode()
    assert bytes(fast.data) == bytes(slow.data)
