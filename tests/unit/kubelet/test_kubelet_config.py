"""kubelet-lite's flags: Kubernetes' names, durations, and clear errors for bad values."""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path

import pytest

from kubelet_lite.__main__ import main
from kubelet_lite.config import ConfigError, parse_args, parse_duration

BASE = [
    "--kubeconfig",
    "/k",
    "--hostname-override",
    "node-1",
    "--node-ip",
    "10.0.0.1",
    "--root-dir",
    "/var/lib/kubelet-lite",
]


@pytest.mark.parametrize(
    ("text", "seconds"), [("10s", 10), ("1m30s", 90), ("250ms", 0.25), ("1h", 3600), ("1.5s", 1.5)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "10", "s", "10x", "1m 30s", "-1s"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration(bad, "--flag")


def test_defaults_and_derived_values() -> None:
    cfg, verbosity = parse_args([*BASE, "--pod-cidr", "10.244.1.0/24"])
    assert cfg.node_name == "node-1" and str(cfg.node_ip) == "10.0.0.1"
    assert cfg.pod_cidr == IPv4Network("10.244.1.0/24") and cfg.bridge == "kbr0"
    assert cfg.node_status_update_frequency == 10 and cfg.node_lease_duration_seconds == 40
    assert cfg.lease_renew_interval == 10 and cfg.node_netns is None and verbosity == 0
    assert cfg.pods_dir == Path("/var/lib/kubelet-lite/pods")
    cfg, _ = parse_args([*BASE, "--node-status-update-frequency", "2s", "--node-netns", "kt-n"])
    assert cfg.node_status_update_frequency == 2 and cfg.node_netns == "kt-n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--pod-cidr", "10.244.1.1/24"], "--pod-cidr"),
        (["--pod-cidr", "10.244.1.0/31"], "too small"),
        (["--node-netns", "../x"], "--node-netns"),
        (["--bridge", "a-bridge-name-too-long"], "--bridge"),
        (["--node-status-update-frequency", "soon"], "not a duration"),
        (["--crash-loop-backoff-initial", "10m"], "crash-loop-backoff"),
    ],
)
def test_bad_flags(extra: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_args(BASE + extra)


def test_bad_node_name_and_ip() -> None:
    args = list(BASE)
    args[3] = "Node_1"
    with pytest.raises(ConfigError, match="not a valid node name"):
        parse_args(args)
    args[3] = "node-1\n"  # a trailing newline is not part of a valid name
    with pytest.raises(ConfigError, match="not a valid node name"):
        parse_args(args)
    args = list(BASE)
    args[5] = "fe80::1"
    with pytest.raises(ConfigError, match="IPv6"):
        parse_args(args)


def test_main_reports_bad_flags_with_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE, "--pod-cidr", "nonsense"]) == 2
    assert "kubelet-lite: --pod-cidr:" in capsys.readouterr().err


def test_main_reports_an_unreadable_kubeconfig(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = list(BASE)
    args[1] = str(tmp_path / "missing")
    args[7] = str(tmp_path / "root")
    assert main(args) == 1
    assert "kubelet-lite: cannot read kubeconfig" in capsys.readouterr().err
