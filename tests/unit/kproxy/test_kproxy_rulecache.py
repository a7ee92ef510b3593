"""The per-service rule cache assembles exactly what render() produces."""

from __future__ import annotations

from dataclasses import replace

from kproxy_scenarios import CONFIG, Scenario, ep, overall, spn

from kproxy.iptables.render import is_large_cluster, render
from kproxy.iptables.rulecache import RuleCache
from kproxy.servicemodel import ServicePortInfo


def _cache(s: Scenario) -> RuleCache:
    cache = RuleCache(s.config)
    cache.rebuild(s.services, s.endpoints, is_large_cluster(s.services, s.endpoints))
    return cache


def test_assembled_rule_set_equals_render_for_every_kind_of_service() -> None:
    s = overall()
    assert _cache(s).ruleset().to_restore_text() == s.render().to_restore_text()


def test_masquerade_all_and_nodeport_addresses_config() -> None:
    s = overall()
    s.config = replace(CONFIG, masquerade_all=True, nodeport_addresses=("192.168.0.0/24",))
    assert _cache(s).ruleset().to_restore_text() == s.render().to_restore_text()


def test_large_cluster_mode_matches_render() -> None:
    s = Scenario()
    for i in range(60):
        eps = [ep(f"10.180.{i}.{j}") for j in range(1, 21)]
        s.add(spn("ns", f"svc{i:02d}"), ServicePortInfo(f"172.30.1.{i + 1}", 80), eps)
    assert is_large_cluster(s.services, s.endpoints)
    assert _cache(s).ruleset().to_restore_text() == s.render().to_restore_text()


def test_refresh_after_changes_equals_a_fresh_render() -> None:
    s = overall()
    cache = _cache(s)
    svc1, svc6 = spn("ns1", "svc1"), spn("ns6", "svc6")
    s.endpoints[svc1] = [ep("10.180.0.1"), ep("10.180.0.9")]
    s.endpoints[svc6] = [ep("10.180.0.6")]
    del s.services[spn("ns3", "svc3")]
    new = spn("ns0", "new")
    s.add(new, ServicePortInfo("172.30.0.40", 81), [ep("10.180.0.40")])
    cache.refresh(s.services, s.endpoints, [svc1, svc6, spn("ns3", "svc3"), new])
    assert (
        cache.ruleset().to_restore_text()
        == render(s.services, s.endpoints, s.config).to_restore_text()
    )


def test_partial_rule_set_has_all_top_level_rules_but_only_chosen_service_chains() -> None:
    s = overall()
    cache = _cache(s)
    svc1 = spn("ns1", "svc1")
    full = cache.ruleset()
    part = cache.ruleset(only={svc1})
    owned = {c for t in part.tables for c in part.chains(t) if c.startswith("KUBE-S")}
    owned -= {"KUBE-SERVICES"}
    assert owned == cache.chains_of([svc1])
    assert part.rules("nat", "KUBE-SERVICES") == full.rules("nat", "KUBE-SERVICES")
    assert part.rules("filter", "KUBE-SERVICES") == full.rules("filter", "KUBE-SERVICES")


def test_rule_counts_track_fragments() -> None:
    s = overall()
    cache = _cache(s)
    rs = s.render()
    assert cache.rule_counts() == {t: rs.rule_count(t) for t in rs.tables}
    del s.services[spn("ns1", "svc1")]
    cache.refresh(s.services, s.endpoints, [spn("ns1", "svc1")])
    rs = s.render()
    assert cache.rule_counts() == {t: rs.rule_count(t) for t in rs.tables}
    assert cache.names_of([("ns1", "svc1")]) == set()
