"""An in-memory iptables that is as strict as the kernel about what it accepts.

``restore`` parses real iptables-restore input and applies it the way iptables-restore does:
a ``:CHAIN`` line creates a user chain or (with --noflush) flushes an existing one, built-in
chains are never flushed by --noflush, ``-X`` needs an empty, unreferenced chain, a jump needs
an existing chain. One call is all-or-nothing across tables (like upstream's fake; real
iptables-restore commits table by table). Rules are compared by their words, not by the
kernel's normalised form.
"""

from __future__ import annotations

from collections.abc import Sequence

from kproxy.backend.base import BackendError, Position
from kproxy.rules.names import check_chain_name
from kproxy.rules.parse import (
    BUILTIN_CHAINS,
    KNOWN_TABLES,
    Chain,
    ChainDecl,
    ChainOp,
    Dump,
    ParseError,
    Rule,
    RuleOp,
    Table,
    join_args,
    parse_restore,
    parse_rule,
)

STANDARD_TARGETS = frozenset({"ACCEPT", "DROP", "RETURN", "QUEUE"})
EXTENSION_TARGETS = frozenset(
    {
        "REJECT",
        "DNAT",
        "SNAT",
        "MASQUERADE",
        "REDIRECT",
        "MARK",
        "CONNMARK",
        "LOG",
        "NFLOG",
        "NOTRACK",
        "CT",
        "TRACE",
        "TCPMSS",
        "CHECKSUM",
        "AUDIT",
        "NFQUEUE",
    }
)
_NAT_ONLY = frozenset({"DNAT", "SNAT", "MASQUERADE", "REDIRECT"})
_NOT_IN_NAT = frozenset({"DROP", "REJECT"})
_JUMP_FLAGS = frozenset({"-j", "--jump", "-g", "--goto"})


def _copy_table(table: Table) -> Table:
    # Rules are never mutated in place, so copying the lists is enough (and cheap at 400k rules).
    chains = {
        name: Chain(c.name, c.policy, c.packets, c.bytes, list(c.rules))
        for name, c in table.chains.items()
    }
    return Table(table.name, chains)


def _new_table(name: str) -> Table:
    table = Table(name)
    for chain in BUILTIN_CHAINS[name]:
        table.chains[chain] = Chain(chain, "ACCEPT")
    return table


