"""The ``knet cluster``, ``knet exec``, ``knet hostgw`` and ``knet node`` commands."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from knet.cluster import hostgw, node_bootstrap, topology
from knet.cluster.state import ENV_VAR, StateError, cluster_dir, state_root


def _err(msg: str) -> None:
    print(f"knet: {msg}", file=sys.stderr)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--name", default=topology.DEFAULT_NAME, help="cluster name (default: %(default)s)"
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help=f"where clusters are recorded (default: ${ENV_VAR} or /var/lib/knet/clusters)",
    )


# ---------------------------------------------------------------------------- cluster


def _up(args: argparse.Namespace) -> int:
    from knet.cluster.ha import up
    from knet.cluster.up import UpError, UpOptions

    opts = UpOptions(
        name=args.name,
        nodes=args.nodes,
        proxy_mode=args.proxy_mode,
        state_root=state_root(args.state_dir),
        port=args.port,
        timeout=args.timeout,
        control_planes=args.control_planes,
    )
    try:
        up(opts)
    except (UpError, StateError, topology.TopologyError) as e:
        _err(str(e))
        return 1
    return 0


def _down(args: argparse.Namespace) -> int:
    from knet.cluster.down import down

    try:
        report = down(args.name, state_root(args.state_dir))
    except topology.TopologyError as e:
        _err(str(e))
        return 1
    return 1 if report.problems else 0


def _status(args: argparse.Namespace) -> int:
    from knet.cluster.status import status

    try:
        return status(args.name, state_root(args.state_dir))
    except (StateError, topology.TopologyError) as e:
        _err(str(e))
        return 1


def _kubeconfig(args: argparse.Namespace) -> int:
    from knet.cluster.state import ClusterState

    try:
        state = ClusterState.load(cluster_dir(state_root(args.state_dir), args.name))
    except (StateError, topology.TopologyError) as e:
        _err(str(e))
        return 1
    if state is None or not state.kubeconfig_path.exists():
        _err(f"no cluster named {args.name} (run: knet cluster up --name {args.name})")
        return 1
    print(state.kubeconfig_path)
    return 0


def add_cluster_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "cluster",
        help="a local multi-node cluster, each node a network namespace",
        description="A local cluster: each node a network namespace with kubelet-lite, kproxy "
        "and a host-gw route agent; the control plane on 127.0.0.1 (needs root).",
    )
    csub = p.add_subparsers(dest="cluster_command", required=True)

    up = csub.add_parser("up", help="create the cluster, or finish creating it")
    _common(up)
    up.add_argument("--nodes", type=int, default=3, help="number of nodes (default: 3)")
    up.add_argument(
        "--proxy-mode", choices=node_bootstrap.PROXY_MODES, default="iptables", help="for kproxy"
    )
    up.add_argument("--port", type=int, default=0, help="API server port (default: a free one)")
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for Ready nodes")
    up.add_argument(
        "--control-planes",
        type=int,
        default=0,
        help="1: one API server on SQLite (default for a new cluster); 3 (or 5, 7): etcd "
        "members, API servers, leader-elected controllers and schedulers behind haproxy "
        "(docs/etcd.md); unset: as the cluster was made",
    )
    up.set_defaults(func=_up)

    down = csub.add_parser("down", help="remove everything the cluster made")
    _common(down)
    down.set_defaults(func=_down)

    st = csub.add_parser("status", help="nodes, namespaces and components (alive or not)")
    _common(st)
    st.set_defaults(func=_status)

    kc = csub.add_parser("kubeconfig", help="print the path of the cluster's kubeconfig")
    _common(kc)
    kc.set_defaults(func=_kubeconfig)


# ---------------------------------------------------------------------------- exec

EXEC_EPILOG = textwrap.dedent(
    """\
    The command runs in the pod's network namespace with this machine's files and tools.
    There is no cluster DNS: a Service's name (http://web/) does not resolve. Use its
    ClusterIP instead, e.g.

        knet exec client -- curl -s http://$(kubectl get svc web -o jsonpath='{.spec.clusterIP}')/
        knet exec -n default client -- ping -c1 10.244.2.3

    On a Vagrant VM, for a pod running on that VM:

        sudo knet exec --kubeconfig /etc/knet/kubeconfig client -- ping -c1 10.244.2.3
    """
)


def _exec(args: argparse.Namespace) -> int:
    from knet.cluster.exec import ExecError, exec_argv, node_exec_argv

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    try:
        if args.kubeconfig is not None:
            argv = node_exec_argv(
                args.kubeconfig, args.root_dir, args.pod_netns_prefix, args.namespace, args.pod, cmd
            )
        else:
            argv = exec_argv(args.name, state_root(args.state_dir), args.namespace, args.pod, cmd)
    except (ExecError, StateError, topology.TopologyError) as e:
        _err(str(e))
        return 1
    # Become the command: its exit status is ours, and signals and the terminal reach it.
    sys.stdout.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        _err(f"cannot run {argv[0]}: {e.strerror}")
    return 127


def add_exec_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "exec",
        help="run a command in a pod's network namespace (knet exec POD -- CMD...)",
        description="Run CMD inside the network namespace of POD, on whichever node it is.",
        epilog=EXEC_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(p)
    p.add_argument("-n", "--namespace", default="default", help="the pod's namespace")
    p.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        help="on a real node (a VM): the API server's kubeconfig, instead of a local cluster",
    )
    p.add_argument(
        "--root-dir",
        type=Path,
        default=Path("/var/lib/knet/kubelet"),
        help="with --kubeconfig: kubelet-lite's --root-dir on this machine",
    )
    p.add_argument("--pod-netns-prefix", default="kl-", help="with --kubeconfig: kubelet's")
    p.add_argument("pod", help="the pod's name")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    p.set_defaults(func=_exec)


# ---------------------------------------------------------------------------- hostgw, node


def add_hostgw_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "hostgw",
        help="per-node agent: routes to other nodes' podCIDRs via their node IPs",
        description=(hostgw.__doc__ or "").strip().splitlines()[0],
    )
    hostgw.add_arguments(p)
    p.set_defaults(func=hostgw.run)


def _bootstrap(args: argparse.Namespace) -> int:
    try:
        cfg = node_bootstrap.NodeConfig(
            node_name=args.node_name,
            node_ip=IPv4Address(args.node_ip),
            pod_cidr=IPv4Network(args.pod_cidr),
            cluster_cidr=IPv4Network(args.cluster_cidr),
            kubeconfig=args.kubeconfig,
            root_dir=args.root_dir,
            netns=args.node_netns,
            bridge=args.bridge,
            proxy_mode=args.proxy_mode,
            pod_netns_prefix=args.pod_netns_prefix,
            python=args.python,
        )
    except ValueError as e:
        _err(f"node bootstrap: {e}")
        return 2
    if os.geteuid() != 0:
        _err("node bootstrap must run as root")
        return 1
    node_bootstrap.prepare(cfg)
    print(f"node {cfg.node_name}: sysctls, loopback and bridge {cfg.bridge} in place")
    with_kproxy = node_bootstrap.module_available("kproxy")
    if args.write_units is not None:
        for path in node_bootstrap.write_units(cfg, args.write_units, kproxy=with_kproxy):
            print(f"wrote {path}")
    else:
        for role, argv in node_bootstrap.agent_argvs(cfg, kproxy=with_kproxy).items():
            print(f"{role}: {' '.join(node_bootstrap.in_node(cfg, argv))}")
    return 0


def add_node_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("node", help="set up one node (used by the VMs' provisioning)")
    nsub = p.add_subparsers(dest="node_command", required=True)
    b = nsub.add_parser(
        "bootstrap",
        help="sysctls and pod bridge; print the agents' command lines or write systemd units",
    )
    b.add_argument("--node-name", required=True)
    b.add_argument("--node-ip", required=True)
    b.add_argument("--pod-cidr", required=True)
    b.add_argument("--cluster-cidr", default=str(topology.CLUSTER_CIDR))
    b.add_argument("--kubeconfig", type=Path, required=True, help="the agents' kubeconfig")
    b.add_argument("--root-dir", type=Path, default=Path("/var/lib/knet/kubelet"))
    where = b.add_mutually_exclusive_group(required=True)
    where.add_argument("--node-netns", help="a named namespace plays the node")
    where.add_argument(
        "--root-netns",
        action="store_true",
        help="this machine is the node: set up its own namespace (a VM, never a dev machine)",
    )
    b.add_argument("--bridge", default=topology.POD_BRIDGE)
    b.add_argument("--proxy-mode", choices=node_bootstrap.PROXY_MODES, default="iptables")
    b.add_argument("--pod-netns-prefix", default="kl-")
    b.add_argument("--python", default=sys.executable, help="interpreter with knet installed")
    b.add_argument("--write-units", type=Path, default=None, metavar="DIR")
    b.set_defaults(func=_bootstrap)
