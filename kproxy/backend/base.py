"""The interface through which kproxy changes the kernel's iptables rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

Position = Literal["-I", "-A"]


class BackendError(Exception):
    """A rule change the kernel (or the fake) refused; nothing from that call was applied.

    ``line`` is the 1-based line of the restore input that failed, when known; ``detail`` is the
    tool's own error output.
    """

    def __init__(self, message: str, *, line: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.line = line
        self.detail = detail


@runtime_checkable
class RulesBackend(Protocol):
    """What the proxier may do to iptables.

    ``restore`` applies iptables-restore input atomically (per table, as iptables-restore
    does). The ``ensure_*``/``delete_*`` calls exist only for the jumps from built-in chains.
    """

    @property
    def name(self) -> str: ...

    def restore(self, text: str, *, noflush: bool = True, counters: bool = False) -> None: ...

    def save(self, table: str) -> str: ...

    def ensure_chain(self, table: str, chain: str) -> bool:
        """Create the chain if missing; True if it already existed."""
        ...

    def ensure_rule(self, position: Position, table: str, chain: str, args: Sequence[str]) -> bool:
        """Add the rule at the top (-I) or bottom (-A) if missing; True if it already existed."""
        ...

    def delete_rule(self, table: str, chain: str, args: Sequence[str]) -> bool:
        """Delete the rule; False if it was not there."""
        ...

    def delete_chain(self, table: str, chain: str) -> bool:
        """Delete an empty, unreferenced chain; False if it did not exist."""
        ...

    def has_random_fully(self) -> bool: ...
