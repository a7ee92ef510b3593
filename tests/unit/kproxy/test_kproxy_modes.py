"""The mode registry: every --proxy-mode is built, --cleanup asks every mode, and a mode's full
sync removes the other modes' rules."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kproxy_scenarios import overall

from knet.client.clock import FakeClock
from kproxy.backend.fake import FakeBackend
from kproxy.cleanup import CleanupReport
from kproxy.cli import PROXY_MODES, Options, parse_options
from kproxy.config import ProxyConfig
from kproxy.iptables import mode as iptables_mode
from kproxy.iptables.mode import IPTABLES_RULES
from kproxy.iptables.proxier import IptablesProxier
from kproxy.kernelstate import scan_save
from kproxy.modes import MODES, foreign_rules, get_mode, remove_leftovers, run_cleanup
from kproxy.nftables.mode import NFTABLES_RULES
from kproxy.provider import ModeContext, ProxyMode, ProxyProvider
from kproxy.rules.jumps import CANARY_CHAIN, CANARY_TABLES, JUMP_RULES
from kproxy.rules.parse import join_args
from kproxy.servicemodel import ServicePortInfo, ServicePortName
from kproxy.userspace import mode as userspace_mode
from kproxy.userspace.mode import USERSPACE_RULES
from kproxy.userspace.portals import USERSPACE_JUMPS, Portal, render_portals

FOREIGN = "*nat\n:MY-NAT - [0:0]\n-A POSTROUTING -s 10.99.0.0/16 -j MY-NAT\nCOMMIT\n"
WEB = Portal(
    ServicePortName("default", "web", "http", "TCP"),
    ServicePortInfo("10.96.0.10", 80, "TCP", node_port=30080),
    36001,
)


def _install_iptables_mode(backend: FakeBackend) -> None:
    backend.restore(overall().render().to_restore_text())
    for jump in JUMP_RULES:
        backend.ensure_chain(jump.table, jump.target_chain)
        backend.ensure_rule(jump.position, jump.table, jump.source_chain, jump.args())
    for table in CANARY_TABLES:
        backend.ensure_chain(table, CANARY_CHAIN)


def _install_userspace_mode(backend: FakeBackend) -> None:
    extra: dict[str, list[str]] = {}
    for j in USERSPACE_JUMPS:
        extra.setdefault(j.table, []).append(f"-I {j.source_chain} {join_args(j.args())}")
    backend.restore(render_portals([WEB], extra=extra))


def _kube_chains(backend: FakeBackend) -> dict[str, set[str]]:
    return {
        t: {c for c in scan_save(backend.save(t), t).chains if c.startswith("KUBE-")}
        for t in ("filter", "nat", "mangle")
    }


def test_every_parsable_mode_is_registered() -> None:
    # The CLI accepts exactly the registered modes, so no mode is "not implemented".
    assert set(MODES) == set(PROXY_MODES)
    for name, mode in MODES.items():
        assert mode.name == name and mode.owned is not None


def test_unknown_mode_is_a_readable_error() -> None:
    with pytest.raises(ValueError, match="unknown --proxy-mode 'ipvs'"):
        get_mode("ipvs")


def test_each_mode_is_handed_the_other_modes_rules() -> None:
    assert foreign_rules("iptables") == (USERSPACE_RULES, NFTABLES_RULES)
    assert foreign_rules("userspace") == (IPTABLES_RULES, NFTABLES_RULES)
    assert foreign_rules("nftables") == (IPTABLES_RULES, USERSPACE_RULES)


def test_cleanup_asks_every_mode_and_adds_up_their_reports() -> None:
    asked: list[str] = []

    def mode(name: str, report: CleanupReport) -> ProxyMode:
        async def build(ctx: ModeContext) -> ProxyProvider:
            raise AssertionError("--cleanup builds no provider")

        def cleanup(opts: Options) -> CleanupReport:
            asked.append(name)
            return report

        return ProxyMode(name, build, cleanup)

    modes = {
        "a": mode("a", CleanupReport(2, {"nat": ["KUBE-A"]}, ["nat: stuck"])),
        "b": mode("b", CleanupReport(1, {"nat": ["KUBE-B"], "filter": ["KUBE-C"]})),
    }
    total = run_cleanup(parse_options(["--cleanup"]), modes)
    assert asked == ["a", "b"]
    assert total.jump_rules_removed == 3
    assert total.chains_removed == {"nat": ["KUBE-A", "KUBE-B"], "filter": ["KUBE-C"]}
    assert total.errors == ["nat: stuck"]


def test_cleanup_removes_both_modes_rules_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = FakeBackend()
    backend.restore(FOREIGN)
    _install_iptables_mode(backend)
    _install_userspace_mode(backend)
    for module in (iptables_mode, userspace_mode):
        monkeypatch.setattr(module, "cleanup_backends", lambda opts: [backend])
    # nftables mode's cleanup talks to the kernel of this namespace (the machine's own): not
    # here. Its table removal is tested in a scratch namespace (tests/netns/kproxy).
    iptables_based = {name: MODES[name] for name in ("iptables", "userspace")}
    report = run_cleanup(parse_options(["--cleanup"]), iptables_based)
    assert report.errors == []
    assert report.jump_rules_removed == len(JUMP_RULES) + len(USERSPACE_JUMPS)
    assert _kube_chains(backend) == {"filter": set(), "nat": set(), "mangle": set()}
    after = FakeBackend()
    after.restore(FOREIGN)
    assert backend.save("nat") == after.save("nat")


async def test_iptables_full_sync_removes_the_userspace_modes_rules() -> None:
    backend = FakeBackend()
    _install_userspace_mode(backend)
    config = ProxyConfig("node1", min_sync_period=0.0)
    proxier = IptablesProxier(
        config, backend, clock=FakeClock(100.0), offload=False, foreign=foreign_rules("iptables")
    )
    proxier.on_services_synced()
    proxier.on_endpoint_slices_synced()
    await proxier.sync_proxy_rules()
    assert proxier.last_sync is not None and proxier.last_sync.full
    chains = _kube_chains(backend)
    assert not any(USERSPACE_RULES.owns(t, c) for t, cs in chains.items() for c in cs)
    assert "KUBE-SERVICES" in chains["nat"]


def test_leftovers_of_the_other_modes_are_removed_before_a_mode_starts() -> None:
    calls: list[str] = []

    def leftovers(name: str) -> Callable[[Options], CleanupReport]:
        def remove(_opts: Options) -> CleanupReport:
            calls.append(name)
            report = CleanupReport()
            if name == "b":
                report.errors.append("boom")
            return report

        return remove

    async def build(_ctx: ModeContext) -> ProxyProvider:
        raise AssertionError("not built here")

    def no_cleanup(_opts: Options) -> CleanupReport:
        return CleanupReport()

    modes = {
        n: ProxyMode(n, build, no_cleanup, leftovers=leftovers(n) if n != "c" else None)
        for n in ("a", "b", "c")
    }
    opts = parse_options(["--cleanup"])
    remove_leftovers(opts, "a", modes)  # b's error is logged, not raised
    assert calls == ["b"]
    remove_leftovers(opts, "c", modes)
    assert calls == ["b", "a", "b"]
