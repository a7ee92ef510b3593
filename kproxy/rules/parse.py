"""Parse iptables-save output and iptables-restore input.

Two levels:

* ``parse_restore(text)`` reads restore input line by line into per-table operations (chain
  declarations, ``-A/-I/-D/-R``, ``-N/-X/-F/-Z/-P``), keeping line numbers for error messages.
  The fake backend and the python-iptables backend apply these with iptables-restore semantics.
* ``parse_dump(text)`` builds a ``Dump`` (tables -> chains with policy/counters -> rules) from
  what ``iptables-save`` prints; ``parse_rule(tokens)`` splits one rule into its address
  matches, match modules with their options, and target, for the packet tracer.

The tokenizer follows iptables-restore: whitespace separates words, double quotes group them,
and ``\\"`` inside quotes is a literal quote.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

KNOWN_TABLES = ("filter", "nat", "mangle", "raw", "security")
BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "raw": ("PREROUTING", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}

_COUNTERS = re.compile(r"\[(\d+):(\d+)\]")


class ParseError(ValueError):
    """Input that iptables-restore would refuse, with the 1-based line number."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


# ---------------------------------------------------------------------------------------------
# Tokenizing


def tokenize(line: str) -> list[str]:
    """Split one rule line into words, honouring double quotes like iptables-restore."""
    if '"' not in line and "\\" not in line:
        return line.split()
    words: list[str] = []
    current: list[str] = []
    in_word = False
    quoted = False
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line) and line[i + 1] in "\"\\'":
            current.append(line[i + 1])
            in_word = True
            i += 2
            continue
        if c == '"':
            quoted = not quoted
            in_word = True
        elif c.isspace() and not quoted:
            if in_word:
                words.append("".join(current))
                current = []
                in_word = False
        else:
            current.append(c)
            in_word = True
        i += 1
    if quoted:
        raise ParseError(f"unterminated quote in {line!r}")
    if in_word:
        words.append("".join(current))
    return words


def quote(word: str) -> str:
    """Quote a word for restore input if it needs it (what iptables-save does for comments)."""
    if word and not any(c.isspace() or c in "\"'\\" for c in word):
        return word
    escaped = word.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def join_args(args: Sequence[str]) -> str:
    return " ".join(quote(a) for a in args)


# ---------------------------------------------------------------------------------------------
# Restore input: per-table operations


@dataclass(frozen=True)
class ChainDecl:
    """``:NAME POLICY [packets:bytes]``; policy ``-`` for user-defined chains."""

    chain: str
    policy: str
    packets: int
    bytes: int
    line: int


@dataclass(frozen=True)
class RuleOp:
    """``-A``/``-I``/``-D``/``-R`` on a chain; ``position`` for -I/-R/-D-by-number."""

    op: str
    chain: str
    args: tuple[str, ...]
    raw: str
    line: int
    position: int | None = None
    counters: tuple[int, int] | None = None


@dataclass(frozen=True)
class ChainOp:
    """``-N``/``-X``/``-F``/``-Z`` (chain may be None for -F/-X/-Z meaning "all") or ``-P``."""

    op: str
    chain: str | None
    line: int
    policy: str | None = None


Op = ChainDecl | RuleOp | ChainOp


@dataclass(frozen=True)
class TableBlock:
    table: str
    line: int
    ops: tuple[Op, ...]


_RULE_OPS = {"-A": "-A", "--append": "-A", "-I": "-I", "--insert": "-I", "-D": "-D"}
_RULE_OPS |= {"--delete": "-D", "-R": "-R", "--replace": "-R"}
_CHAIN_OPS = {"-N": "-N", "--new-chain": "-N", "-X": "-X", "--delete-chain": "-X"}
_CHAIN_OPS |= {"-F": "-F", "--flush": "-F", "-Z": "-Z", "--zero": "-Z", "-P": "-P"}
_CHAIN_OPS |= {"--policy": "-P"}


def parse_restore(text: str) -> list[TableBlock]:
    """Split restore input into table blocks; raises ParseError like iptables-restore would."""
    blocks: list[TableBlock] = []
    table: str | None = None
    table_line = 0
    ops: list[Op] = []
    for lineno, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            if table is not None:
                raise ParseError(f"table {table} not committed before *{line[1:]}", lineno)
            table = line[1:].strip()
            if not table:
                raise ParseError("empty table name", lineno)
            table_line = lineno
            ops = []
            continue
        if table is None:
            raise ParseError(
                f"{line.split()[0]!r} outside of a table (missing *table line)", lineno
            )
        if line == "COMMIT":
            blocks.append(TableBlock(table, table_line, tuple(ops)))
            table = None
            continue
        ops.append(_parse_op(line, lineno))
    if table is not None:
        raise ParseError(f"COMMIT expected for table {table}", table_line)
    return blocks


