"""Node bootstrap command lines and systemd units, the state record, /proc parsing, and the
exec/cluster command lines (no root needed)."""

from __future__ import annotations

import json
import os
import shlex
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest

from knet import cli
from knet.cluster import exec as cluster_exec
from knet.cluster import node_bootstrap as nb
from knet.cluster import procs, state, topology


def config(netns: str | None = "kn-knet-1", **over: Any) -> nb.NodeConfig:
    base: dict[str, Any] = {
        "node_name": "knet-node1",
        "node_ip": IPv4Address("172.30.0.1"),
        "pod_cidr": IPv4Network("10.244.1.0/24"),
        "cluster_cidr": IPv4Network("10.244.0.0/16"),
        "kubeconfig": Path("/st/knet/kubeconfig-nodes"),
        "root_dir": Path("/st/knet/nodes/knet-node1/kubelet"),
        "netns": netns,
        "pod_netns_prefix": "kn-knet-p-",
        "python": "/venv/bin/python",
    }
    base.update(over)
    return nb.NodeConfig(**base)


def flags(argv: list[str]) -> dict[str, str]:
    return {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}


def test_agent_command_lines_carry_the_node_flags() -> None:
    cfg = config()
    argvs = nb.agent_argvs(cfg)
    assert list(argvs) == ["hostgw", "kubelet", "kproxy"]
    kubelet = argvs["kubelet"]
    assert kubelet[:3] == ["/venv/bin/python", "-m", "kubelet_lite"]
    assert flags(kubelet) == {
        "--kubeconfig": "/st/knet/kubeconfig-nodes",
        "--hostname-override": "knet-node1",
        "--node-ip": "172.30.0.1",
        "--pod-cidr": "10.244.1.0/24",
        "--root-dir": "/st/knet/nodes/knet-node1/kubelet",
        "--bridge": "kbr0",
        "--pod-netns-prefix": "kn-knet-p-",
        "--node-netns": "kn-knet-1",
    }
    assert flags(argvs["kproxy"])["--proxy-mode"] == "iptables"
    assert flags(argvs["kproxy"])["--cluster-cidr"] == "10.244.0.0/16"
    assert flags(argvs["hostgw"])["--node-netns"] == "kn-knet-1"
    assert nb.in_node(cfg, kubelet)[:3] == ["nsenter", "--net=/run/netns/kn-knet-1", "--"]
    assert "kproxy" not in nb.agent_argvs(cfg, kproxy=False)


def test_a_real_node_runs_the_same_agents_in_its_own_namespace() -> None:
    cfg = config(netns=None)
    argvs = nb.agent_argvs(cfg)
    assert "--node-netns" not in argvs["kubelet"]
    assert argvs["hostgw"][-1] == "--root-netns"
    assert nb.in_node(cfg, argvs["kubelet"]) == argvs["kubelet"]
    # apart from the namespace, the flags are the ones the namespace cluster uses, and the
    # kubelet API listens on the node IP (in a namespace node it listens inside the namespace)
    ns = {
        k: v for k, v in flags(nb.agent_argvs(config())["kubelet"]).items() if k != "--node-netns"
    }
    assert flags(argvs["kubelet"]) == {**ns, "--address": ns["--node-ip"]}


def test_bad_node_config_is_refused() -> None:
    with pytest.raises(ValueError, match="proxy mode"):
        config(proxy_mode="ipvs")
    with pytest.raises(ValueError, match="not inside"):
        config(pod_cidr=IPv4Network("192.168.0.0/24"))
    with pytest.raises(ValueError):
        config(netns="bad/name")


