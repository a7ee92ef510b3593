"""What a set of machines looks like, from its name and node count (pure).

Addresses and podCIDRs are the Vagrantfile's: the control plane is 192.168.56.10 and workers
.11, .12, ... on 192.168.56.0/24, which exists only inside our namespaces:

    km-<name>-ul          underlay namespace: bridge ``ul0`` (192.168.56.1, like the host's
                          address on Vagrant's private network), the relay's way in
    km-<name>-<node>      a machine's network namespace: eth0 (the node IP) on the bridge
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

from knet.netlink import names

NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")
DEFAULT_NAME = "knet"
MAX_NODES = 8
UNDERLAY = IPv4Network("192.168.56.0/24")
UNDERLAY_HOST = IPv4Interface("192.168.56.1/24")
FIRST_NODE_HOST = 10
API_PORT = 6443
CLUSTER_CIDR = IPv4Network("10.244.0.0/16")
SERVICE_CIDR = IPv4Network("10.96.0.0/12")
BRIDGE = "ul0"
STATE_ROOT = Path("/var/lib/knet/machines")


class LayoutError(ValueError):
    """A name or size we cannot build; the message says why."""


def validate_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise LayoutError(
            f"machines name {name!r} must be 1-8 lower-case letters and digits, starting with "
            "a letter (it prefixes namespace and interface names)"
        )
    return name


@dataclass(frozen=True)
class Machine:
    index: int  # 0 is the control plane
    name: str  # hostname and Node name, as in the Vagrantfile: knet-cp, knet-w1, ...
    ip: IPv4Interface
    pod_cidr: IPv4Network
    netns: str
    underlay_port: str  # its veth end on the bridge

    @property
    def control_plane(self) -> bool:
        return self.index == 0

    @property
    def address(self) -> IPv4Address:
        return self.ip.ip


@dataclass(frozen=True)
class Layout:
    name: str
    machines: tuple[Machine, ...]
    underlay_netns: str
    directory: Path

    @property
    def prefix(self) -> str:
        return f"km-{self.name}-"

    @property
    def control_plane(self) -> Machine:
        return self.machines[0]

    @property
    def api_url(self) -> str:
        return f"http://{self.control_plane.address}:{API_PORT}"

    def machine(self, name: str) -> Machine:
        for m in self.machines:
            if m.name == name:
                return m
        raise LayoutError(f"no machine {name!r} (there are {', '.join(self.names())})")

    def names(self) -> list[str]:
        return [m.name for m in self.machines]


def machine_name(index: int) -> str:
    return "knet-cp" if index == 0 else f"knet-w{index}"


def build(name: str, nodes: int, state_root: Path = STATE_ROOT) -> Layout:
    validate_name(name)
    if not 1 <= nodes <= MAX_NODES:
        raise LayoutError(f"--nodes must be between 1 and {MAX_NODES}, not {nodes}")
    prefix = f"km-{name}-"
    machines = tuple(
        Machine(
            index=i,
            name=machine_name(i),
            ip=IPv4Interface(
                f"{UNDERLAY.network_address + FIRST_NODE_HOST + i}/{UNDERLAY.prefixlen}"
            ),
            pod_cidr=IPv4Network(f"10.244.{i + 1}.0/24"),
            netns=prefix + machine_name(i),
            underlay_port="km" + names._digest(name, machine_name(i))[:10],
        )
        for i in range(nodes)
    )
    return Layout(
        name=name,
        machines=machines,
        underlay_netns=prefix + "ul",
        directory=state_root / name,
    )
