"""What a local cluster looks like, computed from its name and node count (pure).

    kn-<name>-ul             underlay namespace: the bridge ``ul0`` is the "switch"
    kn-<name>-<i>            node i's namespace: eth0 (node IP) on the switch, pod bridge kbr0
    kn-<name>-p-<hash>       pod namespaces (made by kubelet-lite with that prefix)

Every name the cluster makes starts with ``kn-<name>-``; cluster names have no dash, so the
prefix of cluster ``a`` never matches a name of cluster ``a1`` or ``a-b``. Underlay addresses
come from 172.30.0.0/24 and podCIDRs from 10.244.0.0/16: private ranges unlikely to collide with
the host's own networks, and reachable only inside our namespaces anyway, since nothing connects
them to the root namespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from knet.netlink import names

NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")
DEFAULT_NAME = "knet"
MAX_NODES = 20
UNDERLAY_NET = IPv4Network("172.30.0.0/24")
CLUSTER_CIDR = IPv4Network("10.244.0.0/16")
SERVICE_CIDR = IPv4Network("10.96.0.0/12")
NODE_CIDR_PREFIX = 24
UNDERLAY_BRIDGE = "ul0"
POD_BRIDGE = "kbr0"
NODE_IFNAME = "eth0"


class TopologyError(ValueError):
    """A cluster name or size we cannot build; the message says why."""


def validate_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise TopologyError(
            f"cluster name {name!r} must be 1-8 lower-case letters and digits, starting with a "
            "letter (it prefixes namespace and interface names, which are short)"
        )
    return name


def prefix(name: str) -> str:
    """The prefix of every namespace and link name of cluster ``name``."""
    return f"kn-{validate_name(name)}-"


@dataclass(frozen=True)
class NodeTopology:
    index: int  # 1-based
    name: str  # the Node's name in the API
    netns: str
    ip: IPv4Interface  # eth0's address (InternalIP) with the underlay's prefix
    pod_cidr: IPv4Network
    underlay_port: str  # the veth end in the underlay namespace, a port of the switch
    ifname: str = NODE_IFNAME
    bridge: str = POD_BRIDGE

    @property
    def address(self) -> IPv4Address:
        return self.ip.ip


@dataclass(frozen=True)
class Topology:
    cluster: str
    underlay_netns: str
    underlay_bridge: str
    underlay_net: IPv4Network
    cluster_cidr: IPv4Network
    service_cidr: IPv4Network
    pod_netns_prefix: str
    nodes: tuple[NodeTopology, ...]

    @property
    def prefix(self) -> str:
        return prefix(self.cluster)

    @property
    def namespaces(self) -> tuple[str, ...]:
        """The namespaces `up` makes itself (pod namespaces are the kubelets')."""
        return (self.underlay_netns, *(n.netns for n in self.nodes))

    @property
    def switch_ip(self) -> IPv4Interface:
        """The underlay bridge's own address (the last host of the underlay): the API server's
        sockets to kubelets start here (DESIGN §7), so node addresses are one hop away."""
        return IPv4Interface(
            f"{self.underlay_net.broadcast_address - 1}/{self.underlay_net.prefixlen}"
        )

    def node(self, name: str) -> NodeTopology:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"cluster {self.cluster} has no node {name!r}")


def node_topology(cluster: str, index: int) -> NodeTopology:
    """Node ``index`` (1-based) of cluster ``cluster``."""
    if not 1 <= index <= MAX_NODES:
        raise TopologyError(f"node index {index} is outside 1..{MAX_NODES}")
    p = prefix(cluster)
    hosts = UNDERLAY_NET.network_address
    # Node i gets the i-th /24 of the cluster CIDR: 10.244.<i>.0/24, easy to read in routes.
    step = 1 << (32 - NODE_CIDR_PREFIX)
    pod_cidr = IPv4Network((int(CLUSTER_CIDR.network_address) + index * step, NODE_CIDR_PREFIX))
    return NodeTopology(
        index=index,
        name=f"{cluster}-node{index}",
        netns=names.validate_netns_name(f"{p}{index}"),
        ip=IPv4Interface(f"{hosts + index}/{UNDERLAY_NET.prefixlen}"),
        pod_cidr=pod_cidr,
        underlay_port=names.validate_ifname(f"{p}{index}"),
    )


def build(cluster: str, nodes: int) -> Topology:
    """The topology of cluster ``cluster`` with ``nodes`` nodes."""
    validate_name(cluster)
    if not 1 <= nodes <= MAX_NODES:
        raise TopologyError(f"--nodes {nodes} is outside 1..{MAX_NODES}")
    p = prefix(cluster)
    return Topology(
        cluster=cluster,
        underlay_netns=f"{p}ul",
        underlay_bridge=UNDERLAY_BRIDGE,
        underlay_net=UNDERLAY_NET,
        cluster_cidr=CLUSTER_CIDR,
        service_cidr=SERVICE_CIDR,
        pod_netns_prefix=f"{p}p-",
        nodes=tuple(node_topology(cluster, i) for i in range(1, nodes + 1)),
    )