def test_systemd_units_run_the_exact_argv(tmp_path: Path) -> None:
    cfg = config(netns=None, kubeconfig=Path("/etc/knet/kube config"))
    written = nb.write_units(cfg, tmp_path)
    assert sorted(p.name for p in written) == [
        "knet-hostgw.service",
        "kproxy.service",
        "kubelet-lite.service",
    ]
    unit = (tmp_path / "kubelet-lite.service").read_text()
    exec_line = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    # systemd's quoting is shell-like for these arguments: read it back with shlex.
    argv = shlex.split(exec_line.removeprefix("ExecStart="))
    assert argv == nb.kubelet_argv(cfg)
    # In a VM's own root namespace the kubelet API listens on the node IP, on purpose.
    assert argv[argv.index("--address") + 1] == str(cfg.node_ip)
    assert "KillMode=process" in unit and "WantedBy=multi-user.target" in unit
    assert "KillMode" not in (tmp_path / "kproxy.service").read_text()


def test_systemd_quote_escapes_specifiers_and_variables() -> None:
    assert nb.systemd_quote("--pod-cidr=10.244.1.0/24") == "--pod-cidr=10.244.1.0/24"
    assert nb.systemd_quote("50%") == "50%%"
    assert nb.systemd_quote("$HOME") == '"$$HOME"'
    assert nb.systemd_quote('a "b"') == '"a \\"b\\""'


def test_state_round_trips_and_records_in_order(tmp_path: Path) -> None:
    d = tmp_path / "knet"
    s = state.ClusterState(directory=d, name="knet", nodes=3, proxy_mode="iptables", port=6443)
    s.add_namespace("kn-knet-ul")
    s.add_namespace("kn-knet-ul")  # recorded once
    s.add_link("kn-knet-ul", "ul0")
    s.add_netns_prefix("kn-knet-p-")
    s.add_file(d / "kubeconfig")
    s.set_process(state.ProcessRecord("apiserver", ["x"], "log", pid=10, start_ticks=5))
    s.set_process(state.ProcessRecord("kubelet/n1", ["y"], "log2", pid=11, start_ticks=6))
    s.set_process(state.ProcessRecord("apiserver", ["x"], "log", pid=12, start_ticks=7))
    loaded = state.ClusterState.load(d)
    assert loaded is not None
    assert loaded.to_dict() == s.to_dict()
    assert loaded.namespaces == ["kn-knet-ul"]
    assert [p.role for p in loaded.processes] == ["kubelet/n1", "apiserver"]
    assert loaded.process("apiserver") == state.ProcessRecord("apiserver", ["x"], "log", 12, 7)
    assert loaded.api_url == "http://127.0.0.1:6443"
    assert state.ClusterState.load(tmp_path / "none") is None


def test_corrupt_state_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(state.StateError, match="not a cluster state file"):
        state.ClusterState.load(tmp_path)


def test_state_root_from_flag_env_or_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(state.ENV_VAR, raising=False)
    assert state.state_root() == state.DEFAULT_ROOT
    monkeypatch.setenv(state.ENV_VAR, "/tmp/x")
    assert state.state_root() == Path("/tmp/x")
    assert state.state_root(Path("/srv/y")) == Path("/srv/y")


def test_long_socket_paths_are_refused() -> None:
    with pytest.raises(state.StateError, match="shorter --state-dir"):
        state.check_socket_path(Path("/" + "d" * 120) / "apiserver.sock")


def test_proc_stat_parsing_survives_odd_command_names() -> None:
    fields = " ".join(str(i) for i in range(4, 53))  # fields 4..52
    st = procs.parse_stat(42, f"42 (a) b (c)) S {fields}")
    assert st.state == "S" and st.ppid == 4 and st.start_ticks == 22
    me = procs.read_stat(os.getpid())
    assert me is not None and procs.is_alive(os.getpid(), me.start_ticks)
    assert not procs.is_alive(os.getpid(), me.start_ticks + 1)  # same pid, other process


def test_exec_reads_the_netns_from_the_kubelet_checkpoint(tmp_path: Path) -> None:
    pods = tmp_path / "pods"
    for uid, ns in (("u1", "kn-x-p-aaa"), ("u2", "kn-x-p-bbb")):
        (pods / uid).mkdir(parents=True)
        doc = {"uid": uid, "sandbox": {"netns": ns}}
        (pods / uid / "checkpoint.json").write_text(json.dumps(doc))
    (pods / "broken").mkdir()
    (pods / "broken" / "checkpoint.json").write_text("{")
    assert cluster_exec.checkpoint_netns(tmp_path, "u2") == "kn-x-p-bbb"
    assert cluster_exec.checkpoint_netns(tmp_path, "u3") is None