def _parse_op(line: str, lineno: int) -> Op:
    if line.startswith(":"):
        parts = line[1:].split()
        if len(parts) < 2:
            raise ParseError(f"bad chain line {line!r}", lineno)
        packets = nbytes = 0
        if len(parts) >= 3:
            m = _COUNTERS.fullmatch(parts[2])
            if not m:
                raise ParseError(f"bad counters in {line!r}", lineno)
            packets, nbytes = int(m.group(1)), int(m.group(2))
        return ChainDecl(parts[0], parts[1], packets, nbytes, lineno)

    counters = None
    if line.startswith("["):
        end = line.find("]")
        m = _COUNTERS.fullmatch(line[: end + 1]) if end > 0 else None
        if not m:
            raise ParseError(f"bad counters in {line!r}", lineno)
        counters = (int(m.group(1)), int(m.group(2)))
        line = line[end + 1 :].lstrip()

    head, _, rest = line.partition(" ")
    if head in _RULE_OPS:
        return _parse_rule_op(_RULE_OPS[head], rest, lineno, counters)
    if head in _CHAIN_OPS:
        op = _CHAIN_OPS[head]
        words = rest.split()
        if op == "-P":
            if len(words) != 2:
                raise ParseError(f"-P needs a chain and a policy: {line!r}", lineno)
            return ChainOp(op, words[0], lineno, policy=words[1])
        if op == "-N" and len(words) != 1:
            raise ParseError(f"-N needs exactly one chain: {line!r}", lineno)
        if len(words) > 1:
            raise ParseError(f"unexpected arguments in {line!r}", lineno)
        return ChainOp(op, words[0] if words else None, lineno)
    raise ParseError(f"unknown command {head!r}", lineno)


def _parse_rule_op(op: str, rest: str, lineno: int, counters: tuple[int, int] | None) -> RuleOp:
    chain, _, body = rest.strip().partition(" ")
    if not chain:
        raise ParseError(f"{op} needs a chain", lineno)
    body = body.strip()
    args = tokenize(body) if body else []
    position = None
    if op in ("-I", "-R", "-D") and args and args[0].isdigit():
        position = int(args[0])
        args = args[1:]
        body = body.partition(" ")[2].strip()
    if op == "-R" and position is None:
        raise ParseError("-R needs a rule number", lineno)
    return RuleOp(op, chain, tuple(args), body, lineno, position, counters)


# ---------------------------------------------------------------------------------------------
# Dumps (what iptables-save prints)


@dataclass
class Rule:
    args: tuple[str, ...]
    raw: str  # the text after "-A CHAIN", as written
    packets: int = 0
    bytes: int = 0

    def __str__(self) -> str:
        return self.raw


@dataclass
class Chain:
    name: str
    policy: str | None  # None for user-defined chains ("-")
    packets: int = 0
    bytes: int = 0
    rules: list[Rule] = field(default_factory=list)

    @property
    def builtin(self) -> bool:
        return self.policy is not None


@dataclass
class Table:
    name: str
    chains: dict[str, Chain] = field(default_factory=dict)


@dataclass
class Dump:
    tables: dict[str, Table] = field(default_factory=dict)

    def table(self, name: str) -> Table | None:
        return self.tables.get(name)

    def chain(self, table: str, chain: str) -> Chain | None:
        t = self.tables.get(table)
        return t.chains.get(chain) if t else None

    def rule_count(self, table: str) -> int:
        t = self.tables.get(table)
        return sum(len(c.rules) for c in t.chains.values()) if t else 0

    def to_text(self) -> str:
        """iptables-save format (without the generated-by comments)."""
        lines: list[str] = []
        for table in self.tables.values():
            lines.append(f"*{table.name}")
            for c in table.chains.values():
                lines.append(f":{c.name} {c.policy or '-'} [{c.packets}:{c.bytes}]")
            for c in table.chains.values():
                lines.extend(f"-A {c.name} {r.raw}".rstrip() for r in c.rules)
            lines.append("COMMIT")
        lines.append("")
        return "\n".join(lines)


def parse_dump(text: str) -> Dump:
    """Parse ``iptables-save`` output (or restore input made only of ``:`` and ``-A`` lines)."""
    dump = Dump()
    for block in parse_restore(text):
        table = dump.tables.setdefault(block.table, Table(block.table))
        for op in block.ops:
            if isinstance(op, ChainDecl):
                policy = None if op.policy == "-" else op.policy
                table.chains[op.chain] = Chain(op.chain, policy, op.packets, op.bytes)
            elif isinstance(op, RuleOp) and op.op == "-A":
                chain = table.chains.get(op.chain)
                if chain is None:
                    raise ParseError(f"rule for undeclared chain {op.chain}", op.line)
                packets, nbytes = op.counters or (0, 0)
                chain.rules.append(Rule(op.args, op.raw, packets, nbytes))
            else:
                raise ParseError(f"{op.op} is not part of a dump", op.line)
    return dump


