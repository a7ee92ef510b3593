"""Follow a NEW packet through an iptables dump and say what happens to it.

The walk mirrors netfilter's IPv4 path for the first packet of a connection: nat PREROUTING
(or nat OUTPUT for a packet the node itself sends), then the routing decision on the possibly
DNATed destination, then filter INPUT / FORWARD / OUTPUT, then nat POSTROUTING for packets that
leave. A ``statistic`` match forks the walk, so the result lists every way the packet can go;
``recent`` matches consult the ``recent`` mapping (list name -> source IPs in it).

Only what kube-proxy and the usual host rules use is understood; anything else is assumed to
match and reported in ``Trace.warnings`` so a surprising answer can be explained.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace

from kproxy.rules.jumps import JUMP_RULES
from kproxy.rules.parse import (
    Chain,
    Dump,
    Module,
    Option,
    ParseError,
    Rule,
    RuleSpec,
    Table,
    join_args,
    parse_rule,
)

_MAX_DEPTH = 64
_CONTINUING_TARGETS = frozenset(
    {"LOG", "NFLOG", "TRACE", "CONNMARK", "CT", "NOTRACK", "TCPMSS", "CHECKSUM", "AUDIT"}
)
_FILTER_VERDICTS = frozenset({"ACCEPT", "DROP", "REJECT"})
_DPORT_OPTIONS = frozenset(
    {"--dport", "--destination-port", "--dports", "--destination-ports", "--ports"}
)


class TraceError(ValueError):
    """The dump cannot be followed (jump loop, malformed rule)."""


@dataclass(frozen=True)
class Packet:
    src_ip: str
    dst_ip: str
    protocol: str
    dst_port: int
    local_src: bool = False  # sent by the node itself (nat OUTPUT) rather than received

    def __str__(self) -> str:
        origin = "sent by this node" if self.local_src else "arriving from the network"
        return f"{self.protocol} {self.src_ip} -> {self.dst_ip}:{self.dst_port} ({origin})"


@dataclass(frozen=True)
class PathTrace:
    """One way the packet can go (there are several when statistic rules pick endpoints)."""

    dnat: str | None  # "ip:port" the destination was rewritten to, if any
    hook: str  # filter hook taken after routing: INPUT, FORWARD or OUTPUT
    verdict: str  # ACCEPT, DROP or REJECT
    verdict_by: str  # "filter/CHAIN" of the deciding rule, or "filter/CHAIN policy"
    masquerade: bool  # source NATed to the outgoing interface's address
    snat: str | None  # explicit SNAT address, if any
    matched: tuple[str, ...]  # "table/CHAIN: rule" for each rule that matched, in order

    @property
    def delivered(self) -> bool:
        return self.verdict == "ACCEPT"


@dataclass(frozen=True)
class Trace:
    packet: Packet
    paths: tuple[PathTrace, ...]
    warnings: tuple[str, ...] = ()

    @property
    def destinations(self) -> frozenset[str]:
        """DNAT targets the packet can reach (paths that were not dropped)."""
        return frozenset(p.dnat for p in self.paths if p.dnat and p.delivered)

    @property
    def verdicts(self) -> frozenset[str]:
        return frozenset(p.verdict for p in self.paths)

    @property
    def masquerade(self) -> bool:
        """True if any delivered path is masqueraded."""
        return any(p.masquerade for p in self.paths if p.delivered)

    @property
    def outcome(self) -> str:
        """Compact result in upstream's test style: "ip:port, ip:port", "REJECT", or ""."""
        parts = sorted(self.destinations, key=_endpoint_key)
        parts += sorted(v for v in self.verdicts if v != "ACCEPT")
        return ", ".join(parts)

    def describe(self, verbose: bool = False) -> str:
        """Plain-words explanation, one line per distinct outcome."""
        lines = [f"packet: {self.packet}"]
        distinct = list(
            dict.fromkeys(
                (p.dnat, p.hook, p.verdict, p.verdict_by, p.masquerade, p.snat) for p in self.paths
            )
        )
        if len(distinct) > 1:
            lines.append(f"{len(distinct)} possible outcomes (statistic rules choose at random):")
        for dnat, hook, verdict, verdict_by, masq, snat in distinct:
            lines.append("  - " + _describe_path(dnat, hook, verdict, verdict_by, masq, snat))
        if verbose:
            for i, p in enumerate(self.paths, start=1):
                lines.append(f"path {i} matched:")
                lines.extend(f"    {m}" for m in p.matched)
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def _endpoint_key(endpoint: str) -> tuple[int, int]:
    ip, _, port = endpoint.rpartition(":")
    try:
        return (int(ipaddress.IPv4Address(ip)), int(port))
    except ValueError:
        return (0, 0)


