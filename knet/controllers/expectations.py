"""Controller expectations (upstream's ControllerExpectations, UID-tracking flavour). Pure.

A ReplicaSet controller that has just asked for 3 pods must not count the pods again before its
informer has seen them, or a burst of events would make it create 3 more. So before writing it
records what it expects (3 creations, or the keys of the pods it deletes), the informer handlers
tick them off as the events arrive, and `reconcile` does nothing while expectations are pending.
Expectations expire after `ttl`, so a lost event (a create that failed silently) cannot wedge a
controller forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

EXPECTATIONS_TTL = 300.0  # upstream: 5 minutes


@dataclass
class _Expectation:
    adds: int
    deletes: set[str]
    stamp: float


@dataclass
class Expectations:
    clock: Callable[[], float]
    ttl: float = EXPECTATIONS_TTL
    _by_key: dict[str, _Expectation] = field(default_factory=dict)

    def expect_creations(self, key: str, count: int) -> None:
        entry = self._by_key.get(key)
        deletes = entry.deletes if entry is not None else set()
        self._by_key[key] = _Expectation(count, deletes, self.clock())

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        entry = self._by_key.get(key)
        adds = entry.adds if entry is not None else 0
        self._by_key[key] = _Expectation(adds, set(pod_keys), self.clock())

    def creation_observed(self, key: str) -> None:
        entry = self._by_key.get(key)
        if entry is not None and entry.adds > 0:
            entry.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        entry = self._by_key.get(key)
        if entry is not None:
            entry.deletes.discard(pod_key)

    def creations_failed(self, key: str, count: int) -> None:
        """`count` of the expected creations will never be observed (the requests failed)."""
        for _ in range(count):
            self.creation_observed(key)

    def satisfied(self, key: str) -> bool:
        """True when nothing is pending, nothing was ever recorded, or the record expired."""
        entry = self._by_key.get(key)
        if entry is None:
            return True
        if entry.adds <= 0 and not entry.deletes:
            return True
        return self.clock() - entry.stamp > self.ttl

    def pending(self, key: str) -> tuple[int, int]:
        entry = self._by_key.get(key)
        return (0, 0) if entry is None else (max(entry.adds, 0), len(entry.deletes))

    def forget(self, key: str) -> None:
        self._by_key.pop(key, None)
