"""Key and value checks and prefix arithmetic, shared by every store. Pure functions."""

from __future__ import annotations

_MAX_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def check_key(key: object) -> str:
    """Return `key` if it is a usable key, else raise with a readable reason."""
    if not isinstance(key, str):
        raise TypeError(f"store key must be str, not {type(key).__name__}")
    if not key:
        raise ValueError("store key must not be empty")
    if "\x00" in key:
        raise ValueError(f"store key {key!r} contains a NUL character")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"store key {key!r} is not valid UTF-8 text") from exc
    return key


def check_prefix(prefix: object) -> str:
    """Like `check_key`, but the empty prefix (every key) is allowed."""
    if isinstance(prefix, str) and not prefix:
        return prefix
    return check_key(prefix)


def check_value(value: object) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"store value must be bytes, not {type(value).__name__}")
    return value


def check_revision(revision: object, what: str, *, minimum: int = 0) -> int:
    # bool is an int subclass; True as a revision is always a caller bug.
    if not isinstance(revision, int) or isinstance(revision, bool):
        raise TypeError(f"{what} must be int, not {type(revision).__name__}")
    if revision < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {revision}")
    return revision


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix`, or None if there
    is none (empty prefix, or a prefix of only U+10FFFF). Code point order equals UTF-8 byte
    order, so this bound also works for SQLite's BINARY collation."""
    stripped = prefix.rstrip(chr(_MAX_CODE_POINT))
    if not stripped:
        return None
    nxt = ord(stripped[-1]) + 1
    if nxt in _SURROGATES:
        # Surrogates cannot be stored as UTF-8; the next encodable code point follows them.
        nxt = _SURROGATES.stop
    return stripped[:-1] + chr(nxt)