def _describe_path(
    dnat: str | None, hook: str, verdict: str, verdict_by: str, masq: bool, snat: str | None
) -> str:
    where = {"INPUT": "delivered to this node", "FORWARD": "forwarded", "OUTPUT": "sent out"}
    head = f"DNAT to {dnat}" if dnat else "destination not rewritten"
    if verdict != "ACCEPT":
        done = {"DROP": "dropped", "REJECT": "rejected"}.get(verdict, verdict)
        return f"{head}; then {done} in filter {hook} by {verdict_by}"
    tail = "masqueraded" if masq else (f"SNAT to {snat}" if snat else "source address kept")
    how = f"by {verdict_by}" if not verdict_by.endswith(" policy") else f"by the {verdict_by}"
    return f"{head}; {where.get(hook, hook)} (accepted {how}); {tail}"


# ---------------------------------------------------------------------------------------------
# Walking


@dataclass(frozen=True)
class _State:
    dst_ip: str
    dst_port: int
    mark: int = 0
    dnat: str | None = None
    snat: str | None = None
    masquerade: bool = False
    matched: tuple[str, ...] = ()


# (verdict or None for "fell through", where it was decided, state)
_Result = tuple[str | None, str, _State]


@dataclass
class _Walker:
    dump: Dump
    packet: Packet
    local_ips: frozenset[ipaddress.IPv4Address]
    recent: Mapping[str, Collection[str]]
    warnings: list[str] = field(default_factory=list)
    _specs: dict[int, RuleSpec] = field(default_factory=dict)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def is_local(self, ip: str) -> bool:
        addr = ipaddress.IPv4Address(ip)
        return addr.is_loopback or addr in self.local_ips

    def spec(self, rule: Rule) -> RuleSpec:
        spec = self._specs.get(id(rule))
        if spec is None:
            try:
                spec = parse_rule(rule.args)
            except ParseError as e:
                raise TraceError(f"cannot understand rule {rule.raw!r}: {e}") from None
            self._specs[id(rule)] = spec
        return spec

    def run_hook(self, table: str, chain: str, state: _State) -> list[_Result]:
        """Run a built-in chain; falling off its end applies its policy."""
        c = self.dump.chain(table, chain)
        policy = (c.policy if c else None) or "ACCEPT"
        out: list[_Result] = []
        for verdict, where, st in self.run_chain(table, chain, state, 0):
            if verdict is None or verdict == "RETURN":
                out.append((policy, f"{table}/{chain} policy", st))
            else:
                out.append((verdict, where, st))
        return out

    def run_chain(self, table: str, chain: str, state: _State, depth: int) -> list[_Result]:
        if depth > _MAX_DEPTH:
            raise TraceError(f"jumps nest deeper than {_MAX_DEPTH} at {table}/{chain} (a loop?)")
        c = self.dump.chain(table, chain)
        if c is None:
            return [(None, f"{table}/{chain}", state)]
        active = [state]
        finished: list[_Result] = []
        for rule in c.rules:
            spec = self.spec(rule)
            still: list[_State] = []
            for st in active:
                verdict = self.matches(spec, st)
                if verdict == "no":
                    still.append(st)
                    continue
                if verdict == "maybe":
                    still.append(st)  # the branch where the random match said no
                hit = replace(st, matched=(*st.matched, f"{table}/{chain}: {rule.raw}"))
                for result in self.apply(table, chain, spec, hit, depth):
                    if result[0] is None:
                        still.append(result[2])
                    elif result[0] == "RETURN":
                        finished.append((None, result[1], result[2]))
                    else:
                        finished.append(result)
            active = still
            if not active:
                break
        finished.extend((None, f"{table}/{chain}", st) for st in active)
        return finished

    def apply(
        self, table: str, chain: str, spec: RuleSpec, st: _State, depth: int
    ) -> list[_Result]:
        target = spec.target
        where = f"{table}/{chain}"
        if target is None:
            return [(None, where, st)]
        if target in _FILTER_VERDICTS or target == "RETURN":
            return [(target, where, st)]
        if target == "MARK":
            return [(None, where, replace(st, mark=_apply_mark(spec, st.mark)))]
        if target == "DNAT":
            return [("DNAT", where, self._dnat(spec, st))]
        if target == "REDIRECT":
            port = _first(spec.target_option("--to-ports")) or str(st.dst_port)
            local = sorted(self.local_ips)[0] if self.local_ips else "127.0.0.1"
            dnat = f"{local}:{port.split('-')[0]}"
            return [("DNAT", where, replace(st, dnat=dnat))]
        if target == "MASQUERADE":
            return [("MASQUERADE", where, replace(st, masquerade=True))]
        if target == "SNAT":
            to = _first(spec.target_option("--to-source")) or "?"
            return [("SNAT", where, replace(st, snat=to))]
        if self.dump.chain(table, target) is not None:
            results = []
            for verdict, vwhere, sub in self.run_chain(table, target, st, depth + 1):
                if verdict is None:
                    # Fell off the end of the called chain; a goto returns to our caller.
                    results.append(("RETURN" if spec.goto else None, vwhere, sub))
                else:
                    results.append((verdict, vwhere, sub))
            return results
        if target not in _CONTINUING_TARGETS:
            self.warn(f"target {target} in {where} is not understood; treated as a no-op")
        return [(None, where, st)]

    def _dnat(self, spec: RuleSpec, st: _State) -> _State:
        to = _first(spec.target_option("--to-destination"))
        if not to:
            raise TraceError("DNAT without --to-destination")
        ip, _, port = to.partition(":")
        ip = ip.split("-")[0]
        port = port.split("-")[0] or str(st.dst_port)
        return replace(st, dnat=f"{ip}:{port}", dst_ip=ip, dst_port=int(port))

    # -- matching ------------------------------------------------------------------------------

    def matches(self, spec: RuleSpec, st: _State) -> str:
        """ "yes", "no", or "maybe" (a random match that can go either way)."""
        pkt = self.packet
        if spec.source and not _addr_matches(spec.source, pkt.src_ip):
            return "no"
        if spec.destination and not _addr_matches(spec.destination, st.dst_ip):
            return "no"
        if spec.protocol:
            proto = spec.protocol.value.lower()
            hit = proto in ("all", "0") or proto == pkt.protocol
            if hit == spec.protocol.negated:
                return "no"
        for opt in (spec.in_interface, spec.out_interface):
            if opt is not None:
                # We do not know the interfaces; assume the packet uses none of those named.
                self.warn(f"interface match {opt.name} {opt.value} assumed not to match")
                if not opt.negated:
                    return "no"
        if spec.fragment and not spec.fragment.negated:
            return "no"  # a connection's first packet is not a later fragment
        result = "yes"
        for module in spec.matches:
            verdict = self._module_matches(module, st)
            if verdict == "no":
                return "no"
            if verdict == "maybe":
                result = "maybe"
        return result

    def _module_matches(self, module: Module, st: _State) -> str:
        name = module.name
        if name in ("comment", "nfacct"):
            return "yes"
        if name in ("tcp", "udp", "sctp"):
            if self.packet.protocol != name:
                return "no"
            return self._ports(module, st)
        if name == "multiport":
            return self._ports(module, st)
        if name == "addrtype":
            return self._addrtype(module, st)
        if name == "statistic":
            return self._statistic(module)
        if name == "recent":
            return self._recent(module, st)
        if name == "mark":
            return _all_yes(_mark_matches(opt, st.mark) for opt in module.options)
        if name in ("conntrack", "state"):
            return self._ctstate(module, st)
        self.warn(f"match module {name} is not understood; assumed to match")
        return "yes"

    def _ports(self, module: Module, st: _State) -> str:
        for opt in module.options:
            if opt.name in _DPORT_OPTIONS:
                hit = _port_in(opt.value, st.dst_port)
            elif opt.name in ("--sport", "--source-port", "--sports", "--source-ports"):
                self.warn(f"source-port match {opt.name} assumed to match")
                continue
            else:
                self.warn(f"option {opt.name} of -m {module.name} assumed to match")
                continue
            if hit == opt.negated:
                return "no"
        return "yes"

    def _addrtype(self, module: Module, st: _State) -> str:
        for opt in module.options:
            if opt.name == "--src-type":
                ip = self.packet.src_ip
            elif opt.name == "--dst-type":
                ip = st.dst_ip
            else:
                self.warn(f"addrtype option {opt.name} assumed to match")
                continue
            types = set(opt.value.split(","))
            actual = {"LOCAL", "UNICAST"} if self.is_local(ip) else {"UNICAST"}
            if not types <= {"LOCAL", "UNICAST"}:
                self.warn(f"address type {opt.value} is treated as UNICAST/LOCAL only")
            hit = bool(types & actual)
            if hit == opt.negated:
                return "no"
        return "yes"

    def _statistic(self, module: Module) -> str:
        mode = module.option("--mode")
        prob = module.option("--probability")
        if mode and mode.value == "random" and prob:
            p = float(prob.value)
            if p >= 1.0:
                return "no" if prob.negated else "yes"
            if p <= 0.0:
                return "yes" if prob.negated else "no"
        return "maybe"

    def _recent(self, module: Module, st: _State) -> str:
        name_opt = module.option("--name")
        name = name_opt.value if name_opt else "DEFAULT"
        ip = st.dst_ip if module.option("--rdest") else self.packet.src_ip
        listed = ip in self.recent.get(name, ())
        for opt in module.options:
            if opt.name in ("--rcheck", "--update", "--remove"):
                return "yes" if listed != opt.negated else "no"
        return "yes"  # --set always matches

    def _ctstate(self, module: Module, st: _State) -> str:
        states = {"NEW"} | ({"DNAT"} if st.dnat else set())
        for opt in module.options:
            if opt.name in ("--ctstate", "--state"):
                hit = bool(set(opt.value.split(",")) & states)
                if hit == opt.negated:
                    return "no"
            else:
                self.warn(f"conntrack option {opt.name} assumed to match")
        return "yes"


