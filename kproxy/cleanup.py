"""``kproxy --cleanup``: remove everything kproxy put into iptables, and nothing else.

That is the jump rules from built-in chains (JUMP_RULES), the top-level chains kproxy creates
(KUBE-SERVICES, KUBE-NODEPORTS, ..., KUBE-PROXY-CANARY) and every per-service chain
(KUBE-SVC-/SVL-/EXT-/FW-/SEP-*). Chains with other owners, kubelet's KUBE-FIREWALL or
KUBE-KUBELET-CANARY for example, stay. The chains go in one restore per table (flush, then
delete), so a table is either cleaned whole or left as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from kproxy.backend.base import BackendError, RulesBackend
from kproxy.kernelstate import SavedTable, scan_save
from kproxy.rules import names as n
from kproxy.rules.jumps import CANARY_CHAIN, JUMP_RULES

log = logging.getLogger("kproxy.cleanup")

TOP_LEVEL_CHAINS: dict[str, frozenset[str]] = {
    "filter": frozenset(
        {
            n.KUBE_SERVICES,
            n.KUBE_EXTERNAL_SERVICES,
            n.KUBE_FORWARD,
            n.KUBE_NODEPORTS,
            n.KUBE_PROXY_FIREWALL,
            CANARY_CHAIN,
        }
    ),
    "nat": frozenset(
        {n.KUBE_SERVICES, n.KUBE_NODEPORTS, n.KUBE_POSTROUTING, n.KUBE_MARK_MASQ, CANARY_CHAIN}
    ),
    "mangle": frozenset({CANARY_CHAIN}),
}
CLEANUP_TABLES = tuple(TOP_LEVEL_CHAINS)
_MAX_DUPLICATES = 100


def is_kproxy_chain(table: str, chain: str) -> bool:
    return chain in TOP_LEVEL_CHAINS.get(table, frozenset()) or n.is_owned_chain(chain)


def cleanup_text(tables: Mapping[str, SavedTable]) -> str:
    """Restore input (for --noflush) that flushes and deletes kproxy's chains; "" if none."""
    lines: list[str] = []
    for table, saved in tables.items():
        ours = sorted(c for c in saved.chains if is_kproxy_chain(table, c))
        if not ours:
            continue
        lines.append(f"*{table}")
        lines.extend(f":{chain} - [0:0]" for chain in ours)
        lines.extend(f"-X {chain}" for chain in ours)
        lines.append("COMMIT")
    return "\n".join([*lines, ""]) if lines else ""


@dataclass
class CleanupReport:
    jump_rules_removed: int = 0
    chains_removed: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def cleanup(backend: RulesBackend) -> CleanupReport:
    """Remove kproxy's rules and chains through ``backend``; errors are collected, not raised,
    so one stuck table does not stop the others from being cleaned."""
    report = CleanupReport()
    for jump in JUMP_RULES:
        try:
            # Duplicates (from an older or foreign tool) would keep the chain referenced.
            for _ in range(_MAX_DUPLICATES):
                if not backend.delete_rule(jump.table, jump.source_chain, jump.args()):
                    break
                report.jump_rules_removed += 1
        except BackendError as e:
            report.errors.append(f"{jump.table}/{jump.source_chain}: {e}")
    for table in CLEANUP_TABLES:
        try:
            saved = scan_save(backend.save(table), table)
            text = cleanup_text({table: saved})
            if text:
                backend.restore(text)
                report.chains_removed[table] = sorted(
                    c for c in saved.chains if is_kproxy_chain(table, c)
                )
        except BackendError as e:
            report.errors.append(f"{table}: {e}")
    return report
