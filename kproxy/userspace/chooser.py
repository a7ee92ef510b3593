"""Picking an endpoint for a new connection: round-robin, with optional ClientIP affinity.

Pure state and logic (the clock is passed in), so it is unit-tested without sockets.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field


class NoEndpoints(Exception):
    """The service port has no usable endpoint (left) to connect to."""


@dataclass
class _Affinity:
    endpoint: str
    last_used: float


@dataclass
class _PortState:
    endpoints: tuple[str, ...] = ()
    affinity_seconds: int | None = None
    index: int = 0
    affinity: dict[str, _Affinity] = field(default_factory=dict)


class Chooser:
    """Endpoints ("ip:port") per service port key; ``next`` picks one for a client."""

    def __init__(self) -> None:
        self._ports: dict[object, _PortState] = {}

    def update(
        self, key: object, endpoints: Sequence[str], affinity_seconds: int | None = None
    ) -> None:
        """Set a port's endpoints. Affinity entries to endpoints that are gone are dropped;
        the round-robin position is kept so a change does not send everyone to the first."""
        state = self._ports.setdefault(key, _PortState())
        state.endpoints = tuple(endpoints)
        if affinity_seconds != state.affinity_seconds:
            state.affinity.clear()
        state.affinity_seconds = affinity_seconds
        keep = set(state.endpoints)
        for client in [c for c, a in state.affinity.items() if a.endpoint not in keep]:
            del state.affinity[client]
        if state.endpoints:
            state.index %= len(state.endpoints)
        else:
            state.index = 0

    def remove(self, key: object) -> None:
        self._ports.pop(key, None)

    def endpoints(self, key: object) -> tuple[str, ...]:
        state = self._ports.get(key)
        return state.endpoints if state else ()

    def next(self, key: object, client_ip: str, now: float, exclude: Collection[str] = ()) -> str:
        """The endpoint for a new connection from ``client_ip``; ``exclude`` lists endpoints
        that already failed for this connection (they are skipped and lose the affinity)."""
        state = self._ports.get(key)
        candidates = [e for e in state.endpoints if e not in exclude] if state else []
        if state is None or not candidates:
            raise NoEndpoints(f"no endpoints for {key}")
        timeout = state.affinity_seconds
        if timeout is not None:
            sticky = state.affinity.get(client_ip)
            fresh = sticky is not None and now - sticky.last_used <= timeout
            if sticky is not None and fresh and sticky.endpoint not in exclude:
                sticky.last_used = now
                return sticky.endpoint
        n = len(state.endpoints)
        for _ in range(n):
            endpoint = state.endpoints[state.index % n]
            state.index = (state.index + 1) % n
            if endpoint not in exclude:
                break
        if timeout is not None:
            state.affinity[client_ip] = _Affinity(endpoint, now)
        return endpoint

    def expire(self, now: float) -> None:
        """Forget affinities idle for longer than their timeout (keeps the maps small)."""
        for state in self._ports.values():
            timeout = state.affinity_seconds
            if timeout is None:
                continue
            for client in [c for c, a in state.affinity.items() if now - a.last_used > timeout]:
                del state.affinity[client]
