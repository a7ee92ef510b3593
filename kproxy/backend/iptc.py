"""RulesBackend on python-iptables (libiptc): rule changes without spawning iptables.

libiptc is the LEGACY (x_tables) interface, so this backend sees and changes the same rules as
``iptables-legacy``; it cannot talk to nf_tables. Changes are batched: autocommit is off, every
table touched by a call gets one commit at the end, and nothing is committed if any operation
fails. ``restore()`` accepts the same iptables-restore text as the restore backend (parsed here,
then applied chain by chain), so the two are interchangeable. Reading (``save``) uses
``iptables-legacy-save``, which reads exactly what libiptc wrote.

libiptc acts on the calling process's network namespace. kproxy runs inside its node's
namespace, so normally the work happens in-process; with ``netns`` set (tests), each call is
carried out by a short-lived child that nsenter placed in that namespace
(``python -m kproxy.backend.iptc_worker``), speaking one JSON request/response.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kproxy.backend.base import BackendError, Position
from kproxy.backend.restore import RestoreBackend, check_netns, in_netns
from kproxy.rules.parse import (
    ChainDecl,
    ChainOp,
    Option,
    ParseError,
    RuleOp,
    parse_restore,
    parse_rule,
)

# -------------------------------------------------------------------------------------------
# In-process implementation


class LocalIptc:
    """The libiptc operations, run in the current process's network namespace."""

    def __init__(self) -> None:
        try:
            import iptc  # only loaded when used: it needs libxtables
        except Exception as e:  # the library raises various errors when libxtables is absent
            raise BackendError(f"python-iptables unavailable: {e}") from None
        self._iptc: Any = iptc

    def _table(self, name: str) -> Any:
        try:
            table = self._iptc.Table(name)
        except Exception as e:
            raise BackendError(f"can't initialize iptables table `{name}': {e}") from None
        table.autocommit = False
        table.refresh()  # start from the kernel's current state, dropping anything pending
        return table

    def _rule(self, args: Sequence[str]) -> Any:
        spec = parse_rule(args)
        rule = self._iptc.Rule()
        for attr, opt in (
            ("protocol", spec.protocol),
            ("src", spec.source),
            ("dst", spec.destination),
            ("in_interface", spec.in_interface),
            ("out_interface", spec.out_interface),
        ):
            if opt is not None:
                setattr(rule, attr, ("!" if opt.negated else "") + opt.value)
        if spec.fragment is not None:
            rule.fragment = not spec.fragment.negated
        for module in spec.matches:
            match = rule.create_match(module.name)
            for opt in module.options:
                _set_option(match, opt)
        # A rule without -j still needs libiptc's empty standard target ("fall through").
        target = rule.create_target(spec.target or "", goto=spec.goto)
        for opt in spec.target_options:
            _set_option(target, opt)
        return rule

    def restore(self, text: str, noflush: bool) -> None:
        try:
            blocks = parse_restore(text)
        except ParseError as e:
            raise BackendError(str(e), line=e.line) from None
        tables: dict[str, Any] = {}
        line: int | None = None
        try:
            for block in blocks:
                line = block.line
                table = tables.get(block.table)
                if table is None:
                    table = tables[block.table] = self._table(block.table)
                if not noflush:
                    _flush_table(table)
                for op in block.ops:
                    line = op.line
                    self._apply(table, op)
            line = None
            for table in tables.values():
                table.commit()
        except BackendError:
            _discard(tables.values())
            raise
        except Exception as e:
            _discard(tables.values())
            where = f"line {line}: " if line is not None else ""
            raise BackendError(f"{where}{e}", line=line) from None
        finally:
            for table in tables.values():
                table.refresh()

    def _apply(self, table: Any, op: ChainDecl | RuleOp | ChainOp) -> None:
        if isinstance(op, ChainDecl):
            if table.builtin_chain(op.chain):
                if op.policy != "-":
                    table.set_policy(op.chain, op.policy)
            elif op.policy != "-":
                raise BackendError(f"can't set policy on user chain {op.chain}", line=op.line)
            elif table.is_chain(op.chain):
                table.flush_entries(op.chain)  # --noflush semantics: a ":" line empties it
            else:
                table.create_chain(op.chain)
        elif isinstance(op, RuleOp):
            self._apply_rule_op(table, op)
        else:
            _apply_chain_op(table, op)

    def _apply_rule_op(self, table: Any, op: RuleOp) -> None:
        if not table.is_chain(op.chain):
            raise BackendError(f"chain {op.chain} does not exist", line=op.line)
        chain = self._iptc.Chain(table, op.chain)
        if op.op == "-D" and op.position is not None and not op.args:
            rules = chain.rules
            if not 1 <= op.position <= len(rules):
                raise BackendError(f"no rule {op.position} in {op.chain}", line=op.line)
            chain.delete_rule(rules[op.position - 1])
            return
        rule = self._rule(op.args)
        if op.op == "-A":
            chain.append_rule(rule)
        elif op.op == "-I":
            chain.insert_rule(rule, (op.position or 1) - 1)
        elif op.op == "-R":
            chain.replace_rule(rule, (op.position or 1) - 1)
        else:
            chain.delete_rule(rule)

    def ensure_chain(self, table_name: str, chain: str) -> bool:
        table = self._table(table_name)
        try:
            if table.is_chain(chain):
                return True
            table.create_chain(chain)
            table.commit()
            return False
        except Exception as e:
            raise BackendError(f"can't create chain {chain}: {e}") from None
        finally:
            table.refresh()

    def ensure_rule(
        self, position: Position, table_name: str, chain: str, args: Sequence[str]
    ) -> bool:
        table = self._table(table_name)
        try:
            if not table.is_chain(chain):
                raise BackendError(f"chain {chain} does not exist in {table_name}")
            c = self._iptc.Chain(table, chain)
            rule = self._rule(args)
            if any(rule == existing for existing in c.rules):
                return True
            if position == "-I":
                c.insert_rule(rule, 0)
            else:
                c.append_rule(rule)
            table.commit()
            return False
        except BackendError:
            raise
        except Exception as e:
            raise BackendError(f"can't add rule to {chain}: {e}") from None
        finally:
            table.refresh()

    def delete_rule(self, table_name: str, chain: str, args: Sequence[str]) -> bool:
        table = self._table(table_name)
        try:
            if not table.is_chain(chain):
                return False
            c = self._iptc.Chain(table, chain)
            rule = self._rule(args)
            if not any(rule == existing for existing in c.rules):
                return False
            c.delete_rule(rule)
            table.commit()
            return True
        except Exception as e:
            raise BackendError(f"can't delete rule from {chain}: {e}") from None
        finally:
            table.refresh()

    def delete_chain(self, table_name: str, chain: str) -> bool:
        table = self._table(table_name)
        try:
            if not table.is_chain(chain):
                return False
            table.delete_chain(chain)
            table.commit()
            return True
        except Exception as e:
            raise BackendError(f"can't delete chain {chain}: {e}") from None
        finally:
            table.refresh()