def _first(opt: Option | None) -> str | None:
    return opt.value if opt and opt.values else None


def _all_yes(results: Iterable[bool]) -> str:
    return "yes" if all(results) else "no"


def _addr_matches(opt: Option, ip: str) -> bool:
    value = opt.value
    addr = ipaddress.IPv4Address(ip)
    try:
        if "/" in value:
            hit = addr in ipaddress.IPv4Network(value, strict=False)
        else:
            hit = addr == ipaddress.IPv4Address(value)
    except ValueError:
        raise TraceError(f"cannot read address {value!r}") from None
    return hit != opt.negated


def _port_in(spec: str, port: int) -> bool:
    for part in spec.split(","):
        low, _, high = part.partition(":")
        if int(low or 0) <= port <= int(high or low or 65535):
            return True
    return False


def _split_mark(value: str) -> tuple[int, int]:
    mark, _, mask = value.partition("/")
    return int(mark, 0), int(mask, 0) if mask else 0xFFFFFFFF


def _mark_matches(opt: Option, mark: int) -> bool:
    value, mask = _split_mark(opt.value)
    return ((mark & mask) == value) != opt.negated


def _apply_mark(spec: RuleSpec, mark: int) -> int:
    for opt in spec.target_options:
        if opt.name == "--set-xmark":
            value, mask = _split_mark(opt.value)
            mark = (mark & ~mask & 0xFFFFFFFF) ^ value
        elif opt.name == "--set-mark":
            value, mask = _split_mark(opt.value)
            mark = (mark & ~mask & 0xFFFFFFFF) | value
        elif opt.name == "--or-mark":
            mark |= int(opt.value, 0)
        elif opt.name == "--xor-mark":
            mark ^= int(opt.value, 0)
        elif opt.name == "--and-mark":
            mark &= int(opt.value, 0)
    return mark


