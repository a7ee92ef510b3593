"""A small linearizability checker for a register per key (Wing & Gong's search, with Lowe's
memoisation of visited (done set, state) pairs).

The register is an API object as the API server offers it: absent or a value with a version
(its resourceVersion, which is the store's global revision, so every write's version is larger
than any version before it). Operations: create, compare-and-swap on the version (an update
with a resourceVersion precondition), delete (optionally with a precondition), read.

A history is what clients saw: each operation's invocation and completion times and its
outcome. An operation whose outcome is unknown (a timeout, a lost connection: the write may or
may not have happened, and at any time after it was invoked) may be placed anywhere after its
invocation or left out. The history is linearizable when every operation with a known outcome
can be put in one order that respects real time (an operation that completed before another
began comes first) and in which each returns what the register would have returned.

Pure: no I/O; the chaos tests record histories and call `check_history`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    CREATE = "create"
    CAS = "cas"  # update with a resourceVersion precondition
    DELETE = "delete"
    READ = "read"


class Outcome(Enum):
    OK = "ok"
    FAIL = "fail"  # a definite refusal: exists, not found, conflict
    UNKNOWN = "unknown"  # no answer: may or may not have taken effect


@dataclass(frozen=True)
class Op:
    """One client operation on ``key``.

    ``value``: what a create or CAS writes. ``expected``: a CAS's (or conditional delete's)
    precondition version. ``version``: for an OK write the version it returned (a delete's: its
    revision); for an OK read the version seen, None when the read found nothing, in which case
    ``value`` is None too. ``end`` is None when the outcome is UNKNOWN.
    """

    client: str
    key: str
    kind: Kind
    start: float
    end: float | None
    outcome: Outcome
    value: str | None = None
    expected: int | None = None
    version: int | None = None

    def __str__(self) -> str:
        parts = [f"{self.client} {self.kind.value} {self.key}"]
        if self.expected is not None:
            parts.append(f"if rv={self.expected}")
        if self.value is not None:
            parts.append(f"value={self.value!r}")
        parts.append(f"-> {self.outcome.value}")
        if self.version is not None:
            parts.append(f"rv={self.version}")
        end = "?" if self.end is None else f"{self.end:.3f}"
        return " ".join(parts) + f" [{self.start:.3f}, {end}]"


@dataclass(frozen=True)
class State:
    """The register: ``value`` None when absent. ``version`` None when an operation of unknown
    outcome wrote it (a later observation binds it); ``floor`` is the largest version known so
    far (versions only grow)."""

    value: str | None = None
    version: int | None = None
    floor: int = 0

    @property
    def present(self) -> bool:
        return self.value is not None


def _matches(state: State, expected: int | None) -> bool:
    """Could the register's version be ``expected`` (None: no precondition)?"""
    if expected is None:
        return True
    if state.version is None:
        return expected > state.floor
    return state.version == expected


def _step_write(state: State, op: Op) -> State | None:
    if op.kind is Kind.CREATE:
        allowed = not state.present
    else:
        allowed = state.present and _matches(state, op.expected)
    if op.outcome is Outcome.FAIL:
        # A refusal is right when the precondition may fail; with an unbound version, a CAS
        # may have met a different one.
        if op.kind is Kind.CREATE:
            return state if state.present else None
        mismatch = op.expected is not None and (
            state.version is None or state.version != op.expected
        )
        return state if (not state.present or mismatch) else None
    if not allowed:
        return None
    floor = max(state.floor, op.expected or 0)
    value = None if op.kind is Kind.DELETE else op.value
    if op.outcome is Outcome.UNKNOWN:
        return State(value, None, floor)
    assert op.version is not None
    if op.version <= floor:
        return None
    return State(value, None if value is None else op.version, op.version)


def step(state: State, op: Op) -> State | None:
    """The register after ``op``, or None when ``op``'s outcome is impossible from ``state``."""
    if op.kind is not Kind.READ:
        return _step_write(state, op)
    if op.outcome is not Outcome.OK:
        return state
    if op.value is None:
        return state if not state.present else None
    if state.value != op.value or op.version is None:
        return None
    if state.version is None:
        return State(op.value, op.version, op.version) if op.version > state.floor else None
    return state if state.version == op.version else None


@dataclass(frozen=True)
class Verdict:
    key: str
    ok: bool
    detail: str = ""


def check_key(key: str, ops: Sequence[Op], initial: State | None = None) -> Verdict:
    """Is the history of one key linearizable? Depth-first search over the next operation to
    take effect; (done set, state) pairs already explored are not explored again."""
    history = sorted((op for op in ops if not _irrelevant(op)), key=lambda o: o.start)
    ends = [math.inf if op.end is None else op.end for op in history]
    required = 0
    for i, op in enumerate(history):
        if op.outcome is not Outcome.UNKNOWN:
            required |= 1 << i
    start_state = initial or State()
    seen: set[tuple[int, State]] = set()
    stack: list[tuple[int, State]] = [(0, start_state)]
    best = 0
    while stack:
        done, state = stack.pop()
        if done & required == required:
            return Verdict(key, True)
        if (done, state) in seen:
            continue
        seen.add((done, state))
        best = max(best, bin(done & required).count("1"))
        pending = [i for i in range(len(history)) if not done & (1 << i)]
        # Whatever completed first bounds what may take effect next.
        horizon = min(ends[i] for i in pending)
        for i in reversed(pending):
            if history[i].start > horizon:
                continue
            after = step(state, history[i])
            if after is not None:
                stack.append((done | (1 << i), after))
    return Verdict(key, False, _explain(key, history, best))


def _irrelevant(op: Op) -> bool:
    # A read that failed or went unanswered tells nothing about the register.
    return op.kind is Kind.READ and op.outcome is not Outcome.OK


def _explain(key: str, history: Sequence[Op], best: int) -> str:
    lines = [f"{key}: not linearizable (at most {best} operations with known outcome fit):"]
    lines += [f"  {op}" for op in history]
    return "\n".join(lines)


def check_history(ops: Iterable[Op]) -> list[Verdict]:
    """Check each key on its own (a register per key is a local property: the whole history is
    linearizable iff each key's is); also that no version was handed out twice. Returns the
    failing verdicts (empty: linearizable)."""
    by_key: dict[str, list[Op]] = defaultdict(list)
    all_ops = list(ops)
    for op in all_ops:
        by_key[op.key].append(op)
    bad = [v for key, key_ops in sorted(by_key.items()) if not (v := check_key(key, key_ops)).ok]
    bad += duplicate_versions(all_ops)
    return bad


def duplicate_versions(ops: Iterable[Op]) -> list[Verdict]:
    """Two acknowledged writes with one version: one revision acknowledged twice."""
    owners: dict[int, Op] = {}
    bad = []
    for op in ops:
        if op.kind is Kind.READ or op.outcome is not Outcome.OK or op.version is None:
            continue
        other = owners.setdefault(op.version, op)
        if other is not op:
            bad.append(
                Verdict(op.key, False, f"revision {op.version} acknowledged twice: {other}; {op}")
            )
    return bad
