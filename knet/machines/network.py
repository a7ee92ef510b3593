"""The machines' network: an underlay namespace with a bridge (the Vagrant private network) and
one namespace per machine with eth0 on it. All through knet.netlink, never in the root
namespace. A machine's namespace is made anew at each boot, as a rebooted VM's kernel starts
with nothing but its NIC: routes, rules and pod interfaces must be rebuilt by the node."""

from __future__ import annotations

from knet.machines.layout import BRIDGE, UNDERLAY_HOST, Layout, Machine
from knet.machines.state import MachinesState
from knet.netlink import addrs, links, netns, routes
from knet.netlink.session import open_session

NODE_IFNAME = "eth0"


def ensure_underlay(state: MachinesState, layout: Layout) -> None:
    state.add_namespace(layout.underlay_netns)
    netns.ensure(layout.underlay_netns)
    with open_session(layout.underlay_netns) as s:
        links.set_up(s, "lo")
        links.ensure_bridge(s, BRIDGE)
        # The relay's source address, as the host's own address on Vagrant's private network.
        addrs.ensure_addr(s, BRIDGE, UNDERLAY_HOST)


def ensure_machine_netns(state: MachinesState, layout: Layout, machine: Machine) -> None:
    """The machine's namespace with eth0 (its node IP) plugged into the bridge."""
    state.add_namespace(machine.netns)
    netns.ensure(machine.netns)
    with open_session(layout.underlay_netns) as s:
        bridge = links.ensure_bridge(s, BRIDGE)
        port = links.get_link(s, machine.underlay_port)
        if port is None:
            # The peer is born inside the machine's namespace as eth0.
            links.create_veth(
                s,
                machine.underlay_port,
                NODE_IFNAME,
                peer_netns=machine.netns,
                master=bridge,
                up=True,
            )
        else:
            links.set_master(s, port, bridge)
            links.set_up(s, port)
    with open_session(machine.netns) as s:
        links.set_up(s, "lo")
        addrs.ensure_addr(s, NODE_IFNAME, machine.ip)
        links.set_up(s, NODE_IFNAME)
        # A VM has a default route (DHCP on its NAT NIC); without one the node's own
        # connections to a ClusterIP fail the route lookup before kube-proxy's DNAT. Via the
        # underlay's address, which forwards nothing: traffic to elsewhere ends there.
        routes.ensure_default_route(s, UNDERLAY_HOST.ip, NODE_IFNAME)


def reset_machine_netns(state: MachinesState, layout: Layout, machine: Machine) -> None:
    """A fresh namespace for a machine that is about to boot again (its old one, with the
    veth, goes with the last process in it)."""
    netns.remove(machine.netns)
    with open_session(layout.underlay_netns) as s:
        links.delete_link(s, machine.underlay_port)
    ensure_machine_netns(state, layout, machine)