# ---------------------------------------------------------------------------------------------
# Entry point


def with_jump_rules(dump: Dump) -> Dump:
    """A copy of ``dump`` in which kproxy's jumps from built-in chains exist.

    A rendered rule set has no built-in chains (those jumps are installed separately), so to
    trace it the jumps a full sync would ensure are added. Chains that already jump to the
    target are left alone; the input is not modified.
    """
    tables = {name: Table(name, dict(t.chains)) for name, t in dump.tables.items()}
    # Inserted one by one at the top, in list order, as a full sync does: the last ends first.
    for jump in JUMP_RULES:
        table = tables.get(jump.table)
        if table is None or jump.target_chain not in table.chains:
            continue
        chain = table.chains.get(jump.source_chain)
        if chain is None:
            chain = Chain(jump.source_chain, "ACCEPT")
        if any(_jump_target(r) == jump.target_chain for r in chain.rules):
            continue
        args = jump.args()
        chain = Chain(
            chain.name,
            chain.policy,
            chain.packets,
            chain.bytes,
            [Rule(args, join_args(args)), *chain.rules],
        )
        table.chains[chain.name] = chain
    return Dump(tables)


def _jump_target(rule: Rule) -> str | None:
    args = rule.args
    for i, word in enumerate(args[:-1]):
        if word in ("-j", "-g", "--jump", "--goto"):
            return args[i + 1]
    return None