def test_exec_refuses_unscheduled_pods_and_empty_commands(tmp_path: Path) -> None:
    s = state.ClusterState(directory=tmp_path, name="x", nodes=1, proxy_mode="iptables", port=1)
    pod: dict[str, Any] = {
        "metadata": {"name": "p", "namespace": "default", "uid": "u"},
        "spec": {},
    }
    with pytest.raises(cluster_exec.ExecError, match="not scheduled"):
        cluster_exec.pod_netns(s, pod)
    pod["spec"]["nodeName"] = "elsewhere"
    with pytest.raises(cluster_exec.ExecError, match="not a node of this cluster"):
        cluster_exec.pod_netns(s, pod)
    pod["spec"] = {"nodeName": "x-node1", "hostNetwork": True}
    assert cluster_exec.pod_netns(s, pod) == topology.build("x", 1).nodes[0].netns
    with pytest.raises(cluster_exec.ExecError, match="no command"):
        cluster_exec.exec_argv("x", tmp_path, "default", "p", [])


def test_cli_commands_report_a_missing_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(tmp_path)
    assert cli.main(["cluster", "kubeconfig", "--name", "nope", "--state-dir", root]) == 1
    assert "no cluster named nope" in capsys.readouterr().err
    assert cli.main(["cluster", "status", "--name", "nope", "--state-dir", root]) == 1
    assert "no cluster named nope" in capsys.readouterr().out
    assert cli.main(["exec", "--name", "nope", "--state-dir", root, "pod", "--", "true"]) == 1
    assert "no cluster named nope" in capsys.readouterr().err
    assert cli.main(["cluster", "status", "--name", "Bad-Name", "--state-dir", root]) == 1
    assert "cluster name" in capsys.readouterr().err


def test_preflight_names_what_is_missing() -> None:
    from knet.cluster.up import UpError, preflight

    expected = "must run as root" if os.geteuid() != 0 else "missing nsenter, iptables"
    with pytest.raises(UpError, match=expected):
        preflight(which=lambda tool: None)


def test_up_as_a_normal_user_fails_with_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cli.main(["cluster", "up", "--state-dir", str(tmp_path / "st")]) == 1
    err = capsys.readouterr().err
    assert err == "knet: knet cluster up must run as root (it creates network namespaces)\n"
    assert not (tmp_path / "st").exists()


def test_processes_spawned_in_the_cluster_dir_are_found_by_exact_command_line(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    ours = [sys.executable, "-c", "import time; time.sleep(60)", str(tmp_path / "kubeconfig")]
    bystander = [sys.executable, "-c", "import time; time.sleep(60)"]  # a shell sitting there
    # a sandbox worker names its directories inside a JSON argument
    worker = [sys.executable, "-c", "import time; time.sleep(60)", f'{{"dir": "{tmp_path}/n1"}}']
    started = [subprocess.Popen(argv, cwd=tmp_path) for argv in (ours, bystander, worker)]
    try:
        pid = started[0].pid
        assert procs.pids_spawned_in(tmp_path) == sorted([pid, started[2].pid])
        started[2].kill()
        started[2].wait()
        assert procs.pids_spawned_in(tmp_path) == [pid]
        ticks = procs.start_ticks(pid)
        assert procs.find_started(tmp_path, [["other"], ours]) == (pid, ticks)
        assert procs.find_started(tmp_path, [ours[:-1]]) is None
        assert procs.stop([(pid, ticks)], grace=5) == [pid]
        assert not procs.is_alive(pid, ticks)
        assert procs.pids_spawned_in(tmp_path) == []
    finally:
        for p in started:
            p.kill()
            p.wait()
