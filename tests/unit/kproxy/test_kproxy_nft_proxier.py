"""nftables mode's proxier with a recording client: which fragments each sync hands over,
and how failures and a flushed table force a full sync."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Mapping

from kproxy_objects import endpoint, endpoint_slice, service

from knet.client.clock import FakeClock
from knet.netlink import nftables as nl
from knet.netlink.errors import NetlinkError
from kproxy.config import ProxyConfig
from kproxy.nftables.layout import BASE
from kproxy.nftables.proxier import NftablesProxier
from kproxy.nftables.ruleset import Fragment
from kproxy.servicemodel import ServicePortName

WEB = ServicePortName("default", "web", "http")
API = ServicePortName("default", "api", "http")


class RecordingClient:
    """Stands in for NftClient: records each sync, can be told to fail or to look flushed."""

    def __init__(self) -> None:
        self.table = nl.Table(nl.NFPROTO_IPV4, "knet-proxy")
        self.calls: list[tuple[str, dict[Hashable, Fragment | None]]] = []
        self.fail = False
        self.flushed = False

    def full_sync(self, fragments: Mapping[Hashable, Fragment]) -> int:
        return self._record("full", dict(fragments))

    def partial_sync(self, changed: Mapping[Hashable, Fragment | None]) -> int:
        return self._record("partial", dict(changed))

    def _record(self, kind: str, frags: dict[Hashable, Fragment | None]) -> int:
        if self.fail:
            raise NetlinkError("nf_tables transaction", "netns test", "refused")
        self.calls.append((kind, frags))
        return len(frags)

    def intact(self, chain: str) -> bool:
        return not self.flushed

    def close(self) -> None:
        pass


def make() -> tuple[NftablesProxier, RecordingClient]:
    client = RecordingClient()
    config = ProxyConfig("node1", cluster_cidr="10.244.0.0/16", min_sync_period=0.0)
    proxier = NftablesProxier(config, client, clock=FakeClock(), offload=False)  # type: ignore[arg-type]
    proxier.on_service_add(service("web", "10.96.0.10"))
    proxier.on_endpoint_slice_add(endpoint_slice("web", [endpoint("10.244.0.5")]))
    proxier.on_service_add(service("api", "10.96.0.11"))
    proxier.on_services_synced()
    proxier.on_endpoint_slices_synced()
    return proxier, client


def test_first_sync_is_full_then_only_the_changed_service_is_sent() -> None:
    proxier, client = make()
    asyncio.run(proxier.sync_proxy_rules())
    kind, frags = client.calls[-1]
    assert kind == "full" and set(frags) == {BASE, WEB, API}
    old = endpoint_slice("web", [endpoint("10.244.0.5")])
    new = endpoint_slice("web", [endpoint("10.244.0.6")])
    proxier.on_endpoint_slice_update(old, new)
    asyncio.run(proxier.sync_proxy_rules())
    kind, frags = client.calls[-1]
    assert kind == "partial" and set(frags) == {WEB}


def test_a_renamed_port_and_a_deleted_service_remove_their_fragments() -> None:
    proxier, client = make()
    asyncio.run(proxier.sync_proxy_rules())
    renamed = service("web", "10.96.0.10", (("web", "TCP", 80),))
    proxier.on_service_update(service("web", "10.96.0.10"), renamed)
    proxier.on_service_delete(service("api", "10.96.0.11"))
    asyncio.run(proxier.sync_proxy_rules())
    kind, frags = client.calls[-1]
    new_port = ServicePortName("default", "web", "web")
    assert kind == "partial" and frags[WEB] is None and frags[API] is None
    assert isinstance(frags[new_port], Fragment)
    assert WEB not in proxier.fragments and new_port in proxier.fragments


def test_a_failed_sync_and_a_flushed_table_force_a_full_sync() -> None:
    proxier, client = make()
    asyncio.run(proxier.sync_proxy_rules())
    client.fail = True
    proxier.on_service_delete(service("api", "10.96.0.11"))
    asyncio.run(proxier.sync_proxy_rules())
    assert proxier.need_full_sync and proxier.sync_failures == 1
    client.fail = False
    asyncio.run(proxier.sync_proxy_rules())
    kind, frags = client.calls[-1]
    assert kind == "full" and set(frags) == {BASE, WEB}
    assert asyncio.run(proxier.check_table()) is False
    client.flushed = True
    assert asyncio.run(proxier.check_table()) is True and proxier.need_full_sync
