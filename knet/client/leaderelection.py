"""Active-standby leader election on a coordination.k8s.io Lease, as client-go does it.

Every candidate tries, every `retry_period`, to write itself into the Lease as holder. The write
is a compare-and-swap on the Lease's resourceVersion, so only one candidate wins a race. A lease
held by another is taken over only once it has gone unrenewed for its `leaseDurationSeconds`,
measured on *this* process's monotonic clock from when the holder's record last changed (not
from the renewTime written in it), so clock skew between machines cannot cut a lease short.

The leader renews every `retry_period`; if it has not managed to renew for `renew_deadline`
(shorter than the lease duration) it stops leading before anyone else may start. On a clean
stop it releases the lease (empty holder), so a standby takes over at its next attempt instead
of waiting out the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import socket
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from knet.api.times import micro_time
from knet.client.errors import ApiConnectionError, ApiError, is_not_found
from knet.client.rest import ApiClient

log = logging.getLogger("knet.client.leaderelection")

JITTER = 0.2  # fraction added at random to the candidates' retry period


def default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaderRecord:
    """The part of a Lease's spec that leader election reads and writes."""

    holder: str | None
    lease_duration_seconds: int
    acquire_time: str | None = None
    renew_time: str | None = None
    transitions: int = 0

    @classmethod
    def from_lease(cls, lease: dict[str, Any]) -> LeaderRecord:
        spec = lease.get("spec") or {}
        duration = spec.get("leaseDurationSeconds")
        transitions = spec.get("leaseTransitions")
        return cls(
            holder=spec.get("holderIdentity") or None,
            lease_duration_seconds=duration if isinstance(duration, int) else 0,
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            transitions=transitions if isinstance(transitions, int) else 0,
        )

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "leaseDurationSeconds": self.lease_duration_seconds,
            "leaseTransitions": self.transitions,
        }
        if self.holder:
            out["holderIdentity"] = self.holder
        if self.acquire_time:
            out["acquireTime"] = self.acquire_time
        if self.renew_time:
            out["renewTime"] = self.renew_time
        return out


def can_acquire(record: LeaderRecord, me: str, observed_at: float, now: float) -> bool:
    """May `me` write itself as holder? Yes if nobody holds the lease, we do, or the holder's
    record has not changed for its lease duration (observed on our own clock)."""
    if not record.holder or record.holder == me:
        return True
    return now >= observed_at + record.lease_duration_seconds


def claim(record: LeaderRecord | None, me: str, stamp: str, duration_seconds: int) -> LeaderRecord:
    """The record to write to (re)take the lease: a renewal keeps acquireTime and the transition
    count; a takeover restarts acquireTime and counts one more transition."""
    if record is not None and record.holder == me:
        return replace(record, renew_time=stamp, lease_duration_seconds=duration_seconds)
    return LeaderRecord(
        holder=me,
        lease_duration_seconds=duration_seconds,
        acquire_time=stamp,
        renew_time=stamp,
        transitions=0 if record is None else record.transitions + 1,
    )


def released(record: LeaderRecord, stamp: str) -> LeaderRecord:
    """What a leader writes when it steps down: no holder, a 1 s lease (upstream's values)."""
    return LeaderRecord(
        holder=None,
        lease_duration_seconds=1,
        acquire_time=stamp,
        renew_time=stamp,
        transitions=record.transitions,
    )


@dataclass(frozen=True)
class LeaderElectionConfig:
    lease_name: str
    lease_namespace: str = "kube-system"
    identity: str = ""  # "" picks hostname_random
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    # Release the lease when `run` is cancelled. False only to simulate a crash in tests.
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        if not self.lease_name:
            raise ValueError("lease_name is required")
        if not self.retry_period > 0:
            raise ValueError("retry_period must be positive")
        if not self.lease_duration > self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if not self.renew_deadline > self.retry_period * (1 + JITTER):
            raise ValueError("renew_deadline must exceed retry_period (plus jitter)")


