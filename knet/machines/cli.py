"""``knet machines up|down|status``: the Vagrant cluster as systemd-nspawn machines.

A command of its own rather than a flag of ``knet cluster up``: machines have their own image
cache, state and teardown (mounts, booted inits), and none of the namespace cluster's
processes; mixing the two lifecycles in one command would make both harder to follow.
"""

from __future__ import annotations

import argparse
import os
import sys

from knet.machines import down, image, layout, machine, network, up
from knet.machines.state import MachinesState, StateError
from knet.netlink.errors import NetlinkError

ERRORS = (
    up.UpError,
    image.ImageError,
    machine.MachineError,
    layout.LayoutError,
    StateError,
    NetlinkError,
)
ONE_MACHINE = ("reboot", "stop", "start")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "machines", help="the Vagrant cluster as booted machines (systemd-nspawn) on this box"
    )
    msub = p.add_subparsers(dest="machines_command", required=True)
    for cmd, text in (
        ("up", "build the root filesystem (once), boot and provision the machines"),
        ("down", "power the machines off and remove everything they use"),
        ("status", "the machines, their addresses and whether their Nodes are Ready"),
        ("reboot", "power a machine off and boot it again (its systemd restarts the node)"),
        ("stop", "power a machine off (its Node turns NotReady, its pods are evicted)"),
        ("start", "boot a stopped machine again (its systemd restarts the node)"),
    ):
        c = msub.add_parser(cmd, help=text)
        c.add_argument("--name", default=layout.DEFAULT_NAME)
        if cmd in ONE_MACHINE:
            c.add_argument("machine", help="e.g. knet-w1")
        if cmd == "up":
            c.add_argument("--nodes", type=int, default=3)
            c.add_argument("--timeout", type=float, default=180.0, help="for Nodes to be Ready")
        c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        if args.machines_command == "up":
            opts = up.UpOptions(name=args.name, nodes=args.nodes, timeout=args.timeout)
            _, t = up.up(opts)
            boot = ", ".join(f"{k} {v:.1f}s" for k, v in (t.boot or {}).items())
            ready = ", ".join(f"{k} {v:.1f}s" for k, v in (t.ready or {}).items())
            print(
                f"timings: image build {t.image_build:.0f}s; boot {boot or '-'}; "
                f"Ready after start {ready or '-'}; total {t.total:.0f}s"
            )
            return 0
        if os.geteuid() != 0:
            raise up.UpError("knet machines must run as root (namespaces, mounts, nspawn)")
        if args.machines_command == "down":
            report = down.down(args.name)
            for problem in report.problems:
                print(f"knet machines down: {problem}", file=sys.stderr)
            return 1 if report.problems else 0
        if args.machines_command in ONE_MACHINE:
            return one_machine(args.name, args.machine, args.machines_command)
        return status(args.name)
    except (*ERRORS, OSError) as exc:  # OSError: a file, mount or process step of ours
        print(f"knet machines {args.machines_command}: {exc}", file=sys.stderr)
        return 1


def status(name: str) -> int:
    lay = layout.build(name, 1)
    state = MachinesState.load(lay.directory)
    if state is None:
        print(f"machines {name}: not up")
        return 1
    lay = layout.build(name, state.nodes)
    ready = up.ready_nodes(state.port)
    for m in lay.machines:
        on = "running" if machine.running(state, m) else "stopped"
        node = "Ready" if m.name in ready else "NotReady"
        print(f"{m.name:10} {m.address!s:15} {on:8} {node:8} pods {m.pod_cidr}")
    print(f"kubectl --kubeconfig {state.kubeconfig_path} get nodes")
    return 0


def one_machine(name: str, machine_name: str, action: str) -> int:
    """`reboot`, `stop` or `start` one machine, under the machines' lock."""
    lay = layout.build(name, 1)
    if MachinesState.load(lay.directory) is None:  # before locking: that makes the directory
        raise up.UpError(f"machines {name} are not up")
    with up.locked(lay.directory):
        state = MachinesState.load(lay.directory)
        if state is None:
            raise up.UpError(f"machines {name} are not up")
        lay = layout.build(name, state.nodes)
        m = lay.machine(machine_name)
        on = machine.running(state, m)
        if action == "stop" and not on:
            raise machine.MachineError(f"{m.name} is already stopped")
        if action == "start" and on:
            raise machine.MachineError(f"{m.name} is already running")
        if action == "stop":
            machine.power_off(state, m)
            print(f"{m.name} stopped; its Node turns NotReady after the grace period")
            return 0
        do = machine.reboot if action == "reboot" else machine.boot
        took = do(state, lay, m, network.reset_machine_netns)
    print(f"{m.name} {action}ed (boot {took:.1f}s); its Node turns Ready again by itself")
    return 0
