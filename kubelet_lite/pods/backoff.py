"""Container restart back-off, as kubelet's (CrashLoopBackOff). Pure: times are passed in.

The first restart of a container happens at once; each crash after that waits twice as long as
the one before (10 s, 20 s, 40 s, ... up to 5 min by default), counted from when the container
finished. An entry that has not been touched for twice the maximum starts over.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass


@dataclass
class _Entry:
    backoff: float
    last_update: float


class CrashLoopBackoff:
    def __init__(self, initial: float = 10.0, maximum: float = 300.0) -> None:
        if not 0 < initial <= maximum:
            raise ValueError("need 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self._entries: dict[Hashable, _Entry] = {}

    def _expired(self, entry: _Entry, event_time: float) -> bool:
        return event_time - entry.last_update > 2 * self.maximum

    def remaining(self, key: Hashable, event_time: float, now: float) -> float | None:
        """Seconds until ``key`` may restart after the event (its finish) at ``event_time``;
        None when it may restart now."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, event_time):
            return None
        left = entry.backoff - (now - event_time)
        return left if left > 0 else None

    def next(self, key: Hashable, event_time: float) -> float:
        """Record a restart for the event at ``event_time``; returns the back-off that the
        following crash will wait."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, event_time):
            entry = _Entry(self.initial, event_time)
            self._entries[key] = entry
        else:
            entry.backoff = min(entry.backoff * 2, self.maximum)
            entry.last_update = event_time
        return entry.backoff

    def current(self, key: Hashable) -> float | None:
        entry = self._entries.get(key)
        return entry.backoff if entry is not None else None

    def reset(self, key: Hashable) -> None:
        self._entries.pop(key, None)
