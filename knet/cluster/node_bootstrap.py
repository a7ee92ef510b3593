"""One node's set-up and its agents' command lines, shared by the namespace cluster and the VMs.

The local cluster calls ``prepare`` with a node namespace and runs the argvs inside it (nsenter);
a Vagrant VM runs ``knet node bootstrap --root-netns ...``, which calls the same ``prepare`` on
the VM's own namespace and writes systemd units whose ExecStart lines are the same argvs. So the
path tested here is the path the VMs take.

``prepare``: ip_forward=1 and bridge-nf-call-iptables=1, loopback up, the pod bridge. The
agents: kubelet-lite (pods), kproxy (Services) and ``knet hostgw`` (routes to the other nodes'
podCIDRs, masquerade of traffic leaving the cluster CIDR).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from knet.netlink import links, names, sysctl
from knet.netlink.exec import netns_argv
from knet.netlink.session import open_session

PROXY_MODES = ("iptables", "userspace", "nftables")
HOST_SYSCTLS = {sysctl.IP_FORWARD: 1, sysctl.BRIDGE_NF_CALL_IPTABLES: 1}


@dataclass(frozen=True, kw_only=True)
class NodeConfig:
    """Everything that differs between nodes (and between the two kinds of cluster)."""

    node_name: str
    node_ip: IPv4Address
    pod_cidr: IPv4Network
    cluster_cidr: IPv4Network
    kubeconfig: Path  # the agents' kubeconfig
    root_dir: Path  # kubelet-lite's --root-dir
    netns: str | None  # the node's namespace; None: this process's (a real node)
    bridge: str = "kbr0"
    proxy_mode: str = "iptables"
    pod_netns_prefix: str = "kl-"
    python: str = sys.executable  # the interpreter that has knet installed

    def __post_init__(self) -> None:
        if self.proxy_mode not in PROXY_MODES:
            raise ValueError(f"proxy mode {self.proxy_mode!r} is not one of {PROXY_MODES}")
        if not self.pod_cidr.subnet_of(self.cluster_cidr):
            raise ValueError(f"pod CIDR {self.pod_cidr} is not inside {self.cluster_cidr}")
        names.validate_ifname(self.bridge)
        if self.netns is not None:
            names.validate_netns_name(self.netns)


def module_available(module: str) -> bool:
    """``python -m module`` would run (its package has a __main__.py), checked without
    importing it: knet starts kubelet-lite and kproxy as programs, it never imports them."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return False
    return any((Path(p) / "__main__.py").exists() for p in spec.submodule_search_locations)


def kubelet_argv(cfg: NodeConfig) -> list[str]:
    argv = [
        cfg.python,
        "-m",
        "kubelet_lite",
        "--kubeconfig",
        str(cfg.kubeconfig),
        "--hostname-override",
        cfg.node_name,
        "--node-ip",
        str(cfg.node_ip),
        "--pod-cidr",
        str(cfg.pod_cidr),
        "--root-dir",
        str(cfg.root_dir),
        "--bridge",
        cfg.bridge,
        "--pod-netns-prefix",
        cfg.pod_netns_prefix,
    ]
    if cfg.netns is not None:
        argv += ["--node-netns", cfg.netns]
    else:  # a VM or machine: its own root namespace, where the API listens on the node IP
        argv += ["--address", str(cfg.node_ip)]
    return argv


def kproxy_argv(cfg: NodeConfig) -> list[str]:
    return [
        cfg.python,
        "-m",
        "kproxy",
        "--kubeconfig",
        str(cfg.kubeconfig),
        "--hostname-override",
        cfg.node_name,
        "--node-ip",
        str(cfg.node_ip),
        "--proxy-mode",
        cfg.proxy_mode,
        "--cluster-cidr",
        str(cfg.cluster_cidr),
    ]


def hostgw_argv(cfg: NodeConfig) -> list[str]:
    argv = [
        cfg.python,
        "-m",
        "knet.cli",
        "hostgw",
        "--kubeconfig",
        str(cfg.kubeconfig),
        "--node-name",
        cfg.node_name,
        "--cluster-cidr",
        str(cfg.cluster_cidr),
    ]
    argv += ["--node-netns", cfg.netns] if cfg.netns is not None else ["--root-netns"]
    return argv


def agent_argvs(cfg: NodeConfig, *, kproxy: bool = True) -> dict[str, list[str]]:
    """The node's agents, in start order: role -> argv (as run in the node's namespace)."""
    out = {"hostgw": hostgw_argv(cfg), "kubelet": kubelet_argv(cfg)}
    if kproxy:
        out["kproxy"] = kproxy_argv(cfg)
    return out


def in_node(cfg: NodeConfig, argv: Sequence[str]) -> list[str]:
    """``argv`` run inside the node's namespace (unchanged on a real node)."""
    return netns_argv(cfg.netns, argv) if cfg.netns is not None else list(argv)


# ---------------------------------------------------------------------------- set-up


def _write_own_sysctls() -> None:
    # Only for a real node (a VM): its own namespace is the node's. Never called for the local
    # cluster, whose nodes are named namespaces.
    for key, value in HOST_SYSCTLS.items():
        with open(sysctl.key_path(key), "w") as f:
            f.write(str(value))


def prepare(cfg: NodeConfig) -> None:
    """Sysctls, loopback and the pod bridge in the node's namespace (idempotent).

    kubelet-lite puts the gateway address on the bridge once it knows the podCIDR; making the
    bridge here too means the node's forwarding is in place before the first pod.
    """
    if cfg.netns is None:
        _write_own_sysctls()
    else:
        sysctl.write(cfg.netns, HOST_SYSCTLS)
    with open_session(cfg.netns) as s:
        links.set_up(s, "lo")
        links.ensure_bridge(s, cfg.bridge)


# ---------------------------------------------------------------------------- systemd

_SAFE_ARG = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


def systemd_quote(arg: str) -> str:
    """One ExecStart argument: systemd expands % specifiers and $ variables, so escape them."""
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if _SAFE_ARG.fullmatch(escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


UNIT_NAMES = {"hostgw": "knet-hostgw", "kubelet": "kubelet-lite", "kproxy": "kproxy"}


def render_unit(role: str, argv: Sequence[str], node_name: str) -> str:
    """A systemd service running one agent with exactly ``argv``."""
    # kubelet-lite's containers outlive a kubelet restart (it adopts them), as upstream's do.
    kill_mode = "KillMode=process\n" if role == "kubelet" else ""
    return (
        "[Unit]\n"
        f"Description=knet {role} on node {node_name}\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n"
        "\n"
        "[Service]\n"
        f"ExecStart={' '.join(systemd_quote(a) for a in argv)}\n"
        "Environment=PYTHONUNBUFFERED=1\n"
        "Restart=always\n"
        "RestartSec=2\n"
        f"{kill_mode}"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def write_units(cfg: NodeConfig, directory: Path, *, kproxy: bool = True) -> list[Path]:
    """Write one unit per agent into ``directory`` (e.g. /etc/systemd/system)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for role, argv in agent_argvs(cfg, kproxy=kproxy).items():
        path = directory / f"{UNIT_NAMES[role]}.service"
        path.write_text(render_unit(role, in_node(cfg, argv), cfg.node_name))
        written.append(path)
    return written
