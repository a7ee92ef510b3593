"""The jumps from built-in chains into kproxy's chains, as data.

These are the only rules kproxy places in chains it does not own, so they are installed one by
one with ensure_chain/ensure_rule (on full syncs) instead of through iptables-restore, which
would have to rewrite PREROUTING, INPUT, ... whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kproxy.rules import names as n

_CT_NEW = ("-m", "conntrack", "--ctstate", "NEW")


@dataclass(frozen=True)
class JumpRule:
    table: str
    source_chain: str  # built-in chain the rule lives in
    target_chain: str  # kproxy chain it jumps to
    comment: str
    extra_args: tuple[str, ...] = ()
    # Upstream prepends, so kproxy's rules run before anything appended later.
    position: Literal["-I", "-A"] = "-I"

    def args(self) -> tuple[str, ...]:
        """Rule arguments (unquoted words) for ensure_rule/delete_rule."""
        return (
            *self.extra_args,
            "-m",
            "comment",
            "--comment",
            self.comment,
            "-j",
            self.target_chain,
        )


# Same order as upstream's iptablesJumpChains.
JUMP_RULES: tuple[JumpRule, ...] = (
    JumpRule(
        "filter",
        "INPUT",
        n.KUBE_EXTERNAL_SERVICES,
        "kubernetes externally-visible service portals",
        _CT_NEW,
    ),
    JumpRule(
        "filter",
        "FORWARD",
        n.KUBE_EXTERNAL_SERVICES,
        "kubernetes externally-visible service portals",
        _CT_NEW,
    ),
    JumpRule("filter", "INPUT", n.KUBE_NODEPORTS, "kubernetes health check service ports"),
    JumpRule("filter", "FORWARD", n.KUBE_SERVICES, "kubernetes service portals", _CT_NEW),
    JumpRule("filter", "OUTPUT", n.KUBE_SERVICES, "kubernetes service portals", _CT_NEW),
    JumpRule("filter", "FORWARD", n.KUBE_FORWARD, "kubernetes forwarding rules"),
    JumpRule(
        "filter", "INPUT", n.KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", _CT_NEW
    ),
    JumpRule(
        "filter", "OUTPUT", n.KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", _CT_NEW
    ),
    JumpRule(
        "filter", "FORWARD", n.KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", _CT_NEW
    ),
    JumpRule("nat", "OUTPUT", n.KUBE_SERVICES, "kubernetes service portals"),
    JumpRule("nat", "PREROUTING", n.KUBE_SERVICES, "kubernetes service portals"),
    JumpRule("nat", "POSTROUTING", n.KUBE_POSTROUTING, "kubernetes postrouting rules"),
)

# kproxy creates an empty chain with this name in each table; if it disappears, someone
# flushed iptables and a full resync is needed.
CANARY_CHAIN = n.KUBE_PROXY_CANARY
CANARY_TABLES = ("mangle", "nat", "filter")
