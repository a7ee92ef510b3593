"""RulesBackend that runs iptables-restore / iptables-save / iptables as subprocesses.

Commands are argv lists (never a shell), always with ``-w`` so concurrent writers wait for the
xtables lock instead of failing. The iptables flavour is chosen explicitly: ``legacy`` (the
x_tables kernel API, what libiptc uses) or ``nft`` (nf_tables with the iptables syntax); ``auto``
decides as Kubernetes' iptables-wrapper does. With ``netns`` every command runs inside
``/run/netns/<netns>`` via nsenter, which is how tests aim at scratch namespaces.

iptables-nft-restore ``--noflush`` is quadratic in the size of its input unless told otherwise;
``nft_restore_input`` does so (see its docstring and docs/kproxy-nft-scaling.md).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from typing import Literal

from knet.netlink.exec import netns_argv
from knet.netlink.names import validate_netns_name
from kproxy.backend.base import BackendError, Position

Variant = Literal["legacy", "nft"]
Runner = Callable[[Sequence[str], str | None, float], "subprocess.CompletedProcess[str]"]

_TOOLS: dict[str, tuple[str, str, str]] = {
    "legacy": ("iptables-legacy", "iptables-legacy-save", "iptables-legacy-restore"),
    "nft": ("iptables-nft", "iptables-nft-save", "iptables-nft-restore"),
}
# kubelet (1.17+) creates one of these in mangle; their presence says which flavour it uses.
_HINT_CHAINS = re.compile(r"^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY)\b", re.MULTILINE)
_ERROR_LINE = re.compile(r"line:? (\d+)")
_MISSING = ("does a matching rule exist", "No chain/target/match by that name", "does not exist")

# Tables whose restore input declares at least this many chains are restored in
# iptables-nft's "all chains" cache mode (``nft_restore_input``): a full sync declares every
# chain kproxy owns, a partial sync only the changed Services' chains.
NFT_ALL_CHAINS_MIN_DECLARED = 1000
# A command that names no chain, changes nothing and makes iptables-nft fetch the whole table.
NFT_ALL_CHAINS_COMMAND = "-S"
# Rule commands on built-in chains (which iptables-nft creates only when first used).
_BUILTIN_RULE = re.compile(r"\n-[AIDRC] (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ")


def in_netns(netns: str | None, argv: Sequence[str]) -> list[str]:
    """``argv`` run inside the named network namespace (knet's netns_argv), or as is."""
    return list(argv) if netns is None else netns_argv(netns, argv)


def check_netns(netns: str | None) -> None:
    """Raise ValueError for a namespace name that is not safe under /run/netns."""
    if netns is not None:
        validate_netns_name(netns)


def run_subprocess(
    argv: Sequence[str], stdin: str | None, timeout: float
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as e:
        raise BackendError(f"{argv[0]} not found: {e}") from None
    except subprocess.TimeoutExpired:
        raise BackendError(f"{' '.join(argv[:4])} timed out after {timeout}s") from None


def choose_variant(legacy_save: str, nft_save: str) -> Variant:
    """iptables-wrapper's rule: kubelet's hint chains first, then whichever has more rules."""
    if _HINT_CHAINS.search(nft_save):
        return "nft"
    if _HINT_CHAINS.search(legacy_save):
        return "legacy"
    legacy_rules = sum(1 for line in legacy_save.splitlines() if line.startswith("-"))
    nft_rules = sum(1 for line in nft_save.splitlines() if line.startswith("-"))
    return "legacy" if legacy_rules > nft_rules else "nft"


def nft_restore_input(text: str, min_declared: int = NFT_ALL_CHAINS_MIN_DECLARED) -> str:
    """``text`` as kproxy feeds it to ``iptables-nft-restore --noflush``: the same changes, with
    ``-S`` as the first command of every table that declares ``min_declared`` chains or more.

    Under ``--noflush`` iptables-nft (1.8.x) fetches only the chains the input names. It collects
    those names, from every command's chain and jump target, in a list kept sorted by a linear
    walk from its head (nft-cache.c ``cache_chain_list_insert``), so restoring C commands that
    name N chains costs O(C x N) string comparisons: 26 s for a 2,000-Service full sync, more
    than 400 s at 4,000. A command without a chain switches that list off for its table and
    fetches the whole table instead. ``-S`` (list the table's rules) is the only such command
    that changes nothing; it costs a dump of the table (and its printout on stdout), which is
    worth paying only when the input rewrites a large part of the table. The ruleset that
    results is the same either way (iptables-nft-save shows identical dumps).

    Listing stands in missing built-in chains with placeholders, after which iptables-nft 1.8.9
    no longer creates them for a rule and the kernel answers ENOENT. So each built-in chain the
    table's rules use is declared first with policy ``-``, which creates it if missing and
    leaves an existing one (its policy and rules) alone.
    """
    out: list[str] = []
    done = 0
    for header_end, end in _table_sections(text):
        if text.count("\n:", header_end, end) < min_declared:
            continue
        builtins = sorted(set(_BUILTIN_RULE.findall(text, header_end, end)))
        out.append(text[done:header_end])
        out.extend(f"\n:{chain} - [0:0]" for chain in builtins)
        out.append(f"\n{NFT_ALL_CHAINS_COMMAND}")
        done = header_end
    out.append(text[done:])
    return "".join(out)


def _table_sections(text: str) -> list[tuple[int, int]]:
    """(end of the ``*table`` line, start of the next one or end of text) per table."""
    starts = [0] if text.startswith("*") else []
    at = text.find("\n*")
    while at >= 0:
        starts.append(at + 1)
        at = text.find("\n*", at + 1)
    sections = []
    for i, start in enumerate(starts):
        line_end = text.find("\n", start)
        header_end = len(text) if line_end < 0 else line_end
        end = starts[i + 1] - 1 if i + 1 < len(starts) else len(text)
        sections.append((header_end, end))
    return sections


def parse_version(text: str) -> tuple[int, ...]:
    m = re.search(r"v(\d+)\.(\d+)\.(\d+)", text)
    if not m:
        raise BackendError(f"cannot read iptables version from {text!r}")
    return tuple(int(x) for x in m.groups())


class RestoreBackend:
    """iptables via its command-line tools."""

    def __init__(
        self,
        variant: Literal["legacy", "nft", "auto"] = "auto",
        *,
        netns: str | None = None,
        timeout: float = 120.0,
        runner: Runner | None = None,
        nft_all_chains_min_declared: int = NFT_ALL_CHAINS_MIN_DECLARED,
    ) -> None:
        check_netns(netns)  # a bad name fails here, not at the first command
        self.nft_all_chains_min_declared = nft_all_chains_min_declared
        self.netns = netns
        self.timeout = timeout
        self._run = runner or run_subprocess
        if variant == "auto":
            variant = self._detect()
        if variant not in _TOOLS:
            raise ValueError(f"variant must be legacy, nft or auto, not {variant!r}")
        self.variant: Variant = variant
        self._iptables, self._save, self._restore = _TOOLS[variant]

    @property
    def name(self) -> str:
        return f"iptables-{self.variant}"

    def _exec(
        self, argv: Sequence[str], stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self._run(in_netns(self.netns, argv), stdin, self.timeout)

    def _detect(self) -> Variant:
        outputs = []
        for variant in ("legacy", "nft"):
            try:
                proc = self._exec([_TOOLS[variant][1]])
                outputs.append(proc.stdout if proc.returncode == 0 else "")
            except BackendError:
                outputs.append("")
        return choose_variant(outputs[0], outputs[1])

    # -- RulesBackend ------------------------------------------------------------------------

    def restore(self, text: str, *, noflush: bool = True, counters: bool = False) -> None:
        argv = [self._restore, "-w"]
        if noflush:
            argv.append("--noflush")
        if counters:
            argv.append("--counters")
        if noflush and self.variant == "nft":
            # Without --noflush the table flush already makes iptables-nft fetch whole tables.
            text = nft_restore_input(text, self.nft_all_chains_min_declared)
        proc = self._exec(argv, text)
        if proc.returncode != 0:
            # Line numbers are those of what the tool read, which the message quotes.
            raise _restore_error(self._restore, proc.stderr, text)

    def save(self, table: str) -> str:
        proc = self._exec([self._save, "-t", table])
        if proc.returncode != 0:
            raise BackendError(
                f"{self._save} -t {table} failed: {_first_line(proc.stderr)}", detail=proc.stderr
            )
        return proc.stdout

    def _iptables_cmd(self, table: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self._exec([self._iptables, "-w", "-t", table, *args])

    def ensure_chain(self, table: str, chain: str) -> bool:
        proc = self._iptables_cmd(table, "-N", chain)
        if proc.returncode == 0:
            return False
        if "already exists" in proc.stderr:
            return True
        raise self._cmd_error("-N", table, chain, proc)

    def ensure_rule(self, position: Position, table: str, chain: str, args: Sequence[str]) -> bool:
        if self._check_rule(table, chain, args):
            return True
        proc = self._iptables_cmd(table, position, chain, *args)
        if proc.returncode != 0:
            raise self._cmd_error(position, table, chain, proc)
        return False

    def delete_rule(self, table: str, chain: str, args: Sequence[str]) -> bool:
        if not self._check_rule(table, chain, args):
            return False
        proc = self._iptables_cmd(table, "-D", chain, *args)
        if proc.returncode != 0:
            raise self._cmd_error("-D", table, chain, proc)
        return True

    def delete_chain(self, table: str, chain: str) -> bool:
        proc = self._iptables_cmd(table, "-X", chain)
        if proc.returncode == 0:
            return True
        if any(m in proc.stderr for m in _MISSING):
            return False
        raise self._cmd_error("-X", table, chain, proc)

    def has_random_fully(self) -> bool:
        # --random-fully arrived in iptables 1.6.2.
        proc = self._exec([self._iptables, "--version"])
        return parse_version(proc.stdout + proc.stderr) >= (1, 6, 2)

    def _check_rule(self, table: str, chain: str, args: Sequence[str]) -> bool:
        proc = self._iptables_cmd(table, "-C", chain, *args)
        if proc.returncode == 0:
            return True
        if proc.returncode == 1 and any(m in proc.stderr for m in _MISSING):
            return False
        raise self._cmd_error("-C", table, chain, proc)

    def _cmd_error(
        self, op: str, table: str, chain: str, proc: subprocess.CompletedProcess[str]
    ) -> BackendError:
        return BackendError(
            f"{self._iptables} -t {table} {op} {chain} failed: {_first_line(proc.stderr)}",
            detail=proc.stderr,
        )


def _first_line(stderr: str) -> str:
    for line in stderr.splitlines():
        if line.strip():
            return line.strip()
    return "(no error output)"


def _restore_error(tool: str, stderr: str, text: str) -> BackendError:
    """BackendError carrying iptables' own message and the offending input line."""
    m = _ERROR_LINE.search(stderr)
    line = int(m.group(1)) if m else None
    message = f"{tool} failed: {_first_line(stderr)}"
    if line is not None:
        lines = text.splitlines()
        if 0 < line <= len(lines):
            message += f" (line {line}: {lines[line - 1][:200]})"
    return BackendError(message, line=line, detail=stderr)
