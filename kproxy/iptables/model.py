"""A rule set: tables -> chains -> rules, and its iptables-restore text.

Rules are kept as the text that follows ``-A CHAIN`` (already quoted, as iptables-save prints
them). Building strings directly keeps rendering of 100k+ rules cheap; the parser turns text back
into tokens when something needs to look inside a rule.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping

from kproxy.rules.names import is_owned_chain

# iptables-save prints filter before nat; kube-proxy writes them in that order too.
TABLE_ORDER = ("raw", "mangle", "filter", "nat", "security")


def _table_key(name: str) -> tuple[int, str]:
    try:
        return (TABLE_ORDER.index(name), name)
    except ValueError:
        return (len(TABLE_ORDER), name)


class RuleSet:
    """Chains and rules kproxy wants, per table, in insertion order."""

    __slots__ = ("_tables", "groups")

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, list[str]]] = {}
        # Which chains belong to which service port, so a partial sync can pick the chains of
        # changed services without knowing how they were named.
        self.groups: dict[Hashable, tuple[str, ...]] = {}

    def chain(self, table: str, name: str) -> list[str]:
        """Declare a chain (idempotent) and return its rule list for appending rule bodies."""
        chains = self._tables.get(table)
        if chains is None:
            chains = self._tables[table] = {}
        rules = chains.get(name)
        if rules is None:
            rules = chains[name] = []
        return rules

    @property
    def tables(self) -> list[str]:
        return sorted(self._tables, key=_table_key)

    def chains(self, table: str) -> list[str]:
        return list(self._tables.get(table, ()))

    def has_chain(self, table: str, name: str) -> bool:
        return name in self._tables.get(table, {})

    def rules(self, table: str, chain: str) -> tuple[str, ...]:
        try:
            return tuple(self._tables[table][chain])
        except KeyError:
            raise KeyError(f"no chain {chain} in table {table}") from None

    def rule_count(self, table: str) -> int:
        return sum(len(r) for r in self._tables.get(table, {}).values())

    def chains_of(self, keys: Iterable[Hashable]) -> set[str]:
        """Union of the chains recorded in ``groups`` for the given keys (unknown keys: none)."""
        out: set[str] = set()
        for key in keys:
            out.update(self.groups.get(key, ()))
        return out

    def to_restore_text(
        self,
        chains: Collection[str] | None = None,
        stale: Mapping[str, Iterable[str]] | None = None,
        extra: Mapping[str, Iterable[str]] | None = None,
        unchanged: Mapping[str, Collection[str]] | None = None,
    ) -> str:
        """iptables-restore input for this rule set (use with ``--noflush``).

        ``chains=None`` writes everything. Otherwise top-level chains are always written whole
        and per-service (owned) chains only if named in ``chains``: chains left out stay as they
        are in the kernel. ``stale`` names owned chains per table to remove: each gets a ``:``
        line (which flushes it) and a ``-X`` after all rules, so references from rewritten
        chains are gone by then. ``extra`` holds raw lines per table (e.g. ``-I INPUT ...``
        for a missing jump rule), written after the table's rules and before any ``-X``.
        ``unchanged`` names top-level chains per table to leave out as well: the caller knows
        the kernel holds exactly their rules already (a partial sync in which they did not
        change), and rewriting a 10,000-rule KUBE-SERVICES costs iptables-nft a second.
        """
        stale_by_table: dict[str, list[str]] = {}
        for table, names in (stale or {}).items():
            picked = sorted(set(names))
            for name in picked:
                if not is_owned_chain(name):
                    raise ValueError(f"refusing to delete {name}: not a kproxy service chain")
                if self.has_chain(table, name):
                    raise ValueError(f"chain {name} is both stale and part of the rule set")
            if picked:
                stale_by_table[table] = picked

        extra_by_table = {t: list(x) for t, x in (extra or {}).items()}
        extra_by_table = {t: x for t, x in extra_by_table.items() if x}
        lines: list[str] = []
        tables = set(self._tables) | set(stale_by_table) | set(extra_by_table)
        for table in sorted(tables, key=_table_key):
            all_chains = self._tables.get(table, {})
            if chains is None:
                written = list(all_chains)
            else:
                written = [c for c in all_chains if c in chains or not is_owned_chain(c)]
            skipped = (unchanged or {}).get(table)
            if skipped:
                for name in skipped:
                    if is_owned_chain(name):
                        raise ValueError(f"{name} is a service chain, not a top-level one")
                written = [c for c in written if c not in skipped]
            removed = stale_by_table.get(table, [])
            lines.append(f"*{table}")
            lines.extend([f":{name} - [0:0]" for name in written])
            lines.extend([f":{name} - [0:0]" for name in removed])
            for name in written:
                prefix = f"-A {name} "
                lines.extend([prefix + rule for rule in all_chains[name]])
            lines.extend(extra_by_table.get(table, ()))
            lines.extend([f"-X {name}" for name in removed])
            lines.append("COMMIT")
        lines.append("")
        return "\n".join(lines)
