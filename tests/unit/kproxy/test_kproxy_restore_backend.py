"""RestoreBackend without the kernel: argv it builds, errors it reports, variant choice."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from kproxy.backend.base import BackendError, RulesBackend
from kproxy.backend.restore import RestoreBackend, check_netns, choose_variant, parse_version


@dataclass
class Reply:
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""


@dataclass
class FakeRunner:
    """Records argv/stdin and answers from a queue (default: success)."""

    replies: list[Reply] = field(default_factory=list)
    calls: list[tuple[list[str], str | None]] = field(default_factory=list)

    def __call__(
        self, argv: Sequence[str], stdin: str | None, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        self.calls.append((list(argv), stdin))
        reply = self.replies.pop(0) if self.replies else Reply()
        return subprocess.CompletedProcess(list(argv), reply.returncode, reply.stdout, reply.stderr)


def test_is_a_rules_backend() -> None:
    assert isinstance(RestoreBackend("nft", runner=FakeRunner()), RulesBackend)


def test_restore_argv_and_stdin() -> None:
    runner = FakeRunner()
    backend = RestoreBackend("legacy", netns="kt-abc", runner=runner)
    backend.restore("*nat\nCOMMIT\n", counters=True)
    argv, stdin = runner.calls[0]
    assert argv == [
        "nsenter",
        "--net=/run/netns/kt-abc",
        "--",
        "iptables-legacy-restore",
        "-w",
        "--noflush",
        "--counters",
    ]
    assert stdin == "*nat\nCOMMIT\n"
    assert backend.name == "iptables-legacy"
    backend.restore("*nat\nCOMMIT\n", noflush=False)
    assert runner.calls[1][0][3:] == ["iptables-legacy-restore", "-w"]


def test_restore_error_carries_iptables_message_and_line() -> None:
    stderr = (
        "iptables-restore v1.8.9 (nf_tables): Chain 'KUBE-NOPE' does not exist\n"
        "Error occurred at line: 3\nTry `iptables-restore -h' for more information.\n"
    )
    runner = FakeRunner([Reply(2, stderr=stderr)])
    backend = RestoreBackend("nft", runner=runner)
    text = "*nat\n:KUBE-X - [0:0]\n-A KUBE-X -j KUBE-NOPE\nCOMMIT\n"
    with pytest.raises(BackendError) as err:
        backend.restore(text)
    assert err.value.line == 3
    assert "Chain 'KUBE-NOPE' does not exist" in str(err.value)
    assert "-A KUBE-X -j KUBE-NOPE" in str(err.value)
    assert err.value.detail == stderr


def test_save_and_chain_commands() -> None:
    runner = FakeRunner(
        [
            Reply(stdout="*nat\nCOMMIT\n"),
            Reply(1, stderr="iptables: Chain already exists.\n"),
            Reply(1, stderr="iptables: Bad rule (does a matching rule exist in that chain?).\n"),
            Reply(0),
            Reply(1, stderr="iptables: No chain/target/match by that name.\n"),
        ]
    )
    backend = RestoreBackend("nft", runner=runner)
    assert backend.save("nat") == "*nat\nCOMMIT\n"
    assert backend.ensure_chain("nat", "KUBE-SERVICES") is True
    assert backend.ensure_rule("-I", "nat", "PREROUTING", ["-j", "KUBE-SERVICES"]) is False
    assert backend.delete_chain("nat", "KUBE-GONE") is False
    argvs = [call[0] for call in runner.calls]
    assert argvs == [
        ["iptables-nft-save", "-t", "nat"],
        ["iptables-nft", "-w", "-t", "nat", "-N", "KUBE-SERVICES"],
        ["iptables-nft", "-w", "-t", "nat", "-C", "PREROUTING", "-j", "KUBE-SERVICES"],
        ["iptables-nft", "-w", "-t", "nat", "-I", "PREROUTING", "-j", "KUBE-SERVICES"],
        ["iptables-nft", "-w", "-t", "nat", "-X", "KUBE-GONE"],
    ]


def test_unexpected_command_failure_raises() -> None:
    runner = FakeRunner([Reply(4, stderr="Another app is currently holding the xtables lock.\n")])
    with pytest.raises(BackendError, match="xtables lock"):
        RestoreBackend("legacy", runner=runner).ensure_chain("nat", "KUBE-X")


def test_random_fully_from_version() -> None:
    new = FakeRunner([Reply(stdout="iptables v1.8.9 (legacy)\n")])
    assert RestoreBackend("legacy", runner=new).has_random_fully() is True
    old = FakeRunner([Reply(stdout="iptables v1.6.1\n")])
    assert RestoreBackend("legacy", runner=old).has_random_fully() is False
    assert parse_version("iptables v1.6.2") == (1, 6, 2)
    with pytest.raises(BackendError):
        parse_version("no version here")


@pytest.mark.parametrize(
    ("legacy", "nft", "expected"),
    [
        pytest.param("", "", "nft", id="empty-both-nft"),
        pytest.param("-A X\n-A Y\n", "-A Z\n", "legacy", id="more-legacy-rules"),
        pytest.param("-A X\n", "-A Y\n", "nft", id="tie-nft"),
        pytest.param(
            "-A X\n" * 50, "*mangle\n:KUBE-IPTABLES-HINT - [0:0]\n", "nft", id="nft-hint-wins"
        ),
        pytest.param(
            "*mangle\n:KUBE-KUBELET-CANARY - [0:0]\n", "-A X\n" * 5, "legacy", id="legacy-hint"
        ),
    ],
)
def test_choose_variant(legacy: str, nft: str, expected: str) -> None:
    assert choose_variant(legacy, nft) == expected


def test_auto_detection_runs_both_saves() -> None:
    runner = FakeRunner([Reply(stdout="-A X\n-A Y\n"), Reply(stdout="")])
    backend = RestoreBackend("auto", netns="kt-x", runner=runner)
    assert backend.variant == "legacy"
    assert [c[0][3] for c in runner.calls] == ["iptables-legacy-save", "iptables-nft-save"]


@pytest.mark.parametrize("bad", ["", "..", "a/b", "x y", "../etc"])
def test_netns_names_are_checked(bad: str) -> None:
    with pytest.raises(ValueError):
        check_netns(bad)
    with pytest.raises(ValueError):
        RestoreBackend("legacy", netns=bad, runner=FakeRunner([]))


def test_bad_variant() -> None:
    with pytest.raises(ValueError):
        RestoreBackend("iptables", runner=FakeRunner())  # type: ignore[arg-type]