class FakeBackend:
    """RulesBackend over a Dump held in memory."""

    name = "fake"

    def __init__(self, *, random_fully: bool = True) -> None:
        self.dump = Dump()
        self.random_fully = random_fully
        self.restores: list[str] = []  # every restore text accepted, for assertions
        self._fail_next: str | None = None

    # -- test hooks -------------------------------------------------------------------------

    def fail_next_restore(self, message: str = "injected failure") -> None:
        """Make the next restore() raise BackendError without changing anything."""
        self._fail_next = message

    # -- RulesBackend ------------------------------------------------------------------------

    def has_random_fully(self) -> bool:
        return self.random_fully

    def restore(self, text: str, *, noflush: bool = True, counters: bool = False) -> None:
        if self._fail_next is not None:
            message, self._fail_next = self._fail_next, None
            raise BackendError(message)
        try:
            blocks = parse_restore(text)
        except ParseError as e:
            raise BackendError(str(e), line=e.line) from None
        work = Dump(dict(self.dump.tables))
        touched: set[str] = set()
        for block in blocks:
            if block.table not in KNOWN_TABLES:
                raise BackendError(
                    f"can't initialize iptables table `{block.table}': Table does not exist",
                    line=block.line,
                )
            if block.table not in touched:
                # Copy on first touch so a failure leaves self.dump as it was.
                old = work.tables.get(block.table)
                work.tables[block.table] = _copy_table(old) if old else _new_table(block.table)
                touched.add(block.table)
            table = work.tables[block.table]
            if not noflush:
                self._flush_table(table)
            for op in block.ops:
                self._apply(table, op)
        self.dump = work
        self.restores.append(text)

    def save(self, table: str) -> str:
        self._check_table(table)
        t = self.dump.tables.get(table) or _new_table(table)
        builtin = [c for c in t.chains.values() if c.builtin]
        user = sorted((c for c in t.chains.values() if not c.builtin), key=lambda c: c.name)
        ordered = Table(table, {c.name: c for c in [*builtin, *user]})
        return Dump({table: ordered}).to_text()

    def ensure_chain(self, table: str, chain: str) -> bool:
        t = self._table(table)
        if chain in t.chains:
            return True
        self._create_chain(t, chain, None)
        return False

    def ensure_rule(self, position: Position, table: str, chain: str, args: Sequence[str]) -> bool:
        t = self._table(table)
        c = self._chain(t, chain, None)
        words = tuple(args)
        if any(r.args == words for r in c.rules):
            return True
        rule = self._make_rule(t, chain, words, join_args(words), None)
        if position == "-I":
            c.rules.insert(0, rule)
        else:
            c.rules.append(rule)
        return False

    def delete_rule(self, table: str, chain: str, args: Sequence[str]) -> bool:
        t = self._table(table)
        c = t.chains.get(chain)
        words = tuple(args)
        if c is None:
            return False
        for i, rule in enumerate(c.rules):
            if rule.args == words:
                del c.rules[i]
                return True
        return False

    def delete_chain(self, table: str, chain: str) -> bool:
        t = self._table(table)
        if chain not in t.chains:
            return False
        self._delete_chain(t, chain, None)
        return True

    # -- helpers -----------------------------------------------------------------------------

    def _check_table(self, table: str) -> None:
        if table not in KNOWN_TABLES:
            raise BackendError(f"can't initialize iptables table `{table}': Table does not exist")

    def _table(self, table: str) -> Table:
        self._check_table(table)
        t = self.dump.tables.get(table)
        if t is None:
            t = self.dump.tables[table] = _new_table(table)
        return t

    @staticmethod
    def _flush_table(table: Table) -> None:
        for name in list(table.chains):
            chain = table.chains[name]
            if chain.builtin:
                chain.rules = []
            else:
                del table.chains[name]

    def _apply(self, table: Table, op: ChainDecl | RuleOp | ChainOp) -> None:
        if isinstance(op, ChainDecl):
            self._declare(table, op)
        elif isinstance(op, RuleOp):
            self._rule_op(table, op)
        else:
            self._chain_op(table, op)

    def _declare(self, table: Table, op: ChainDecl) -> None:
        chain = table.chains.get(op.chain)
        if chain is not None and chain.builtin:
            # --noflush never flushes built-in chains; "-" leaves the policy alone.
            if op.policy != "-":
                self._set_policy(chain, op.policy, op.line)
            return
        if op.policy != "-":
            raise BackendError(
                f"Can't set policy `{op.policy}' on user-defined chain `{op.chain}'", line=op.line
            )
        if chain is not None:
            chain.rules = []
        else:
            self._create_chain(table, op.chain, op.line)

    @staticmethod
    def _set_policy(chain: Chain, policy: str, line: int | None) -> None:
        if policy not in ("ACCEPT", "DROP"):
            raise BackendError(f"bad policy {policy!r} for {chain.name}", line=line)
        chain.policy = policy

    @staticmethod
    def _create_chain(table: Table, name: str, line: int | None) -> None:
        if name in table.chains:
            raise BackendError(f"Chain '{name}' already exists", line=line)
        try:
            check_chain_name(name)
        except ValueError as e:
            raise BackendError(str(e), line=line) from None
        table.chains[name] = Chain(name, None)

    @staticmethod
    def _chain(table: Table, name: str, line: int | None) -> Chain:
        chain = table.chains.get(name)
        if chain is None:
            raise BackendError(f"Chain '{name}' does not exist in table {table.name}", line=line)
        return chain

    def _make_rule(
        self, table: Table, chain: str, args: tuple[str, ...], raw: str, line: int | None
    ) -> Rule:
        try:
            spec = parse_rule(args)
        except ParseError as e:
            raise BackendError(f"bad rule in {chain}: {e}", line=line) from None
        target = spec.target
        if target is not None:
            if target in _NAT_ONLY and table.name != "nat":
                raise BackendError(f"target {target} is only valid in the nat table", line=line)
            if target in _NOT_IN_NAT and table.name == "nat":
                raise BackendError(f"target {target} is not allowed in the nat table", line=line)
            if target not in STANDARD_TARGETS and target not in EXTENSION_TARGETS:
                dest = table.chains.get(target)
                if dest is None:
                    raise BackendError(
                        f"rule in {chain} jumps to non-existent chain {target}", line=line
                    )
                if dest.builtin:
                    message = f"rule in {chain} jumps to built-in chain {target}"
                    raise BackendError(message, line=line)
        return Rule(args, raw)

    def _rule_op(self, table: Table, op: RuleOp) -> None:
        chain = self._chain(table, op.chain, op.line)
        if op.op == "-D":
            self._delete_rule_op(chain, op)
            return
        rule = self._make_rule(table, op.chain, op.args, op.raw, op.line)
        if op.op == "-A":
            chain.rules.append(rule)
            return
        index = (op.position or 1) - 1
        last = len(chain.rules) if op.op == "-I" else len(chain.rules) - 1
        if not 0 <= index <= last:
            raise BackendError(f"index {op.position} out of range for {op.chain}", line=op.line)
        if op.op == "-I":
            chain.rules.insert(index, rule)
        else:
            chain.rules[index] = rule

    @staticmethod
    def _delete_rule_op(chain: Chain, op: RuleOp) -> None:
        if op.position is not None and not op.args:
            if not 1 <= op.position <= len(chain.rules):
                raise BackendError(f"no rule {op.position} in {chain.name}", line=op.line)
            del chain.rules[op.position - 1]
            return
        for i, rule in enumerate(chain.rules):
            if rule.args == op.args:
                del chain.rules[i]
                return
        raise BackendError(f"no such rule in {chain.name}: {op.raw}", line=op.line)

    def _chain_op(self, table: Table, op: ChainOp) -> None:
        if op.op == "-N":
            assert op.chain is not None
            self._create_chain(table, op.chain, op.line)
        elif op.op == "-X":
            if op.chain:
                names = [op.chain]
            else:
                names = [name for name, c in table.chains.items() if not c.builtin]
            for name in names:
                self._delete_chain(table, name, op.line)
        elif op.op == "-F":
            if op.chain:
                self._chain(table, op.chain, op.line).rules = []
            else:
                for chain in table.chains.values():
                    chain.rules = []
        elif op.op == "-P":
            assert op.chain is not None and op.policy is not None
            chain = self._chain(table, op.chain, op.line)
            if not chain.builtin:
                raise BackendError(f"can't set policy on user chain {op.chain}", line=op.line)
            self._set_policy(chain, op.policy, op.line)
        # -Z only resets counters, which the fake does not keep.

    @staticmethod
    def _delete_chain(table: Table, name: str, line: int | None) -> None:
        chain = FakeBackend._chain(table, name, line)
        if chain.builtin:
            raise BackendError(f"can't delete built-in chain {name}", line=line)
        if chain.rules:
            raise BackendError(f"can't delete chain {name}: Directory not empty", line=line)
        for other in table.chains.values():
            for rule in other.rules:
                # A jump to a user chain takes no target options, so it ends "-j NAME".
                args = rule.args
                if len(args) >= 2 and args[-1] == name and args[-2] in _JUMP_FLAGS:
                    raise BackendError(
                        f"can't delete chain {name}: Too many links (referenced from {other.name})",
                        line=line,
                    )
        del table.chains[name]