def _set_option(module: Any, opt: Option) -> None:
    """Hand ``[!] --name values`` to a python-iptables match or target."""
    value: str | list[str]
    if not opt.values:
        value = ""
    elif len(opt.values) == 1:
        value = opt.values[0]
    else:
        value = list(opt.values)
    if opt.negated:
        value = "!" + value if isinstance(value, str) else ["!", *value]
    module.set_parameter(opt.name[2:], value)


def _apply_chain_op(table: Any, op: ChainOp) -> None:
    name = op.chain
    if op.op == "-N":
        table.create_chain(name)
    elif op.op == "-X":
        if name is None:
            for chain in table.chains:
                if not table.builtin_chain(chain.name):
                    table.delete_chain(chain.name)
        else:
            table.delete_chain(name)
    elif op.op == "-F":
        for chain in [name] if name else [c.name for c in table.chains]:
            table.flush_entries(chain)
    elif op.op == "-Z":
        for chain in [name] if name else [c.name for c in table.chains]:
            table.zero_entries(chain)
    elif op.op == "-P":
        table.set_policy(name, op.policy)


def _flush_table(table: Any) -> None:
    """What iptables-restore does without --noflush: empty every chain, drop user chains."""
    names = [c.name for c in table.chains]
    for name in names:
        table.flush_entries(name)
    for name in names:
        if not table.builtin_chain(name):
            table.delete_chain(name)


