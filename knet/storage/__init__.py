"""storage."""

from knet.storage.interface import (
    CompactedError,
    Event,
    EventType,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    RevisionMismatchError,
    Store,
    StoreError,
    StoreTimeoutError,
    StoreUnavailableError,
    Watch,
    WatchClosedError,
)
from knet.storage.memory import MemoryStore
from knet.storage.sqlite import SqliteStore

__all__ = [
    "CompactedError",
    "Event",
    "EventType",
    "KeyExistsError",
    "KeyNotFoundError",
    "KeyValue",
    "MemoryStore",
    "RevisionMismatchError",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreTimeoutError",
    "StoreUnavailableError",
    "Watch",
    "WatchClosedError",
]
