"""The userspace mode's iptables rules, rendered from data (pure).

Two nat chains send service traffic to the proxy's listeners inside the node:

* ``KUBE-PORTALS-CONTAINER`` (from PREROUTING) for traffic arriving from pods, and
* ``KUBE-PORTALS-HOST`` (from OUTPUT) for traffic the node itself sends.

Each REDIRECTs ClusterIP:port (and external/LB IPs) and NodePort (any local address) to the
listener's port. REDIRECT rewrites the destination to the receiving interface's address (or
127.0.0.1 from OUTPUT), which a listener on 0.0.0.0 accepts either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kproxy.rules.jumps import JumpRule
from kproxy.rules.parse import ParseError, join_args, tokenize
from kproxy.servicemodel import ServicePortInfo, ServicePortName

PORTALS_CONTAINER = "KUBE-PORTALS-CONTAINER"
PORTALS_HOST = "KUBE-PORTALS-HOST"
# filter: empty while kproxy runs; on shutdown it drops new connections to the listeners, so
# clients retransmit their SYN until the next kproxy listens instead of being refused.
PORTALS_HOLD = "KUBE-PORTALS-HOLD"
PORTAL_CHAINS = (PORTALS_CONTAINER, PORTALS_HOST)
USERSPACE_CHAINS: dict[str, tuple[str, ...]] = {"nat": PORTAL_CHAINS, "filter": (PORTALS_HOLD,)}

USERSPACE_JUMPS: tuple[JumpRule, ...] = (
    JumpRule("nat", "PREROUTING", PORTALS_CONTAINER, "kubernetes service portals (userspace)"),
    JumpRule("nat", "OUTPUT", PORTALS_HOST, "kubernetes service portals (userspace)"),
    JumpRule("filter", "INPUT", PORTALS_HOLD, "kubernetes userspace proxy restart hold"),
)


@dataclass(frozen=True)
class Portal:
    """One service port and the local port its proxy listens on."""

    name: ServicePortName
    info: ServicePortInfo
    listen_port: int


def portal_rules(portal: Portal) -> list[str]:
    """Rule bodies (without ``-A CHAIN``) shared by both portal chains."""
    info = portal.info
    proto = info.protocol.lower()
    comment = ("-m", "comment", "--comment", str(portal.name))
    target = ("-j", "REDIRECT", "--to-ports", str(portal.listen_port))
    rules = []
    for ip in (info.cluster_ip, *info.external_ips, *info.load_balancer_ips):
        words = ("-d", f"{ip}/32", "-p", proto, *comment, "-m", proto, "--dport", str(info.port))
        rules.append(join_args((*words, *target)))
    if info.node_port:
        local = ("-m", "addrtype", "--dst-type", "LOCAL")
        np_words = ("-p", proto, *comment, *local, "-m", proto, "--dport", str(info.node_port))
        rules.append(join_args((*np_words, *target)))
    return rules


def hold_rules(portals: Iterable[Portal]) -> list[str]:
    """Rule bodies for the hold chain: drop new connections (TCP SYNs, UDP) to listeners."""
    rules = []
    for portal in sorted(portals, key=lambda p: p.listen_port):
        proto = portal.info.protocol.lower()
        words: tuple[str, ...] = ("-p", proto, "-m", proto, "--dport", str(portal.listen_port))
        if proto == "tcp":
            words = (*words, "--tcp-flags", "FIN,SYN,RST,ACK", "SYN")
        rules.append(join_args((*words, "-j", "DROP")))
    return rules


def render_portals(
    portals: Iterable[Portal],
    *,
    hold: bool = False,
    extra: Mapping[str, Iterable[str]] | None = None,
) -> str:
    """``iptables-restore --noflush`` input rewriting the portal chains (and the hold chain)
    whole.

    ``hold`` fills the hold chain (at shutdown). ``extra`` lines per table (missing jumps,
    removal of the other mode's rules) go in the same sections, so a table changes in one
    atomic step.
    """
    ordered = sorted(portals, key=lambda p: (str(p.name), p.name.protocol))
    extra = extra or {}
    lines = ["*filter", f":{PORTALS_HOLD} - [0:0]"]
    if hold:
        lines.extend(f"-A {PORTALS_HOLD} {rule}" for rule in hold_rules(ordered))
    lines.extend(extra.get("filter", ()))
    lines.append("COMMIT")
    lines.extend(["*nat", *(f":{chain} - [0:0]" for chain in PORTAL_CHAINS)])
    for portal in ordered:
        for rule in portal_rules(portal):
            lines.extend(f"-A {chain} {rule}" for chain in PORTAL_CHAINS)
    lines.extend(extra.get("nat", ()))
    lines.append("COMMIT")
    for table, more in sorted(extra.items()):
        if table not in ("filter", "nat") and (more := list(more)):
            lines.extend([f"*{table}", *more, "COMMIT"])
    return "\n".join(lines) + "\n"


def listen_ports_from_save(nat_save: str) -> Mapping[tuple[str, str], int]:
    """(service port name, protocol) -> listener port, from the portal rules in a nat save.

    A restarted kproxy listens on the same ports again, so rules (and conntrack entries of
    connections being set up) keep pointing at a live listener.
    """
    out: dict[tuple[str, str], int] = {}
    prefix = f"-A {PORTALS_CONTAINER} "
    for line in nat_save.splitlines():
        if not line.startswith(prefix):
            continue
        try:
            words = tokenize(line[len(prefix) :])
        except ParseError:
            continue
        opts = _options(words)
        name, proto, port = opts.get("--comment"), opts.get("-p"), opts.get("--to-ports")
        if name and proto and port and port.isdigit():
            out[(name, proto.upper())] = int(port)
    return out


def _options(words: list[str]) -> dict[str, str]:
    return {w: words[i + 1] for i, w in enumerate(words[:-1]) if w.startswith("-")}