def _discard(tables: Any) -> None:
    for table in tables:
        table.refresh()  # autocommit is off, so this drops the uncommitted changes


def dispatch(local: LocalIptc, method: str, params: dict[str, Any]) -> Any:
    """Call one of LocalIptc's operations by name (the worker's request format)."""
    p = params
    if method == "restore":
        return local.restore(str(p["text"]), bool(p["noflush"]))
    if method == "ensure_chain":
        return local.ensure_chain(p["table_name"], p["chain"])
    if method == "ensure_rule":
        return local.ensure_rule(p["position"], p["table_name"], p["chain"], p["args"])
    if method == "delete_rule":
        return local.delete_rule(p["table_name"], p["chain"], p["args"])
    if method == "delete_chain":
        return local.delete_chain(p["table_name"], p["chain"])
    raise BackendError(f"unknown iptc operation {method!r}")


# -------------------------------------------------------------------------------------------
# Child process in another namespace

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def call_worker(netns: str, method: str, params: dict[str, Any], timeout: float) -> Any:
    """Run one LocalIptc method inside ``/run/netns/<netns>`` and return its result."""
    argv = in_netns(netns, [sys.executable, "-m", "kproxy.backend.iptc_worker"])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
    request = json.dumps({"method": method, "params": params})
    try:
        proc = subprocess.run(
            argv,
            input=request,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BackendError(f"iptc worker in {netns} timed out after {timeout}s") from None
    try:
        reply = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise BackendError(
            f"iptc worker in {netns} failed (exit {proc.returncode})", detail=proc.stderr
        ) from None
    if not reply.get("ok"):
        raise BackendError(reply.get("message", "iptc worker error"), line=reply.get("line"))
    return reply.get("result")


# -------------------------------------------------------------------------------------------
# The backend


class IptcBackend:
    """RulesBackend on libiptc (legacy iptables)."""

    name = "python-iptables"

    def __init__(self, *, netns: str | None = None, timeout: float = 120.0) -> None:
        check_netns(netns)
        self.netns = netns
        self.timeout = timeout
        self._local = LocalIptc() if netns is None else None
        # libiptc has no "save"; iptables-legacy-save reads the same kernel tables.
        self._reader = RestoreBackend("legacy", netns=netns, timeout=timeout)

    def _call(self, method: str, params: dict[str, Any]) -> Any:
        if self._local is not None:
            return dispatch(self._local, method, params)
        assert self.netns is not None
        return call_worker(self.netns, method, params, self.timeout)

    def restore(self, text: str, *, noflush: bool = True, counters: bool = False) -> None:
        # Counters are not carried over: kproxy only writes zeroed chains.
        self._call("restore", {"text": text, "noflush": noflush})

    def save(self, table: str) -> str:
        return self._reader.save(table)

    def ensure_chain(self, table: str, chain: str) -> bool:
        return bool(self._call("ensure_chain", {"table_name": table, "chain": chain}))

    def ensure_rule(self, position: Position, table: str, chain: str, args: Sequence[str]) -> bool:
        params = {"position": position, "table_name": table, "chain": chain, "args": list(args)}
        return bool(self._call("ensure_rule", params))

    def delete_rule(self, table: str, chain: str, args: Sequence[str]) -> bool:
        params = {"table_name": table, "chain": chain, "args": list(args)}
        return bool(self._call("delete_rule", params))

    def delete_chain(self, table: str, chain: str) -> bool:
        return bool(self._call("delete_chain", {"table_name": table, "chain": chain}))

    def has_random_fully(self) -> bool:
        return self._reader.has_random_fully()
