"""Configuration and result types of the pod network sandbox (CNI bridge + host-local)."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from typing import Any

from knet.ipam.ranges import Range
from knet.netlink import names


@dataclass(frozen=True, kw_only=True)
class NetConf:
    """How pods on this node are networked.

    ``node_netns`` is where the node's bridge and the host ends of the veths live: None means
    the namespace of this process (the VM's root namespace in production); the local cluster
    and the tests pass a named namespace. Sysctls (ip_forward, bridge-nf-call-iptables) are set
    only in a named node namespace; on a real node provisioning sets them.
    """

    ipam_dir: Path
    subnet: str = "10.244.1.0/24"
    bridge: str = "kbr0"
    node_netns: str | None = None
    mtu: int = 1500
    hairpin: bool = True
    node_sysctls: bool = True
    netns_prefix: str = "kl-"
    veth_prefix: str = "kv"
    ip_range: Range = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names.validate_ifname(self.bridge)
        if self.node_netns is not None:
            names.validate_netns_name(self.node_netns)
        if not 68 <= self.mtu <= 65535:
            raise ValueError(f"mtu {self.mtu} is outside 68..65535")
        names.netns_name("x", self.netns_prefix)  # validates the prefixes
        names.veth_name("x", "eth0", self.veth_prefix)
        object.__setattr__(self, "ipam_dir", Path(self.ipam_dir))
        object.__setattr__(self, "ip_range", Range.from_subnet(self.subnet))

    @property
    def gateway(self) -> IPv4Interface:
        """The bridge's address: the subnet's first address with the subnet's prefix."""
        return IPv4Interface(f"{self.ip_range.gateway}/{self.ip_range.prefixlen}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (handed to the sandbox worker processes)."""
        return {
            "ipamDir": str(self.ipam_dir),
            "subnet": self.subnet,
            "bridge": self.bridge,
            "nodeNetns": self.node_netns,
            "mtu": self.mtu,
            "hairpin": self.hairpin,
            "nodeSysctls": self.node_sysctls,
            "netnsPrefix": self.netns_prefix,
            "vethPrefix": self.veth_prefix,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetConf:
        return cls(
            ipam_dir=Path(d["ipamDir"]),
            subnet=str(d["subnet"]),
            bridge=str(d["bridge"]),
            node_netns=d["nodeNetns"],
            mtu=int(d["mtu"]),
            hairpin=bool(d["hairpin"]),
            node_sysctls=bool(d["nodeSysctls"]),
            netns_prefix=str(d["netnsPrefix"]),
            veth_prefix=str(d["vethPrefix"]),
        )


@dataclass(frozen=True)
class SandboxSpec:
    """Which pod (by UID) needs which interface. The pod name is only for messages."""

    pod_uid: str
    pod_name: str = ""
    ifname: str = "eth0"

    def __post_init__(self) -> None:
        if (
            not self.pod_uid
            or self.pod_uid != self.pod_uid.strip()
            or not self.pod_uid.isprintable()
        ):
            raise ValueError(f"pod UID {self.pod_uid!r} must be non-empty printable text")
        names.validate_ifname(self.ifname)

    @property
    def label(self) -> str:
        return f"{self.pod_name} ({self.pod_uid})" if self.pod_name else self.pod_uid

    def to_dict(self) -> dict[str, str]:
        return {"podUID": self.pod_uid, "podName": self.pod_name, "ifname": self.ifname}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SandboxSpec:
        return cls(str(d["podUID"]), str(d.get("podName") or ""), str(d.get("ifname") or "eth0"))


@dataclass(frozen=True)
class SandboxResult:
    """What add() built; keep it (e.g. in the pod checkpoint) for check() and for status."""

    netns: str
    netns_path: str
    ifname: str
    ip: IPv4Address
    prefixlen: int
    gateway: IPv4Address
    host_veth: str
    mac: str

    @property
    def interface(self) -> IPv4Interface:
        return IPv4Interface(f"{self.ip}/{self.prefixlen}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "netns": self.netns,
            "netnsPath": self.netns_path,
            "ifname": self.ifname,
            "ip": str(self.ip),
            "prefixlen": self.prefixlen,
            "gateway": str(self.gateway),
            "hostVeth": self.host_veth,
            "mac": self.mac,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SandboxResult:
        return cls(
            netns=str(d["netns"]),
            netns_path=str(d["netnsPath"]),
            ifname=str(d["ifname"]),
            ip=IPv4Address(d["ip"]),
            prefixlen=int(d["prefixlen"]),
            gateway=IPv4Address(d["gateway"]),
            host_veth=str(d["hostVeth"]),
            mac=str(d["mac"]),
        )
