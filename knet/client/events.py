"""Watch events on the client side, and the decoding of a watch stream's bytes. Pure.

Events are plain frozen dataclasses holding the decoded dict: a watch of 10,000 objects should not
pay for model validation the consumer may never need (`knet.api.base.from_wire` is there for those
that do).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from knet.client.errors import ApiError

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"
ERROR = "ERROR"
_TYPES = frozenset({ADDED, MODIFIED, DELETED, BOOKMARK})


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED or BOOKMARK (ERROR is raised, never yielded)
    object: dict[str, Any]

    @property
    def resource_version(self) -> str | None:
        rv = (self.object.get("metadata") or {}).get("resourceVersion")
        return rv if isinstance(rv, str) and rv else None


@dataclass(frozen=True, slots=True)
class Synced:
    """list-then-watch's marker: everything listed at `resource_version` has been yielded."""

    resource_version: str


class WatchProtocolError(ValueError):
    """A watch stream line that is not a watch event."""


def decode_event(line: bytes) -> WatchEvent:
    """One line of a watch stream as an event; an ERROR event raises its Status as `ApiError`
    (`ExpiredError` for 410)."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise WatchProtocolError(f"watch line is not JSON: {line[:200]!r}") from e
    if not isinstance(doc, dict):
        raise WatchProtocolError(f"watch line is not an object: {line[:200]!r}")
    type_, obj = doc.get("type"), doc.get("object")
    if not isinstance(obj, dict):
        raise WatchProtocolError(f"watch event without an object: {line[:200]!r}")
    if type_ == ERROR:
        raise ApiError.from_status(obj)
    if type_ not in _TYPES:
        raise WatchProtocolError(f"unknown watch event type {type_!r}")
    return WatchEvent(type_, obj)


class LineSplitter:
    """Cuts a byte stream into newline-terminated lines, whatever the chunking. (aiohttp's own
    readline refuses lines over 128 KiB; one big object must not break a watch.)"""

    def __init__(self) -> None:
        self._partial = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        self._partial += chunk
        if b"\n" not in chunk:
            return []
        *lines, rest = bytes(self._partial).split(b"\n")
        self._partial = bytearray(rest)
        return [line for line in lines if line.strip()]

    def pending(self) -> bytes:
        """Bytes after the last newline (a stream that ends here was cut mid-event)."""
        return bytes(self._partial)
