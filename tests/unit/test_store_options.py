"""The storage flags: kube-apiserver's names, checked with one readable line on bad input."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from knet.storage.options import add_store_arguments, parse_duration, store_options_from_args


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_store_arguments(p)
    return p.parse_args(argv)


def test_defaults_are_sqlite_and_upstreams_etcd_defaults() -> None:
    opts = store_options_from_args(parse())
    assert opts.etcd_servers == ()
    assert opts.etcd_prefix == "/registry"
    assert opts.compaction_interval == 300.0


def test_servers_prefix_and_interval() -> None:
    opts = store_options_from_args(
        parse(
            "--etcd-servers",
            "http://127.0.0.1:2379, https://127.0.0.2:2379/",
            "--etcd-prefix",
            "/knet/",
            "--etcd-compaction-interval",
            "1h30m",
        )
    )
    assert opts.etcd_servers == ("http://127.0.0.1:2379", "https://127.0.0.2:2379")
    assert opts.etcd_prefix == "/knet"
    assert opts.compaction_interval == 5400.0


def test_durations() -> None:
    assert parse_duration("0") == 0.0
    assert parse_duration("500ms") == 0.5
    assert parse_duration("2m30s") == 150.0
    for bad in ("", "5", "5x", "m5", "-1s"):
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(bad)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--etcd-servers", "127.0.0.1:2379"), "invalid --etcd-servers URL"),
        (("--etcd-servers", "http://a:1/path"), "invalid --etcd-servers URL"),
        (("--etcd-prefix", "/"), "must not be empty"),
        (("--etcd-certfile", "/etc/hostname"), "go together"),
        (("--etcd-cafile", "/nonexistent/kt-ca.pem"), "no such file"),
    ],
)
def test_bad_flags_are_one_readable_error(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        store_options_from_args(parse(*argv))


def test_tls_files_are_kept(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    opts = store_options_from_args(parse("--etcd-cafile", str(ca)))
    assert opts.tls.cafile == ca
