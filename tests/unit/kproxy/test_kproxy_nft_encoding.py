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
    msg = nl.pyroute2_message(
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
    slow = nl.pyroute2_message(
        nl.nfts.nft_rule_msg, nl.nfts.NFT_MSG_NEWRULE, nl.NFPROTO_IPV4, attrs, flags
    )
    slow.encode()
    assert bytes(fast.data) == bytes(slow.data)


TABLE = nl.Table(nl.NFPROTO_IPV4, "knet-proxy")
FAST_OPS = [
    nl.Op("add", nl.Rule("svc-a", (nl.counter(), nl.verdict(nl.GOTO, "x")))),
    nl.Op("add", ("eps-a", (ELEMENTS[1], ELEMENTS[1]))),
    nl.Op("delete", ("eps-a", (nl.Element("eps-a", nl.u32_host(0)),))),
    nl.Op("add", nl.Chain("svc-a")),
    nl.Op("delete", nl.Chain("svc-a")),
    nl.Op("add", nl.NftSet("eps-a", nl.TYPE_MARK, 4, nl.concat_type(7, 13), 8)),
    nl.Op("add", nl.NftSet("aff", nl.TYPE_IPADDR, 4, nl.TYPE_MARK, 4, nl.SET_EVAL, 30_000)),
    nl.Op("add", nl.NftSet("service-ips", nl.concat_type(7, 12, 13), 12, nl.TYPE_VERDICT)),
    nl.Op("add", nl.NftSet("hairpin", nl.concat_type(7, 7), 8)),
]


@pytest.mark.parametrize("op", FAST_OPS, ids=lambda op: f"{op.verb}-{type(op.obj).__name__}")
def test_struct_packed_messages_equal_pyroute2s(op: nl.Op) -> None:
    fast = nl.fast_bytes(TABLE, op)
    assert fast is not None
    reference = nl.encode_op(TABLE, op)
    reference.encode()
    assert bytes(fast) == bytes(reference.data)


def test_op_bytes_sets_the_sequence_number_and_the_ack_flag() -> None:
    data = nl.op_bytes(TABLE, FAST_OPS[0], seq=77, ack=True)
    _, _, flags, seq = nl.struct.unpack_from("=IHHI", data)
    assert seq == 77 and flags & nl.NLM_F_ACK
    base = nl.op_bytes(TABLE, nl.Op("add", TABLE), seq=5, ack=False)  # pyroute2's path
    _, _, flags, seq = nl.struct.unpack_from("=IHHI", base)
    assert seq == 5 and not flags & nl.NLM_F_ACK


FAST_EXPRS = [
    nl.lookup("eps-ns/web/tcp/80", nl.REG_1, nl.REG32_00),
    nl.lookup("nodeport-ips"),
    nl.lookup("service-ips", nl.REG32_00, nl.REG_VERDICT),
    nl.lookup("hairpin", inv=True),
    nl.verdict(nl.GOTO, "svc-ns/web/tcp/80"),
    nl.verdict(nl.JUMP, "services"),
    nl.verdict(nl.DROP),
]


@pytest.mark.parametrize("expr", FAST_EXPRS, ids=repr)
def test_struct_packed_expressions_equal_pyroute2s(expr: nl.Expr) -> None:
    assert nl._fast_expr(expr) == nl.pyroute2_expr_bytes(expr)
    assert nl._fast_expr(nl.counter()) is None  # the rest is pyroute2's
