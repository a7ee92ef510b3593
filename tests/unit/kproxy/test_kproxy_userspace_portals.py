"""Userspace mode's rules: rendering, reading listener ports back, switching modes."""

from __future__ import annotations

from kproxy.backend.fake import FakeBackend
from kproxy.cleanup import owned_removal_lines, remove_owned
from kproxy.iptables.mode import IPTABLES_RULES
from kproxy.kernelstate import scan_save
from kproxy.rules.jumps import CANARY_CHAIN, CANARY_TABLES, JUMP_RULES
from kproxy.rules.parse import join_args
from kproxy.servicemodel import ServicePortInfo, ServicePortName
from kproxy.userspace.mode import USERSPACE_RULES
from kproxy.userspace.portals import (
    PORTALS_CONTAINER,
    PORTALS_HOLD,
    PORTALS_HOST,
    USERSPACE_JUMPS,
    Portal,
    listen_ports_from_save,
    render_portals,
)

WEB = Portal(
    ServicePortName("default", "web", "http", "TCP"),
    ServicePortInfo("10.96.0.10", 80, "TCP", node_port=30080),
    36001,
)
DNS = Portal(
    ServicePortName("kube-system", "dns", "dns", "UDP"),
    ServicePortInfo("10.96.0.53", 53, "UDP"),
    36002,
)


def _with_jumps() -> str:
    """Both portals rendered with the userspace jumps, as a full sync writes them."""
    extra: dict[str, list[str]] = {}
    for j in USERSPACE_JUMPS:
        extra.setdefault(j.table, []).append(f"-I {j.source_chain} {join_args(j.args())}")
    return render_portals([WEB, DNS], extra=extra)


def test_render_redirects_cluster_ip_and_node_port_from_both_chains() -> None:
    text = render_portals([WEB, DNS])
    lines = text.splitlines()
    web_vip = (
        "-d 10.96.0.10/32 -p tcp -m comment --comment default/web:http -m tcp --dport 80 "
        "-j REDIRECT --to-ports 36001"
    )
    web_np = (
        "-p tcp -m comment --comment default/web:http -m addrtype --dst-type LOCAL "
        "-m tcp --dport 30080 -j REDIRECT --to-ports 36001"
    )
    for chain in (PORTALS_CONTAINER, PORTALS_HOST):
        assert f"-A {chain} {web_vip}" in lines
        assert f"-A {chain} {web_np}" in lines
        assert any(
            line.startswith(f"-A {chain} -d 10.96.0.53/32 -p udp") and "36002" in line
            for line in lines
        )
    # The hold chain is declared (flushed) but empty while running.
    assert f":{PORTALS_HOLD} - [0:0]" in lines
    assert not any(line.startswith(f"-A {PORTALS_HOLD}") for line in lines)


def test_hold_drops_new_connections_to_every_listener() -> None:
    lines = render_portals([WEB, DNS], hold=True).splitlines()
    hold = [line for line in lines if line.startswith(f"-A {PORTALS_HOLD}")]
    assert hold == [
        f"-A {PORTALS_HOLD} -p tcp -m tcp --dport 36001 --tcp-flags FIN,SYN,RST,ACK SYN -j DROP",
        f"-A {PORTALS_HOLD} -p udp -m udp --dport 36002 -j DROP",
    ]


def test_rendered_rules_apply_and_ports_read_back_from_save() -> None:
    backend = FakeBackend()
    backend.restore(_with_jumps())
    nat = backend.save("nat")
    assert listen_ports_from_save(nat) == {
        ("default/web:http", "TCP"): 36001,
        ("kube-system/dns:dns", "UDP"): 36002,
    }
    # Rewriting with one portal fewer removes the other's rules.
    backend.restore(render_portals([WEB]))
    assert listen_ports_from_save(backend.save("nat")) == {("default/web:http", "TCP"): 36001}


def _install_iptables_mode(backend: FakeBackend) -> None:
    backend.restore("*nat\n:KUBE-SVC-ABC - [0:0]\n-A KUBE-SVC-ABC -j ACCEPT\nCOMMIT\n")
    for jump in JUMP_RULES:
        backend.ensure_chain(jump.table, jump.target_chain)
        backend.ensure_rule(jump.position, jump.table, jump.source_chain, jump.args())
    backend.restore("*nat\n-A KUBE-SERVICES -j KUBE-SVC-ABC\nCOMMIT\n")
    for table in CANARY_TABLES:
        backend.ensure_chain(table, CANARY_CHAIN)


def _kube_chains(backend: FakeBackend, table: str) -> set[str]:
    return {c for c in scan_save(backend.save(table), table).chains if c.startswith("KUBE-")}


def test_userspace_full_sync_removes_iptables_mode_rules_in_its_restore() -> None:
    backend = FakeBackend()
    backend.restore("*nat\n:MINE - [0:0]\n-A PREROUTING -j MINE\nCOMMIT\n")
    _install_iptables_mode(backend)
    extra = {
        t: owned_removal_lines(scan_save(backend.save(t), t), IPTABLES_RULES)
        for t in ("filter", "nat", "mangle")
    }
    backend.restore(render_portals([WEB], extra=extra))
    assert _kube_chains(backend, "nat") == {PORTALS_CONTAINER, PORTALS_HOST}
    assert _kube_chains(backend, "filter") == {PORTALS_HOLD}
    assert _kube_chains(backend, "mangle") == set()
    assert "-A PREROUTING -j MINE" in backend.save("nat")


def test_iptables_mode_removal_of_userspace_rules_and_cleanup() -> None:
    backend = FakeBackend()
    backend.restore(_with_jumps())
    lines = {
        t: owned_removal_lines(scan_save(backend.save(t), t), USERSPACE_RULES)
        for t in ("filter", "nat")
    }
    assert lines["nat"][:2] == [
        f"-D {j.source_chain} {join_args(j.args())}" for j in USERSPACE_JUMPS if j.table == "nat"
    ]
    for table, body in lines.items():
        backend.restore("\n".join([f"*{table}", *body, "COMMIT", ""]))
    assert _kube_chains(backend, "nat") == set() and _kube_chains(backend, "filter") == set()
    # --cleanup removes userspace mode's rules too.
    backend.restore(_with_jumps())
    report = remove_owned(backend, USERSPACE_RULES)
    assert report.errors == []
    assert report.jump_rules_removed == len(USERSPACE_JUMPS)
    assert _kube_chains(backend, "nat") == set() and _kube_chains(backend, "filter") == set()
