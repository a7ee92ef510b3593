"""The backends the lab compares, and a wrapper that times what each one does."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from kproxy.backend.base import BackendError, Position, RulesBackend
from kproxy.backend.restore import RestoreBackend
from kproxy.lab.bounded import Outcome, run_bounded, timeout_text

Variant = Literal["legacy", "nft"]


@dataclass(frozen=True)
class BackendSpec:
    name: str
    # The kernel interface its rules land in, hence which iptables tools see them, and which
    # iptables-restore is its floor (libiptc writes the legacy x_tables).
    variant: Variant
    label: str

    @property
    def iptables(self) -> str:
        return f"iptables-{self.variant}"

    @property
    def restore_tool(self) -> str:
        return f"iptables-{self.variant}-restore"


BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec("restore-legacy", "legacy", "iptables-legacy-restore"),
        BackendSpec("restore-nft", "nft", "iptables-nft-restore"),
        BackendSpec("python-iptables", "legacy", "python-iptables (libiptc)"),
    )
}


def backend_spec(name: str) -> BackendSpec:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}") from None


@dataclass
class BoundedRunner:
    """RestoreBackend's command runner, killing overrunning tools by pid and remembering it."""

    timeouts: list[Outcome] = field(default_factory=list)

    def __call__(
        self, argv: Sequence[str], stdin: str | None, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        out = run_bounded(argv, stdin, timeout=timeout)
        if out.returncode is None:
            self.timeouts.append(out)
            raise BackendError(f"{argv[0]} killed: {timeout_text(timeout)}")
        return subprocess.CompletedProcess(list(argv), out.returncode, out.stdout, out.stderr)


def make_backend(spec: BackendSpec, timeout: float, runner: BoundedRunner) -> RulesBackend:
    """The real backend, acting on the calling process's network namespace."""
    if spec.name == "python-iptables":
        from kproxy.backend.iptc import IptcBackend  # needs libxtables: load only when used

        return IptcBackend(timeout=timeout)
    return RestoreBackend(spec.variant, timeout=timeout, runner=runner)


class TimedBackend:
    """Delegates to a backend, recording every restore's input and duration, and saves'."""

    def __init__(self, inner: RulesBackend) -> None:
        self.inner = inner
        self.restores: list[tuple[int, float]] = []  # (input bytes, seconds)
        self.save_seconds = 0.0
        self.last_text = ""

    def reset(self) -> None:
        self.restores.clear()
        self.save_seconds = 0.0

    @property
    def restore_seconds(self) -> float:
        return sum(s for _, s in self.restores)

    @property
    def name(self) -> str:
        return self.inner.name

    def restore(self, text: str, *, noflush: bool = True, counters: bool = False) -> None:
        started = time.perf_counter()
        try:
            self.inner.restore(text, noflush=noflush, counters=counters)
        finally:
            self.restores.append((len(text.encode()), time.perf_counter() - started))
            self.last_text = text

    def save(self, table: str) -> str:
        started = time.perf_counter()
        try:
            return self.inner.save(table)
        finally:
            self.save_seconds += time.perf_counter() - started

    def ensure_chain(self, table: str, chain: str) -> bool:
        return self.inner.ensure_chain(table, chain)

    def ensure_rule(self, position: Position, table: str, chain: str, args: Sequence[str]) -> bool:
        return self.inner.ensure_rule(position, table, chain, args)

    def delete_rule(self, table: str, chain: str, args: Sequence[str]) -> bool:
        return self.inner.delete_rule(table, chain, args)

    def delete_chain(self, table: str, chain: str) -> bool:
        return self.inner.delete_chain(table, chain)

    def has_random_fully(self) -> bool:
        return self.inner.has_random_fully()
