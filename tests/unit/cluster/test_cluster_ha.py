"""The HA control plane's pure parts: layout, member command lines, haproxy's config, etcdctl's
status parsing, the control-plane count rule."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from knet.cluster import etcdmembers, ha, loadbalancer
from knet.cluster.etcdmembers import Member, Pki
from knet.cluster.up import UpError

MEMBERS = tuple(Member(i, f"c-etcd-{i}", 2000 + i, 3000 + i, 4000 + i) for i in range(3))


@pytest.mark.parametrize("n", [1, 3, 5, 7])
def test_odd_counts_are_accepted(n: int) -> None:
    ha.check_count(n)


@pytest.mark.parametrize("n", [0, 2, 4, 9, -1])
def test_even_or_out_of_range_counts_are_refused(n: int) -> None:
    with pytest.raises(UpError, match="odd number"):
        ha.check_count(n)


def test_layout_round_trips_and_has_distinct_ports() -> None:
    layout = ha.plan("c", 3)
    assert ha.HaLayout.from_dict(json.loads(json.dumps(layout.to_dict()))) == layout
    ports = [p for m in layout.members for p in (m.client_port, m.peer_port, m.metrics_port)]
    ports += list(layout.apiserver_ports)
    assert len(set(ports)) == len(ports) == 12


def test_cluster_keeps_its_number_of_control_planes(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{}")
    ha.check_mode(tmp_path, 1)
    with pytest.raises(UpError, match="1 control plane"):
        ha.check_mode(tmp_path, 3)
    ha.layout_path(tmp_path).write_text(json.dumps(ha.plan("c", 3).to_dict()))
    ha.check_mode(tmp_path, 3)
    with pytest.raises(UpError, match="3 control plane"):
        ha.check_mode(tmp_path, 1)


def test_member_argv_uses_tls_everywhere_and_lists_every_peer(tmp_path: Path) -> None:
    argv = etcdmembers.member_argv(MEMBERS[1], MEMBERS, Pki(tmp_path), tmp_path / "d", "tok")
    flags = dict(a.split("=", 1) for a in argv[1:] if "=" in a)
    assert flags["--listen-client-urls"] == "https://127.0.0.1:2001"
    assert flags["--listen-peer-urls"] == "https://127.0.0.1:3001"
    assert flags["--initial-cluster"] == (
        "c-etcd-0=https://127.0.0.1:3000,c-etcd-1=https://127.0.0.1:3001,"
        "c-etcd-2=https://127.0.0.1:3002"
    )
    assert "--client-cert-auth" in argv and "--peer-client-cert-auth" in argv
    assert flags["--peer-trusted-ca-file"] == str(tmp_path / "etcd-ca.crt")
    # Only loopback listeners.
    assert all("127.0.0.1" in v for k, v in flags.items() if k.startswith("--listen"))


def test_pki_is_made_once(tmp_path: Path) -> None:
    where = Pki(tmp_path)
    etcdmembers.ensure_pki(where, MEMBERS)
    first = where.member("c-etcd-0").cert.read_bytes()
    etcdmembers.ensure_pki(where, MEMBERS)
    assert where.member("c-etcd-0").cert.read_bytes() == first
    assert where.client.key.exists() and where.ca.cert.exists()


def test_endpoint_status_marks_leader_and_unreachable_members() -> None:
    text = json.dumps(
        [
            {
                "Endpoint": MEMBERS[0].client_url,
                "Status": {
                    "header": {"member_id": 11, "revision": 40, "raft_term": 3},
                    "leader": 12,
                    "raftTerm": 3,
                    "dbSize": 4096,
                },
            },
            {
                "Endpoint": MEMBERS[1].client_url,
                "Status": {"header": {"member_id": 12, "revision": 40}, "leader": 12},
            },
        ]
    )
    st = etcdmembers.parse_endpoint_status(MEMBERS, text)
    assert [(s.reachable, s.is_leader) for s in st] == [(True, False), (True, True), (False, False)]
    assert st[0].revision == 40 and st[0].raft_term == 3 and st[0].db_size == 4096


def test_haproxy_config_checks_readyz_and_binds_loopback_and_the_socket(tmp_path: Path) -> None:
    binds = loadbalancer.local_binds(6443, tmp_path / "api.sock")
    text = loadbalancer.config(binds, [("a0", "127.0.0.1:7000"), ("a1", "127.0.0.1:7001")])
    assert "bind 127.0.0.1:6443" in text
    assert f"bind unix@{tmp_path / 'api.sock'}" in text
    assert "http-check send meth GET uri /readyz" in text
    assert "server a1 127.0.0.1:7001 check" in text
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    done = subprocess.run(loadbalancer.check_argv(cfg), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_unset_count_keeps_what_the_cluster_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    monkeypatch.setattr(ha, "up_cluster", lambda opts, out, **kw: seen.append(opts.control_planes))
    opts = ha.UpOptions(name="c", state_root=tmp_path, control_planes=0)
    ha.up(opts)  # a new cluster: 1
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "state.json").write_text("{}")
    ha.layout_path(tmp_path / "c").write_text(json.dumps(ha.plan("c", 3).to_dict()))
    ha.up(opts)  # recorded: 3
    assert seen == [1, 3]


def test_missing_tools_are_named_with_their_packages() -> None:
    with pytest.raises(UpError, match=r"needs etcd, haproxy: apt-get install etcd-server haproxy"):
        ha.check_tools(lambda tool: "/usr/bin/etcdctl" if tool == "etcdctl" else None)
    ha.check_tools(lambda tool: f"/usr/bin/{tool}")


def test_status_rows_show_leader_and_unreachable_members(tmp_path: Path) -> None:
    from knet.cluster.etcdmembers import MemberStatus
    from knet.cluster.ha_status import member_row
    from knet.cluster.state import ClusterState

    state = ClusterState(directory=tmp_path, name="c", nodes=1, proxy_mode="iptables", port=1)
    row, ok = member_row(state, MemberStatus(MEMBERS[0], True, True, 3, 40, 2048))
    assert "leader" in row and "rev 40" in row and not ok  # no process recorded: not healthy
    row, ok = member_row(state, MemberStatus(MEMBERS[1], reachable=False))
    assert "unreachable" in row and not ok


def test_provision_members_are_named_pairs(capsys: pytest.CaptureFixture[str]) -> None:
    from knet.cluster import ha_provision

    ms = ha_provision.members(["a=10.0.0.1", "b=10.0.0.2"])
    assert [m.client_url for m in ms] == ["https://10.0.0.1:2379", "https://10.0.0.2:2379"]
    with pytest.raises(ValueError, match="NAME=IP"):
        ha_provision.members(["a"])
    with pytest.raises(ValueError, match="differ"):
        ha_provision.members(["a=1.1.1.1", "a=1.1.1.2"])
    assert ha_provision.main(["haproxy-config", "--bind", "0.0.0.0:6443", "bad"]) == 1
    assert "NAME=HOST:PORT" in capsys.readouterr().err
