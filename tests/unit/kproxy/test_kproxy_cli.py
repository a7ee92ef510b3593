"""kproxy's flags: kube-proxy's names, durations, bind addresses, bad input."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kproxy.__main__ import main
from kproxy.cli import BindAddress, parse_bind_address, parse_duration, parse_options


def test_defaults_follow_kube_proxy() -> None:
    o = parse_options(["--kubeconfig", "k", "--hostname-override", "Node1"])
    assert o.hostname == "node1"
    assert o.proxy_mode == "iptables"
    assert (o.min_sync_period, o.sync_period) == (1.0, 30.0)
    assert o.healthz_bind_address == BindAddress("0.0.0.0", 10256)
    assert o.metrics_bind_address == BindAddress("127.0.0.1", 10249)
    assert o.iptables_backend == "restore" and o.iptables_variant == "auto"
    assert o.masquerade_bit == 14 and not o.masquerade_all and not o.use_endpoints
    assert o.kubeconfig == Path("k")


def test_kube_proxy_132_spellings_are_accepted() -> None:
    o = parse_options(
        [
            "--kubeconfig=k",
            "--iptables-min-sync-period=250ms",
            "--iptables-sync-period=1m30s",
            "--bind-address=10.0.0.5",
            "--cluster-cidr=10.244.0.0/16",
            "--masquerade-all",
            "--nodeport-addresses=192.168.0.0/24,10.1.0.0/16",
            "--use-endpoints",
            "--iptables-backend=python-iptables",
            "--iptables-variant=nft",
            "--healthz-bind-address=",
            "--metrics-bind-address=127.0.0.1",
        ]
    )
    assert (o.min_sync_period, o.sync_period) == (0.25, 90.0)
    assert o.node_ips == ("10.0.0.5",)
    assert o.nodeport_addresses == ("192.168.0.0/24", "10.1.0.0/16")
    assert o.healthz_bind_address is None
    assert o.metrics_bind_address == BindAddress("127.0.0.1", 10249)
    assert o.masquerade_all and o.use_endpoints
    assert o.iptables_backend == "python-iptables" and o.iptables_variant == "nft"


def test_node_ip_alias_and_unspecified_bind_address() -> None:
    assert parse_options(["--kubeconfig=k", "--node-ip=10.0.0.7"]).node_ips == ("10.0.0.7",)
    assert parse_options(["--kubeconfig=k", "--bind-address=0.0.0.0"]).node_ips == ()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("1s", 1.0), ("500ms", 0.5), ("1m30s", 90.0), ("2h", 7200.0), ("1.5s", 1.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["1", "abc", "-1s", "1x", "s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_bind_addresses() -> None:
    assert parse_bind_address("[::1]:9000", 1) == BindAddress("::1", 9000)
    assert parse_bind_address("0.0.0.0:10256", 1) == BindAddress("0.0.0.0", 10256)
    with pytest.raises(argparse.ArgumentTypeError, match="not an IP"):
        parse_bind_address("localhost:80", 1)
    with pytest.raises(argparse.ArgumentTypeError, match="port"):
        parse_bind_address("1.2.3.4:99999", 1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--kubeconfig=k", "--proxy-mode=ipvs"], "invalid choice"),
        (["--kubeconfig=k", "--cluster-cidr=10.0.0.0/40"], "not an IPv4 CIDR"),
        (["--kubeconfig=k", "--min-sync-period=1m", "--sync-period=30s"], "must not exceed"),
        (["--kubeconfig=k", "--healthz-bind-address=nowhere:1"], "not an IP address"),
        (["--kubeconfig=k", "--iptables-masquerade-bit=32"], "0..31"),
        ([], "--kubeconfig is required"),
    ],
)
def test_bad_flags_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_options(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_userspace_mode_flags() -> None:
    opts = parse_options(
        [
            "--kubeconfig=k",
            "--proxy-mode=userspace",
            "--proxy-port-range=36000-36099",
            "--udp-timeout=250ms",
            "--userspace-copy=buffered",
        ]
    )
    assert opts.proxy_mode == "userspace"
    assert opts.proxy_port_range == (36000, 36099)
    assert opts.udp_timeout == 0.25
    assert opts.userspace_copy == "buffered"
    defaults = parse_options(["--kubeconfig=k"])
    assert defaults.proxy_port_range is None and defaults.userspace_copy == "splice"
    assert parse_options(["--kubeconfig=k", "--proxy-port-range=40000+9"]).proxy_port_range == (
        40000,
        40009,
    )


@pytest.mark.parametrize("value", ["abc", "2000-1000", "0-10", "70000", "1-x"])
def test_bad_proxy_port_range_exits_2(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_options(["--kubeconfig=k", f"--proxy-port-range={value}"])
    assert exc.value.code == 2
    assert "port range" in capsys.readouterr().err


def test_missing_kubeconfig_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            f"--kubeconfig={tmp_path / 'nope'}",
            "--iptables-variant=legacy",
            "--healthz-bind-address=",
            "--metrics-bind-address=",
        ]
    )
    assert code == 1
    assert "cannot read kubeconfig" in capsys.readouterr().err
