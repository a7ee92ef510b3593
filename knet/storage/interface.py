"""The store contract, shaped like etcd v3.

One global revision counts every successful write. Each key carries the revision that created
it and the one that last modified it. Writes are compare-and-swap on the key's mod revision, and
a watch replays every change after a given revision, as long as that revision is inside the
retained history (the compaction window); older than that is `CompactedError` (410 Expired at
the API).

Values are opaque bytes: the store knows nothing of Kubernetes objects.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class EventType(Enum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    # Writes since creation (1 on create), as etcd's `version`.
    version: int


@dataclass(frozen=True, slots=True)
class Event:
    """One change. For DELETE, `kv.value` is the last value and `kv.mod_revision` the revision of
    the delete itself, so a DELETED watch event can carry the object with its new
    resourceVersion."""

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None
    # Scratch space for consumers that encode the same event for many watchers: encode once.
    cache: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def revision(self) -> int:
        return self.kv.mod_revision

    @property
    def is_create(self) -> bool:
        return self.type is EventType.PUT and self.kv.version == 1


class StoreError(Exception):
    """Base of every store error."""


class KeyExistsError(StoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} already exists")
        self.key = key


class KeyNotFoundError(StoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} not found")
        self.key = key


class RevisionMismatchError(StoreError):
    """The compare of a compare-and-swap failed; `current` is what the key holds now."""

    def __init__(self, key: str, expected: int, current: KeyValue) -> None:
        super().__init__(
            f"key {key!r}: expected mod revision {expected}, found {current.mod_revision}"
        )
        self.key = key
        self.expected = expected
        self.current = current


class CompactedError(StoreError):
    """The requested revision is older than the retained history."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"revision {requested} is compacted (oldest kept: {compacted})")
        self.requested = requested
        self.compacted = compacted


class StoreUnavailableError(StoreError):
    """The store's server cannot be reached (503 at the API)."""


class StoreTimeoutError(StoreUnavailableError):
    """The store's server did not answer in time (504 at the API). A write may or may not have
    happened, as with a timed-out etcd request."""


class WatchClosedError(StoreError):
    """The watch was ended by the store: the watcher fell too far behind, or the store closed."""


class Watch(abc.ABC):
    """An ordered stream of events after a revision. Iterate it; close it when done.

    Iteration raises `WatchClosedError` if the store ends the watch (for example because this
    watcher fell too far behind: a slow watcher must never block writers or other watchers).
    """

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[Event]: ...

    @abc.abstractmethod
    def close(self) -> None: ...


class Store(abc.ABC):
    """Async, single-process store. All methods are safe to call concurrently from one loop."""

    # The name of `check` in the API server's /readyz?verbose.
    health_check_name = "storage"

    @property
    @abc.abstractmethod
    def revision(self) -> int:
        """The revision of the latest committed write (0 for an empty, new store)."""

    @property
    @abc.abstractmethod
    def compacted_revision(self) -> int:
        """Watches must start after this revision or later; earlier ones are CompactedError."""

    @abc.abstractmethod
    async def get(self, key: str) -> KeyValue | None: ...

    @abc.abstractmethod
    async def range(self, prefix: str) -> tuple[list[KeyValue], int]:
        """Every live key starting with `prefix`, sorted by key, and the revision they were read
        at."""

    @abc.abstractmethod
    async def create(self, key: str, value: bytes) -> KeyValue:
        """Raises KeyExistsError. The write is durable when this returns."""

    @abc.abstractmethod
    async def update(
        self, key: str, value: bytes, *, expected_mod_revision: int | None = None
    ) -> KeyValue:
        """Replace the value. With `expected_mod_revision`, only if the key's mod revision equals
        it (else RevisionMismatchError). Raises KeyNotFoundError."""

    @abc.abstractmethod
    async def delete(self, key: str, *, expected_mod_revision: int | None = None) -> KeyValue:
        """Remove the key; returns its last value with `mod_revision` set to the delete's revision.
        Raises KeyNotFoundError or RevisionMismatchError."""

    @abc.abstractmethod
    def watch(self, prefix: str, after_revision: int) -> Watch:
        """Every change to keys under `prefix` with revision > `after_revision`, in order.
        Raises CompactedError at once when `after_revision` < `compacted_revision`."""

    @abc.abstractmethod
    async def compact(self, revision: int) -> None:
        """Forget history up to and including `revision` (never the live keys)."""

    async def check(self) -> None:
        """Raise StoreUnavailableError (or StoreError) unless the store can serve now: what the
        API server's /readyz and /livez ask. The default: a read of one key."""
        await self.get("/health")

    @abc.abstractmethod
    async def close(self) -> None: ...