class LeaderElector:
    """Run `on_started_leading` while this process holds the lease.

    `run()` waits to become leader, runs the work as a task, renews until it fails to for
    `renew_deadline` (or the work returns), then cancels the work and returns; a process that
    lost leadership should exit or call `run()` again. Cancelling `run()` releases the lease
    (unless `release_on_cancel` is False)."""

    def __init__(
        self,
        client: ApiClient,
        config: LeaderElectionConfig,
        on_started_leading: Callable[[], Coroutine[Any, Any, None]],
        on_stopped_leading: Callable[[], None] | None = None,
        on_new_leader: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.identity = config.identity or default_identity()
        self._duration_seconds = math.ceil(config.lease_duration)
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._on_new_leader = on_new_leader
        self._observed: LeaderRecord | None = None
        self._observed_at = 0.0
        self._leading = False

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def leader(self) -> str | None:
        """The holder as last observed (None when unknown or released)."""
        return self._observed.holder if self._observed else None

    async def run(self) -> None:
        try:
            await self._acquire()
            self._leading = True
            log.info("%s: became leader of %s", self.identity, self._lease_ref())
            work: asyncio.Task[None] = asyncio.create_task(
                self._on_started(), name=f"leading-{self.identity}"
            )
            try:
                await self._renew_until_lost(work)
            finally:
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await work
                self._leading = False
                if self._on_stopped is not None:
                    self._on_stopped()
        finally:
            if self.config.release_on_cancel:
                await self._release()

    # ------------------------------------------------------------------ loops

    async def _acquire(self) -> None:
        while not await self._try_acquire_or_renew():
            await asyncio.sleep(self.config.retry_period * (1 + JITTER * random.random()))

    async def _renew_until_lost(self, work: asyncio.Task[None]) -> None:
        loop = asyncio.get_running_loop()
        last_renewed = loop.time()
        while True:
            await asyncio.wait({work}, timeout=self.config.retry_period)
            if work.done():
                log.info("%s: leader work ended; stepping down", self.identity)
                return
            if await self._try_acquire_or_renew():
                last_renewed = loop.time()
                continue
            if self._observed is not None and self._observed.holder not in (None, self.identity):
                log.warning("%s: lease taken by %s", self.identity, self._observed.holder)
                return
            if loop.time() - last_renewed >= self.config.renew_deadline:
                log.warning("%s: failed to renew within the deadline", self.identity)
                return

    # ------------------------------------------------------------------ one attempt

    def _lease_ref(self) -> str:
        return f"{self.config.lease_namespace}/{self.config.lease_name}"

    def _observe(self, record: LeaderRecord) -> None:
        if record != self._observed:
            previous = self._observed.holder if self._observed else None
            if record.holder and record.holder != previous and self._on_new_leader is not None:
                self._on_new_leader(record.holder)
            self._observed = record
            self._observed_at = asyncio.get_running_loop().time()

    async def _try_acquire_or_renew(self) -> bool:
        cfg = self.config
        stamp = micro_time(datetime.now(UTC))
        try:
            try:
                lease = await self.client.get("Lease", cfg.lease_name, cfg.lease_namespace)
            except ApiError as e:
                if not is_not_found(e):
                    raise
                record = claim(None, self.identity, stamp, self._duration_seconds)
                await self.client.create(self._lease_body(record, None))
                self._observe(record)
                return True
            current = LeaderRecord.from_lease(lease)
            self._observe(current)
            now = asyncio.get_running_loop().time()
            if not can_acquire(current, self.identity, self._observed_at, now):
                return False
            record = claim(current, self.identity, stamp, self._duration_seconds)
            await self.client.replace(self._lease_body(record, lease))
            self._observe(record)
            return True
        except (ApiError, ApiConnectionError) as e:
            # Conflict / AlreadyExists: another candidate won this round. Anything else: the
            # server is unreachable or unhappy; the caller's deadline decides what that means.
            log.debug("%s: lease attempt failed: %s", self.identity, e)
            return False

    def _lease_body(self, record: LeaderRecord, lease: dict[str, Any] | None) -> dict[str, Any]:
        if lease is None:
            meta = {"name": self.config.lease_name, "namespace": self.config.lease_namespace}
        else:
            meta = dict(lease.get("metadata") or {})  # keeps resourceVersion: a CAS
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": record.spec(),
        }

    async def _release(self) -> None:
        if self._observed is None or self._observed.holder != self.identity:
            return
        cfg = self.config
        try:
            lease = await self.client.get("Lease", cfg.lease_name, cfg.lease_namespace)
            current = LeaderRecord.from_lease(lease)
            if current.holder != self.identity:
                return
            stamp = micro_time(datetime.now(UTC))
            record = released(current, stamp)
            await self.client.replace(self._lease_body(record, lease))
            self._observed = record
            log.info("%s: released %s", self.identity, self._lease_ref())
        except (ApiError, ApiConnectionError) as e:
            log.warning("%s: could not release %s: %s", self.identity, self._lease_ref(), e)
