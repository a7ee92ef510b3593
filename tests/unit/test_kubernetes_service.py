"""The pure parts of the ``kubernetes`` Service reconciler."""

from __future__ import annotations

from knet.apiserver import kubernetes_service as ks


def test_first_address_of_the_range() -> None:
    assert ks.first_address("10.96.0.0/12") == "10.96.0.1"
    assert ks.first_address("172.30.8.0/24") == "172.30.8.1"


def test_live_endpoints_keeps_unexpired_leases_of_api_servers() -> None:
    now = 1_000_000.0
    fresh = ks.lease_object("10.0.0.2", 6443, now - 5)
    expired = ks.lease_object("10.0.0.3", 6443, now - 16)
    other = ks.lease_object("10.0.0.4", 6443, now)
    other["metadata"]["labels"] = {"app": "something-else"}
    broken = ks.lease_object("10.0.0.5", 6443, now)
    broken["spec"]["holderIdentity"] = "not-an-address"
    assert ks.live_endpoints([fresh, expired, other, broken], now) == ["10.0.0.2"]


def test_endpoints_are_sorted_and_empty_without_servers() -> None:
    ep = ks.endpoints_object(["10.0.0.10", "10.0.0.9"], 6443)
    assert [a["ip"] for a in ep["subsets"][0]["addresses"]] == ["10.0.0.9", "10.0.0.10"]
    assert ks.endpoints_object([], 6443)["subsets"] == []
    sl = ks.endpoint_slice_object(["10.0.0.10", "10.0.0.9"], 6443)
    assert [e["addresses"] for e in sl["endpoints"]] == [["10.0.0.9"], ["10.0.0.10"]]
    assert sl["metadata"]["labels"] == {"kubernetes.io/service-name": "kubernetes"}


def test_lease_names_differ_per_server() -> None:
    assert ks.lease_name("10.0.0.2", 6443) != ks.lease_name("10.0.0.3", 6443)
    assert ks.lease_name("10.0.0.2", 6443) == ks.lease_name("10.0.0.2", 6443)


def test_bad_advertise_flags_are_one_line() -> None:
    from pathlib import Path

    from knet.apiserver.config import ApiServerConfig
    from knet.apiserver.server import check_config

    def problem(address: str | None, netns: str | None) -> str | None:
        config = ApiServerConfig(
            data_dir=Path("/nonexistent"), advertise_address=address, advertise_netns=netns
        )
        return check_config(config)

    assert problem("10.0.0.1", "ul") is None
    assert problem("garbage", None) == "invalid --advertise-address 'garbage' (want an IP address)"
    assert problem(None, "ul") == "--advertise-netns needs --advertise-address"


def test_advertise_port_out_of_range_is_one_line() -> None:
    from pathlib import Path

    from knet.apiserver.config import ApiServerConfig
    from knet.apiserver.server import check_config

    def problem(port: int | None) -> str | None:
        config = ApiServerConfig(
            data_dir=Path("/nonexistent"), advertise_address="10.0.0.1", advertise_port=port
        )
        return check_config(config)

    assert problem(None) is None and problem(6443) is None
    assert problem(0) == "invalid --advertise-port 0 (want 1-65535)"
    assert problem(70000) == "invalid --advertise-port 70000 (want 1-65535)"
    assert ApiServerConfig(data_dir=Path("/x"), port=1234, advertise_port=6443).public_port == 6443
    assert ApiServerConfig(data_dir=Path("/x"), port=1234).public_port == 1234
