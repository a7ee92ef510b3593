"""nftables mode's netlink client against the real kernel, in scratch namespaces.

What is checked is what the kernel holds afterwards (read back with nf_tables dumps), and how
many messages each kind of change costs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from knet.netlink import nftables as nl
from knet.netlink import nftsocket
from kproxy.config import ProxyConfig
from kproxy.nftables.client import NftClient
from kproxy.nftables.layout import BASE, SERVICES_CHAIN, base_fragment, service_fragment
from kproxy.servicemodel import EndpointInfo, ServicePortInfo, ServicePortName

pytestmark = [pytest.mark.root]

CONFIG = ProxyConfig("n1", node_ips=("10.0.0.1",), cluster_cidr="10.244.0.0/16")
SPN = ServicePortName("default", "web")
INFO = ServicePortInfo("10.96.0.10", 80, node_port=30080)


def eps(*last: int) -> list[EndpointInfo]:
    return [EndpointInfo(f"10.244.0.{n}", 8080) for n in last]


@pytest.fixture
def client(make_netns: Callable[[str], str]) -> Iterator[NftClient]:
    c = NftClient(make_netns("nft"), "knet-proxy")
    try:
        yield c
    finally:
        c.close()


def chains(c: NftClient) -> set[str]:
    sock = nftsocket.open_socket(c.netns)
    try:
        return {
            str(m.get_attr("NFTA_CHAIN_NAME"))
            for m in sock.dump(nl.NFPROTO_IPV4, nl.NFT_MSG_GETCHAIN)
            if m.get_attr("NFTA_CHAIN_TABLE") == "knet-proxy"
        }
    finally:
        sock.close()


def elements(c: NftClient, set_name: str) -> int:
    sock = nftsocket.open_socket(c.netns)
    attrs = [("NFTA_SET_ELEM_LIST_TABLE", "knet-proxy"), ("NFTA_SET_ELEM_LIST_SET", set_name)]
    try:
        msgs = sock.dump(nl.NFPROTO_IPV4, nl.NFT_MSG_GETSETELEM, attrs)
        return sum(len(m.get_attr("NFTA_SET_ELEM_LIST_ELEMENTS") or ()) for m in msgs)
    finally:
        sock.close()


def test_full_sync_writes_the_layout_and_replaces_it_whole(client: NftClient) -> None:
    frags = {BASE: base_fragment(CONFIG), SPN: service_fragment(CONFIG, SPN, INFO, eps(5, 6))}
    client.full_sync(frags)
    assert {"services", "svc-default/web/tcp/80", "ext-default/web/tcp/80"} <= chains(client)
    assert elements(client, "eps-default/web/tcp/80") == 2
    assert elements(client, "service-ips") == 1 and elements(client, "hairpin") == 2
    # A second full sync without the Service leaves no trace of it.
    client.full_sync({BASE: base_fragment(CONFIG)})
    assert not any(c.startswith(("svc-", "ext-")) for c in chains(client))
    assert elements(client, "service-ips") == 0


def test_partial_syncs_send_only_the_difference(client: NftClient) -> None:
    client.full_sync(
        {BASE: base_fragment(CONFIG), SPN: service_fragment(CONFIG, SPN, INFO, eps(5, 6))}
    )
    # Same count, one endpoint replaced: the endpoint map and hairpin set only.
    assert client.partial_sync({SPN: service_fragment(CONFIG, SPN, INFO, eps(5, 7))}) == 4
    assert elements(client, "eps-default/web/tcp/80") == 2
    # No endpoints: the Service moves to the reject maps and its chains go.
    client.partial_sync({SPN: service_fragment(CONFIG, SPN, INFO, [])})
    assert elements(client, "no-endpoint-services") == 1
    assert elements(client, "no-endpoint-nodeports") == 1
    assert "svc-default/web/tcp/80" not in chains(client)
    client.partial_sync({SPN: None})
    assert elements(client, "no-endpoint-services") == 0
    assert client.intact(SERVICES_CHAIN)


def test_a_refused_transaction_changes_nothing_and_forces_a_full_sync(client: NftClient) -> None:
    client.full_sync({BASE: base_fragment(CONFIG)})
    before = chains(client)
    bad = service_fragment(CONFIG, SPN, INFO, eps(5))
    # A rule jumping to a chain that does not exist: the kernel refuses the whole batch.
    broken = type(bad)(
        ((nl.Chain("svc-x"), (nl.Rule("svc-x", (nl.verdict(nl.JUMP, "nowhere"),)),)),),
        bad.sets,
        bad.elements,
    )
    with pytest.raises(nftsocket.BatchError, match="No such file"):
        client.partial_sync({SPN: broken})
    assert chains(client) == before and elements(client, "service-ips") == 0
    assert client.view is None
    with pytest.raises(RuntimeError, match="full sync"):
        client.partial_sync({SPN: bad})


def test_a_flushed_table_is_detected_and_cleanup_removes_it(client: NftClient) -> None:
    client.full_sync({BASE: base_fragment(CONFIG)})
    assert client.intact(SERVICES_CHAIN)
    sock = nftsocket.open_socket(client.netns)
    try:
        sock.transact(client.table, [nl.Op("flush", nl.Chain(SERVICES_CHAIN))])
    finally:
        sock.close()
    assert not client.intact(SERVICES_CHAIN)
    assert client.delete_table() is True
    assert chains(client) == set()
    assert client.delete_table() is False
