"""The Vagrantfile's provisioning, run inside a booted machine with Vagrant's arguments.

The Vagrantfile runs, per VM: ``common.sh``; on the control plane ``control-plane.sh API_IP
API_PORT CLUSTER_CIDR SERVICE_CIDR``; then ``node.sh NAME IP POD_CIDR CLUSTER_CIDR API_URL``.
common.sh ran once, in the image build (the machines have no route to Debian's or Python's
package servers); what it would install from the checkout, knet itself, is installed here from
a wheel of the current checkout. The scripts are the checkout's, copied to /opt/knet/src as
Vagrant's synced folder does.
"""

from __future__ import annotations

from knet.machines.layout import API_PORT, CLUSTER_CIDR, SERVICE_CIDR, Layout, Machine

SRC = "/opt/knet/src"
VENV_PIP = "/opt/knet/venv/bin/pip"


def script(name: str) -> list[str]:
    return ["bash", f"{SRC}/vagrant/provision/{name}"]


def control_plane_args(layout: Layout) -> list[str]:
    return [str(layout.control_plane.address), str(API_PORT), str(CLUSTER_CIDR), str(SERVICE_CIDR)]


def node_args(layout: Layout, machine: Machine) -> list[str]:
    return [
        machine.name,
        str(machine.address),
        str(machine.pod_cidr),
        str(CLUSTER_CIDR),
        layout.api_url,
    ]


def install_wheel(wheel: str) -> list[str]:
    # Offline and without dependencies: they are in the image already (common.sh).
    return [VENV_PIP, "install", "-q", "--no-index", "--no-deps", "--force-reinstall", wheel]


def steps(layout: Layout, machine: Machine, wheel: str) -> list[tuple[str, list[str]]]:
    """(what, argv inside the machine), in the Vagrantfile's order."""
    out = [("install knet", install_wheel(wheel))]
    if machine.control_plane:
        out.append(("control-plane.sh", script("control-plane.sh") + control_plane_args(layout)))
    out.append(("node.sh", script("node.sh") + node_args(layout, machine)))
    return out