def trace_packet(
    dump: Dump,
    *,
    src_ip: str,
    dst_ip: str,
    protocol: str,
    dst_port: int,
    node_ips: Iterable[str],
    local_src: bool = False,
    recent: Mapping[str, Collection[str]] | None = None,
    assume_jumps: bool = True,
) -> Trace:
    """Trace a NEW packet; see the module docstring. ``protocol`` is tcp/udp/sctp."""
    packet = Packet(src_ip, dst_ip, protocol.lower(), dst_port, local_src)
    for ip in (src_ip, dst_ip):
        ipaddress.IPv4Address(ip)
    if assume_jumps:
        dump = with_jump_rules(dump)
    walker = _Walker(
        dump,
        packet,
        frozenset(ipaddress.IPv4Address(ip) for ip in node_ips),
        recent or {},
    )
    start = _State(dst_ip, dst_port)
    paths: list[PathTrace] = []
    nat_hook = "OUTPUT" if local_src else "PREROUTING"
    for verdict, where, st in _run_optional(walker, "nat", nat_hook, start):
        if verdict in ("DROP", "REJECT"):
            paths.append(_path(st, "-", verdict, where))
            continue
        hook = "OUTPUT" if local_src else ("INPUT" if walker.is_local(st.dst_ip) else "FORWARD")
        for fverdict, fwhere, fst in _run_optional(walker, "filter", hook, st):
            if fverdict != "ACCEPT" or hook == "INPUT":
                paths.append(_path(fst, hook, fverdict, fwhere))
                continue
            for _pverdict, _pwhere, pst in _run_optional(walker, "nat", "POSTROUTING", fst):
                if local_src and walker.is_local(pst.dst_ip):
                    paths.extend(_loopback_input(walker, pst))
                else:
                    paths.append(_path(pst, hook, "ACCEPT", fwhere))
    return Trace(packet, tuple(paths), tuple(walker.warnings))


def _loopback_input(walker: _Walker, st: _State) -> list[PathTrace]:
    """A packet the node sends to one of its own addresses leaves through OUTPUT and comes
    back in over loopback, so filter INPUT has the last word (kube-proxy's REJECT for a
    NodePort without endpoints lives there)."""
    return [
        _path(ist, "INPUT", verdict, where)
        for verdict, where, ist in _run_optional(walker, "filter", "INPUT", st)
    ]


def _run_optional(walker: _Walker, table: str, chain: str, st: _State) -> list[_Result]:
    if walker.dump.chain(table, chain) is None:
        return [("ACCEPT", f"{table}/{chain} policy", st)]
    results = walker.run_hook(table, chain, st)
    if table == "filter":
        return [(v if v in _FILTER_VERDICTS else "ACCEPT", w, s) for v, w, s in results]
    return results


def _path(st: _State, hook: str, verdict: str | None, where: str) -> PathTrace:
    return PathTrace(
        dnat=st.dnat,
        hook=hook,
        verdict=verdict or "ACCEPT",
        verdict_by=where,
        masquerade=st.masquerade,
        snat=st.snat,
        matched=st.matched,
    )
