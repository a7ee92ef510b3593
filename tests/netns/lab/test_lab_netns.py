"""The rule-scaling lab on the real kernel, through the real ``knet bench rules`` command:
``--quick`` end to end (as CI runs it), a restore that overruns its budget being killed and
reported, and Ctrl-C cleaning up. Everything happens in kt-lab-* namespaces the lab creates and
removes; each test checks that none is left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kproxy.config import ProxyConfig
from kproxy.iptables.render import render
from kproxy.lab import workload as w
from kproxy.lab.control import CLUSTER_CIDR
from kproxy.lab.results import REQUIRED_FIELDS

pytestmark = [pytest.mark.root, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[3]
KNET = Path(sys.executable).parent / "knet"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _lab_namespaces() -> set[str]:
    try:
        return {n for n in os.listdir("/run/netns") if n.startswith("kt-lab-")}
    except FileNotFoundError:
        return set()


def _lab_processes() -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return [line for line in ps.stdout.splitlines() if "kproxy.lab" in line]


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    before = _lab_namespaces()
    yield
    assert _lab_namespaces() <= before, "the lab left namespaces behind"
    assert _lab_processes() == [], "the lab left processes behind"


def _knet_bench_rules(*args: str) -> list[str]:
    assert KNET.exists(), f"{KNET}: the knet console script is not installed"
    return [str(KNET), "bench", "rules", "--no-progress", *args]


def _rules_rendered(n: int, m: int) -> int:
    services, endpoints = w.model(n, m)
    rs = render(services, endpoints, ProxyConfig(w.NODE_NAME, cluster_cidr=CLUSTER_CIDR))
    return sum(rs.rule_count(t) for t in rs.tables)


def _check_iptables_row(r: dict[str, Any]) -> None:
    what = f"{r['backend']} {r['services']}x{r['endpoints_per_service']}"
    assert r["rules"] == _rules_rendered(r["services"], r["endpoints_per_service"]), what
    for key in (
        "full_sync_s",
        "restore_s",
        "render_s",
        "restore_floor_s",
        "partial_sync_s",
        "partial_restore_floor_s",
        "full_resync_s",
        "append_one_rule_s",
        "append_one_rule_empty_s",
        "rss_mb",
    ):
        assert r[key] is not None and r[key] > 0, (what, key)
    assert r["full_sync_s"] >= r["restore_s"], what
    assert r["restore_bytes"] > 100 * r["services"], what
    if r["backend"] == "python-iptables":
        assert r["ratio_to_restore"] > 0, what
        assert r["connect_p50_us"] is None  # same x_tables rules as restore-legacy
    else:
        variant = "nft" if r["backend"] == "restore-nft" else "legacy"
        assert r["dataplane"] == f"iptables ({variant})", what


def _check_userspace_row(r: dict[str, Any]) -> None:
    what = f"userspace {r['services']}x{r['endpoints_per_service']}"
    assert r["backend"] == "restore-legacy"
    # Two REDIRECT portals per Service (from pods, from the node) plus three jumps; none per
    # endpoint.
    assert r["rules"] == 2 * r["services"] + 3, what
    for key in ("full_sync_s", "restore_floor_s", "partial_sync_s", "partial_add_service_s"):
        assert r[key] is not None and r[key] > 0, (what, key)
    assert r["dataplane"] == "userspace (legacy)"


def _check_dataplane(r: dict[str, Any]) -> None:
    what = f"{r['mode']} {r['backend']} {r['services']}x{r['endpoints_per_service']}"
    assert r["connect_samples"] >= 100, what
    for label in ("first", "last", "pod"):
        p50, p99 = r[f"connect_{label}_p50_us"], r[f"connect_{label}_p99_us"]
        assert 0 < p50 <= p99, (what, label)
        assert r[f"ttfb_{label}_p50_us"] >= p50, (what, label)
    assert r["connect_failures"] == 0, what
    assert (r["connect_p50_us"], r["connect_p99_us"]) == (
        r["connect_last_p50_us"],
        r["connect_last_p99_us"],
    )
    assert r["throughput_mbit_s"] > 0, what


@pytest.mark.timeout(150)
def test_quick_run(tmp_path: Path, no_leftovers: None) -> None:
    out, md, img = tmp_path / "rows.json", tmp_path / "report.md", tmp_path / "img"
    argv = _knet_bench_rules("--quick", "--json", str(out), "--markdown", str(md))
    proc = subprocess.run(
        [*argv, "--plots", str(img)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows: list[dict[str, Any]] = json.loads(out.read_text())["rows"]
    measured = [r for r in rows if r["status"] == "ok"]
    assert {(r["mode"], r["backend"]) for r in measured} == {
        ("iptables", "restore-legacy"),
        ("iptables", "restore-nft"),
        ("iptables", "python-iptables"),
        ("userspace", "restore-legacy"),
    }, [(r["mode"], r["backend"], r["services"], r["status"]) for r in rows]
    for r in rows:
        assert set(REQUIRED_FIELDS) <= set(r)
        assert r["status"] == "ok" or r["status"].startswith("skipped"), r["status"]
    for r in measured:
        if r["mode"] == "iptables":
            _check_iptables_row(r)
        else:
            _check_userspace_row(r)
        if r["dataplane"] is not None:
            _check_dataplane(r)
    text = md.read_text()
    assert "| iptables | restore-legacy | 100 | 10 |" in text
    assert "| userspace | restore-legacy | 100 | 10 |" in text
    for name in ("sync-time", "connect-latency", "first-byte-latency", "append-one-rule"):
        assert (img / f"{name}.png").read_bytes().startswith(PNG_MAGIC), name
        assert f"![{name}](img/{name}.png)" in text


@pytest.mark.timeout(120)
def test_an_overrunning_restore_is_killed_and_reported(tmp_path: Path, no_leftovers: None) -> None:
    out = tmp_path / "rows.json"
    argv = _knet_bench_rules(
        "--services",
        "2000",
        "--endpoints",
        "10",
        "--backends",
        "restore-legacy",
        "--skip-dataplane",
        "--restore-timeout",
        "0.05",
        "--json",
        str(out),
    )
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=100, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    (row,) = [r for r in rows if r["mode"] == "iptables"]
    assert row["status"] == "timeout (> 0.05 s) in full sync"
    assert row["full_sync_s"] is None and row["restore_floor_s"] is None


@pytest.mark.timeout(120)
def test_ctrl_c_stops_cleans_up_and_keeps_the_rows(tmp_path: Path, no_leftovers: None) -> None:
    out = tmp_path / "rows.json"
    argv = _knet_bench_rules(
        "--services",
        "100,1000,5000",
        "--endpoints",
        "10",
        "--backends",
        "restore-legacy",
        "--json",
        str(out),
    )
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _lab_namespaces() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert _lab_namespaces(), "the lab never made its namespaces"
        time.sleep(1.0)  # well inside the first case
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted" in err and "Traceback" not in err, err[-3000:]
    data = json.loads(out.read_text())
    assert "interrupted" in data["meta"]
    assert [r["status"] for r in data["rows"]][-1] == "interrupted"
