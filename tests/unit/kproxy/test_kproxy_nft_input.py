"""What RestoreBackend feeds iptables-nft-restore: ``nft_restore_input`` and when it applies.

(The real kernel's view of the same is in tests/netns/kproxy/test_kproxy_nft_all_chains_netns.)
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

import pytest
from kproxy_scenarios import overall

from kproxy.backend.restore import NFT_ALL_CHAINS_MIN_DECLARED, RestoreBackend, nft_restore_input


class Runner:
    def __init__(self) -> None:
        self.stdins: list[str | None] = []

    def __call__(
        self, argv: Sequence[str], stdin: str | None, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        self.stdins.append(stdin)
        return subprocess.CompletedProcess(list(argv), 0, "", "")


def text_with(filter_chains: int, nat_chains: int, *, jump_from: str | None = None) -> str:
    lines = ["*filter"]
    lines += [f":KUBE-F{i} - [0:0]" for i in range(filter_chains)]
    lines += ["COMMIT", "*nat"]
    lines += [f":KUBE-N{i} - [0:0]" for i in range(nat_chains)]
    lines += [f"-A KUBE-N{i} -j KUBE-N{i + 1}" for i in range(nat_chains - 1)]
    if jump_from:
        lines.append(f'-I {jump_from} -m comment --comment "portals" -j KUBE-N0')
    lines += ["COMMIT", ""]
    return "\n".join(lines)


def test_list_command_goes_first_only_in_tables_that_declare_enough_chains() -> None:
    text = text_with(2, 5)
    got = nft_restore_input(text, min_declared=3)
    assert got == text.replace("*nat\n", "*nat\n-S\n")
    assert nft_restore_input(text, min_declared=6) == text
    assert nft_restore_input(text, min_declared=2).count("\n-S\n") == 2
    assert nft_restore_input("", min_declared=0) == ""


def test_built_in_chains_the_rules_use_are_declared_before_the_listing() -> None:
    text = text_with(0, 4, jump_from="OUTPUT") + "*nat\n-A POSTROUTING -j KUBE-N0\nCOMMIT\n"
    got = nft_restore_input(text, min_declared=3)
    head = got.split("\n")[:5]
    assert head == ["*filter", "COMMIT", "*nat", ":OUTPUT - [0:0]", "-S"]
    # The second nat block declares no chains: left as it is.
    assert got.endswith("*nat\n-A POSTROUTING -j KUBE-N0\nCOMMIT\n")


def test_only_the_listing_and_built_in_declarations_are_added() -> None:
    text = overall().render().to_restore_text(extra={"nat": ["-I OUTPUT -j KUBE-SERVICES"]})
    got = nft_restore_input(text, min_declared=1)
    added = [line for line in got.split("\n") if line not in text.split("\n")]
    assert added == ["-S", ":OUTPUT - [0:0]", "-S"]  # filter, then nat
    assert [line for line in got.split("\n") if line not in added] == text.split("\n")


def test_nft_backend_applies_it_under_noflush_only() -> None:
    big = text_with(0, NFT_ALL_CHAINS_MIN_DECLARED)
    runner = Runner()
    nft = RestoreBackend("nft", runner=runner)
    nft.restore(big)
    nft.restore(big, noflush=False)  # the table flush already fetches whole tables
    nft.restore(text_with(0, 3))
    assert runner.stdins == [nft_restore_input(big), big, text_with(0, 3)]
    assert "\n-S\n" in (runner.stdins[0] or "")


def test_legacy_backend_feeds_the_text_unchanged() -> None:
    big = text_with(0, NFT_ALL_CHAINS_MIN_DECLARED)
    runner = Runner()
    RestoreBackend("legacy", runner=runner).restore(big)
    assert runner.stdins == [big]


@pytest.mark.parametrize("threshold", [1, 10**9])
def test_threshold_is_a_backend_setting(threshold: int) -> None:
    runner = Runner()
    text = text_with(0, 2)
    RestoreBackend("nft", runner=runner, nft_all_chains_min_declared=threshold).restore(text)
    assert ("\n-S\n" in (runner.stdins[0] or "")) == (threshold == 1)
