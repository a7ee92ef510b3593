"""scripts/trace_packet.py prints the tracer's verdict in words."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from kproxy_scenarios import NODE_IP, POD, overall

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "trace_packet.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kproxy_trace_packet_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rendered.rules"
    path.write_text(overall().render().to_restore_text())
    return path


def test_describes_dnat(rules_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--dump", str(rules_file), "--src", POD, "--dst", "172.30.0.44", "--dport", "80"]
    argv += ["--node-ip", NODE_IP, "--assume-jumps"]
    assert _load().main(argv) == 0
    out = capsys.readouterr().out
    assert "DNAT to 10.180.0.4:80" in out and "DNAT to 10.180.0.5:80" in out
    assert "2 possible outcomes" in out


def test_live_view_without_jumps_says_untouched(
    rules_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--dump", str(rules_file), "--src", POD, "--dst", "172.30.0.44", "--dport", "80"]
    assert _load().main(argv) == 0
    assert "destination not rewritten" in capsys.readouterr().out


def test_affinity_and_reject(rules_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--dump", str(rules_file), "--src", POD, "--dst", "172.30.0.46", "--dport", "80"]
    assert _load().main([*argv, "--assume-jumps", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "rejected in filter FORWARD by filter/KUBE-SERVICES" in out
    assert "has no endpoints" in out  # --verbose lists the matching rule


def test_bad_input_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.rules"
    bad.write_text("*nat\n-A NOWHERE -j ACCEPT\nCOMMIT\n")
    argv = ["--dump", str(bad), "--src", POD, "--dst", "1.1.1.1", "--dport", "80"]
    assert _load().main(argv) == 1
    assert "undeclared chain" in capsys.readouterr().err