def chains_in(text: str, table: str) -> set[str]:
    """Names of the chains declared for ``table`` in save output (cheap: no rule parsing)."""
    found: set[str] = set()
    current = None
    for line in text.splitlines():
        if line.startswith("*"):
            current = line[1:].strip()
        elif line.startswith(":") and current == table:
            found.add(line[1:].split(None, 1)[0])
    return found


# ---------------------------------------------------------------------------------------------
# Rule structure


@dataclass(frozen=True)
class Option:
    """``[!] --name value...`` (or an address match such as ``! -s 10.0.0.0/8``)."""

    name: str
    values: tuple[str, ...] = ()
    negated: bool = False

    @property
    def value(self) -> str:
        return self.values[0] if self.values else ""


@dataclass(frozen=True)
class Module:
    """``-m name`` and the options that follow it."""

    name: str
    options: tuple[Option, ...] = ()

    def option(self, name: str) -> Option | None:
        for opt in self.options:
            if opt.name == name:
                return opt
        return None


@dataclass(frozen=True)
class RuleSpec:
    source: Option | None = None
    destination: Option | None = None
    protocol: Option | None = None
    in_interface: Option | None = None
    out_interface: Option | None = None
    fragment: Option | None = None
    matches: tuple[Module, ...] = ()
    target: str | None = None
    goto: bool = False
    target_options: tuple[Option, ...] = ()

    def match(self, name: str) -> Module | None:
        for m in self.matches:
            if m.name == name:
                return m
        return None

    def target_option(self, name: str) -> Option | None:
        for opt in self.target_options:
            if opt.name == name:
                return opt
        return None


_ADDRESS_FLAGS = {
    "-s": "source",
    "--source": "source",
    "--src": "source",
    "-d": "destination",
    "--destination": "destination",
    "--dst": "destination",
    "-p": "protocol",
    "--protocol": "protocol",
    "-i": "in_interface",
    "--in-interface": "in_interface",
    "-o": "out_interface",
    "--out-interface": "out_interface",
}
# Options that always take exactly one value, even one that looks like a flag.
_ONE_VALUE = {"--comment", "--log-prefix", "--nfacct-name"}


def parse_rule(args: Sequence[str]) -> RuleSpec:
    """Split a rule's words into address matches, match modules and the target."""
    fields: dict[str, Option] = {}
    modules: list[tuple[str, list[Option]]] = []
    target: str | None = None
    goto = False
    target_opts: list[Option] = []
    current: list[Option] | None = None  # where "--option" words go
    negate = False
    words = list(args)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "!":
            negate = True
            continue
        if word in _ADDRESS_FLAGS:
            if i >= len(words):
                raise ParseError(f"{word} needs a value")
            fields[_ADDRESS_FLAGS[word]] = Option(word, (words[i],), negate)
            i += 1
        elif word in ("-f", "--fragment"):
            fields["fragment"] = Option(word, (), negate)
        elif word in ("-m", "--match"):
            if i >= len(words):
                raise ParseError("-m needs a module name")
            current = []
            modules.append((words[i], current))
            i += 1
        elif word in ("-j", "--jump", "-g", "--goto"):
            if i >= len(words):
                raise ParseError(f"{word} needs a target")
            target = words[i]
            goto = word in ("-g", "--goto")
            current = target_opts
            i += 1
        elif word.startswith("--"):
            values: list[str] = []
            if word in _ONE_VALUE and i < len(words):
                values.append(words[i])
                i += 1
            else:
                while i < len(words) and not words[i].startswith("-") and words[i] != "!":
                    values.append(words[i])
                    i += 1
            if current is None:
                # "-p tcp --dport 80" without "-m tcp": iptables loads the protocol's module.
                proto = fields.get("protocol")
                if proto is None:
                    raise ParseError(f"option {word} before any -m or -j")
                current = []
                modules.append((proto.value, current))
            current.append(Option(word, tuple(values), negate))
        else:
            raise ParseError(f"unexpected word {word!r}")
        negate = False
    if negate:
        raise ParseError("dangling '!'")
    return RuleSpec(
        source=fields.get("source"),
        destination=fields.get("destination"),
        protocol=fields.get("protocol"),
        in_interface=fields.get("in_interface"),
        out_interface=fields.get("out_interface"),
        fragment=fields.get("fragment"),
        matches=tuple(Module(name, tuple(opts)) for name, opts in modules),
        target=target,
        goto=goto,
        target_options=tuple(target_opts),
    )


def iter_rules(dump: Dump, table: str) -> Iterator[tuple[str, Rule]]:
    t = dump.tables.get(table)
    if t is None:
        return
    for chain in t.chains.values():
        for rule in chain.rules:
            yield chain.name, rule
