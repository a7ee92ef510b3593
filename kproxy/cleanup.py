"""``kproxy --cleanup``: remove everything kproxy put into iptables, and nothing else.

That is the jump rules from built-in chains (JUMP_RULES), the top-level chains kproxy creates
(KUBE-SERVICES, KUBE-NODEPORTS, ..., KUBE-PROXY-CANARY) and every per-service chain
(KUBE-SVC-/SVL-/EXT-/FW-/SEP-*). Chains with other owners, kubelet's KUBE-FIREWALL or
KUBE-KUBELET-CANARY for example, stay. The chains go in one restore per table (flush, then
delete), so a table is either cleaned whole or left as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kproxy.backend.base import BackendError, RulesBackend
from kproxy.kernelstate import SavedTable, scan_save
from kproxy.rules import names as n
from kproxy.rules.jumps import CANARY_CHAIN, JUMP_RULES, JumpRule
from kproxy.rules.parse import join_args
from kproxy.userspace.portals import PORTAL_CHAINS, PORTALS_HOLD, USERSPACE_CHAINS, USERSPACE_JUMPS

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
            PORTALS_HOLD,
        }
    ),
    "nat": frozenset(
        {
            n.KUBE_SERVICES,
            n.KUBE_NODEPORTS,
            n.KUBE_POSTROUTING,
            n.KUBE_MARK_MASQ,
            CANARY_CHAIN,
            *PORTAL_CHAINS,
        }
    ),
    "mangle": frozenset({CANARY_CHAIN}),
}
CLEANUP_TABLES = tuple(TOP_LEVEL_CHAINS)
_MAX_DUPLICATES = 100


def is_kproxy_chain(table: str, chain: str) -> bool:
    return chain in TOP_LEVEL_CHAINS.get(table, frozenset()) or n.is_owned_chain(chain)


# -- switching modes -------------------------------------------------------------------------
# Each mode, on its full syncs, removes what the other mode left behind, inside its own
# restore (the lines below go in that table's section), so a switch is one atomic step.


def is_userspace_mode_chain(table: str, chain: str) -> bool:
    return chain in USERSPACE_CHAINS.get(table, ())


def is_iptables_mode_chain(table: str, chain: str) -> bool:
    return is_kproxy_chain(table, chain) and not is_userspace_mode_chain(table, chain)


def removal_lines(saved: SavedTable, chains: Iterable[str], jumps: Iterable[JumpRule]) -> list[str]:
    """Restore lines deleting ``jumps`` (those present) and then flushing and deleting
    ``chains`` (those present) in ``saved``'s table."""
    lines = [
        f"-D {j.source_chain} {join_args(j.args())}"
        for j in jumps
        if j.table == saved.name and saved.has_rule(j.source_chain, j.args())
    ]
    present = sorted(c for c in set(chains) if c in saved.chains)
    lines.extend(f"-F {c}" for c in present)
    lines.extend(f"-X {c}" for c in present)
    return lines


def userspace_removal_lines(saved: SavedTable) -> list[str]:
    """For iptables mode: remove userspace mode's portal chains and their jumps."""
    chains = [c for c in saved.chains if is_userspace_mode_chain(saved.name, c)]
    return removal_lines(saved, chains, USERSPACE_JUMPS)


def iptables_mode_removal_lines(saved: SavedTable) -> list[str]:
    """For userspace mode: remove iptables mode's chains (KUBE-SERVICES, KUBE-SVC-..., the
    canary) and their jumps."""
    chains = [c for c in saved.chains if is_iptables_mode_chain(saved.name, c)]
    return removal_lines(saved, chains, JUMP_RULES)


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
    """Remove kproxy's rules and chains (both modes') through ``backend``; errors are
    collected, not raised, so one stuck table does not stop the others from being cleaned."""
    report = CleanupReport()
    chains: dict[str, set[str]] = {}
    for table in CLEANUP_TABLES:
        try:
            chains[table] = scan_save(backend.save(table), table).chains
        except BackendError as e:
            report.errors.append(f"{table}: {e}")
    for jump in (*JUMP_RULES, *USERSPACE_JUMPS):
        if jump.target_chain not in chains.get(jump.table, set()):
            continue  # no chain, no jump to it (and nft refuses to even look for one)
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
