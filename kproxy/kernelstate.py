"""What iptables-save says is in the kernel, read just far enough for sync and cleanup.

A 10k-service nat table saves as ~400k lines; parsing every rule would cost seconds. Only the
chain declarations and the rules in built-in chains (where kproxy's jump rules live) are looked
at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kproxy.rules.parse import BUILTIN_CHAINS, ParseError, tokenize


@dataclass
class SavedTable:
    name: str
    chains: set[str] = field(default_factory=set)
    # (built-in chain, rule words) for every rule in a built-in chain
    builtin_rules: set[tuple[str, tuple[str, ...]]] = field(default_factory=set)

    def has_rule(self, chain: str, args: tuple[str, ...]) -> bool:
        return (chain, args) in self.builtin_rules


def scan_save(text: str, table: str) -> SavedTable:
    """Chains and built-in-chain rules of ``table`` in iptables-save output."""
    saved = SavedTable(table)
    builtin = frozenset(BUILTIN_CHAINS.get(table, ()))
    current: str | None = None
    for line in text.splitlines():
        if not line:
            continue
        first = line[0]
        if first == "*":
            current = line[1:].strip()
        elif current != table:
            continue
        elif first == ":":
            saved.chains.add(line[1:].split(None, 1)[0])
        elif line.startswith("-A "):
            parts = line.split(None, 2)
            if len(parts) >= 2 and parts[1] in builtin:
                try:
                    words = tuple(tokenize(parts[2] if len(parts) == 3 else ""))
                except ParseError:
                    continue  # a rule we cannot read is not one of ours
                saved.builtin_rules.add((parts[1], words))
    return saved
