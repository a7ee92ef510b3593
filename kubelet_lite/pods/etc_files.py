"""The files the kubelet writes for a pod's containers: /etc/resolv.conf (per dnsPolicy),
/etc/hosts and /etc/hostname, in the kubelet's format. Pure: the node's resolver settings
and hosts file are inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CLUSTER_OPTIONS = ("ndots:5",)
HOSTS_HEADER = "# Kubernetes-managed hosts file.\n"
HOSTS_HEADER_HOST_NETWORK = "# Kubernetes-managed hosts file (host network).\n"
HOSTS_DEFAULT = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)
ALIASES_HEADER = "\n# Entries added by HostAliases.\n"
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")


@dataclass(frozen=True)
class Resolver:
    """Resolver settings: nameservers, search domains, options (``name`` or ``name:value``)."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = field(default_factory=tuple)

    def render(self) -> str:
        """As containerd writes a pod's resolv.conf from the kubelet's DNS config."""
        out = ""
        if self.searches:
            out += f"search {' '.join(self.searches)}\n"
        for server in self.nameservers:
            out += f"nameserver {server}\n"
        if self.options:
            out += f"options {' '.join(self.options)}\n"
        return out


def parse_resolv_conf(text: str) -> Resolver:
    """The node's resolv.conf, as the kubelet reads it (the last search line wins)."""
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].split()
        if not line:
            continue
        key, rest = line[0], line[1:]
        if key == "nameserver" and rest:
            servers.append(rest[0])
        elif key in ("search", "domain"):
            searches = [s.rstrip(".") for s in rest]
        elif key == "options":
            options = _merge_options(options, rest)
    return Resolver(tuple(servers), tuple(searches), tuple(options))


def _option_name(opt: str) -> str:
    return opt.split(":", 1)[0]


def _merge_options(base: Sequence[str], more: Sequence[str]) -> list[str]:
    """Later options replace earlier ones of the same name, in place."""
    out = list(base)
    for opt in more:
        names = [_option_name(o) for o in out]
        if _option_name(opt) in names:
            out[names.index(_option_name(opt))] = opt
        else:
            out.append(opt)
    return out


def _dedupe(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def effective_policy(policy: str | None, host_network: bool) -> str:
    """ClusterFirst on the host network means Default (the node's resolver), as upstream."""
    p = policy or "ClusterFirst"
    if p == "ClusterFirst" and host_network:
        return "Default"
    if p == "ClusterFirstWithHostNet":
        return "ClusterFirst"
    return p


def pod_resolver(
    policy: str | None,
    host_network: bool,
    dns_config: Mapping[str, Any] | None,
    namespace: str,
    cluster_dns: Sequence[str],
    cluster_domain: str,
    node: Resolver,
) -> Resolver:
    """The pod's resolver for its dnsPolicy, with spec.dnsConfig merged in."""
    p = effective_policy(policy, host_network)
    if p == "ClusterFirst":
        cluster_search = [f"{namespace}.svc.{cluster_domain}", f"svc.{cluster_domain}"]
        base = Resolver(
            tuple(cluster_dns),
            _dedupe([*cluster_search, cluster_domain, *node.searches]),
            CLUSTER_OPTIONS,
        )
    elif p == "Default":
        base = node
    else:  # None: only what dnsConfig gives
        base = Resolver()
    cfg = dns_config or {}
    opts = []
    for o in cfg.get("options") or []:
        name, value = str(o.get("name") or ""), o.get("value")
        opts.append(f"{name}:{value}" if value is not None else name)
    return Resolver(
        _dedupe([*base.nameservers, *(str(s) for s in cfg.get("nameservers") or [])]),
        _dedupe([*base.searches, *(str(s) for s in cfg.get("searches") or [])]),
        tuple(_merge_options(base.options, opts)),
    )


def hosts_file(
    pod_ip: str | None,
    hostname: str,
    subdomain: str | None,
    namespace: str,
    cluster_domain: str,
    host_aliases: Sequence[Mapping[str, Any]],
    node_hosts: str | None = None,
) -> str:
    """The pod's /etc/hosts; ``node_hosts`` (the node's own file) for hostNetwork pods."""
    if node_hosts is not None:
        out = HOSTS_HEADER_HOST_NETWORK + node_hosts
        if out and not out.endswith("\n"):
            out += "\n"
    else:
        out = HOSTS_HEADER + HOSTS_DEFAULT
        if pod_ip:
            if subdomain:
                fqdn = f"{hostname}.{subdomain}.{namespace}.svc.{cluster_domain}"
                out += f"{pod_ip}\t{fqdn}\t{hostname}\n"
            else:
                out += f"{pod_ip}\t{hostname}\n"
    if host_aliases:
        out += ALIASES_HEADER
        for alias in host_aliases:
            names = "\t".join(str(h) for h in alias.get("hostnames") or [])
            out += f"{alias.get('ip')}\t{names}\n"
    return out
