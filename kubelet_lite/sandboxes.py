"""Pod sandbox work, off the event loop and outside kubelet-lite's own interpreter.

Building a sandbox is mostly Python work in pyroute2 (encoding and decoding netlink messages),
which, done in threads of the kubelet process, would compete for its GIL with everything else
the kubelet does. So sandboxes are made and removed by worker processes, each with its own
PodNetwork; they die with the kubelet (PR_SET_PDEATHSIG). Each operation records its intent in
the pod's checkpoint before it acts and its outcome after, in the worker, so a crash at any
point leaves a record that a restart acts on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from kubelet_lite import failpoints
from kubelet_lite.netconf import NetConf, SandboxSpec
from kubelet_lite.sandbox import PodNetwork, SandboxError
from kubelet_lite.state import PodCheckpoint, PodDir

PR_SET_PDEATHSIG = 1
_NET: PodNetwork | None = None


def _worker_init(conf: NetConf, kubelet_pid: int) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != kubelet_pid:  # the kubelet died before the prctl took effect
        os._exit(1)
    failpoints.crash_target = kubelet_pid  # a failpoint here is the kubelet's crash
    global _NET
    _NET = PodNetwork(conf)


def _net() -> PodNetwork:
    assert _NET is not None, "sandbox worker not initialised"
    return _NET


def create_sandbox(
    net: PodNetwork, pd: PodDir, cp: PodCheckpoint, spec: SandboxSpec
) -> PodCheckpoint:
    """Blocking. Record the intent, build the sandbox, record the result. Raises SandboxError
    (after removing whatever it made)."""
    if cp.sandbox_state in ("creating", "deleting"):
        net.delete(spec)  # a crash left it half made or half gone (delete is idempotent)
    cp.sandbox_state = "creating"
    pd.save(cp)
    failpoints.hit("before-sandbox-add")
    try:
        result = net.add(spec)
    except SandboxError:
        with contextlib.suppress(SandboxError):
            net.delete(spec)
        cp.sandbox_state = "none"
        pd.save(cp)
        raise
    failpoints.hit("after-sandbox-add")
    cp.sandbox, cp.sandbox_state = result, "ready"
    pd.save(cp)
    failpoints.hit("after-sandbox-ready")
    return cp


def delete_sandbox(
    net: PodNetwork, pd: PodDir, cp: PodCheckpoint, spec: SandboxSpec
) -> PodCheckpoint:
    """Blocking, idempotent. The pod keeps its last sandbox result (its IP stays in status)."""
    cp.sandbox_state = "deleting"
    pd.save(cp)
    net.delete(spec)
    cp.sandbox_state = "none"
    pd.save(cp)
    return cp


def _ready(hold: float) -> int:
    """A worker is up (and its PodNetwork made); ``hold`` keeps it busy so the others start."""
    _net()
    time.sleep(hold)
    return os.getpid()


def _create(pods_dir: str, cp: dict[str, Any], spec: SandboxSpec) -> dict[str, Any]:
    c = PodCheckpoint.from_dict(cp)
    return create_sandbox(_net(), PodDir(Path(pods_dir), c.uid), c, spec).to_dict()


def _delete(pods_dir: str, cp: dict[str, Any], spec: SandboxSpec) -> dict[str, Any]:
    c = PodCheckpoint.from_dict(cp)
    return delete_sandbox(_net(), PodDir(Path(pods_dir), c.uid), c, spec).to_dict()


def _adopt(cp: PodCheckpoint, new: dict[str, Any]) -> None:
    fresh = PodCheckpoint.from_dict(new)
    cp.sandbox_state, cp.sandbox = fresh.sandbox_state, fresh.sandbox


class Sandboxes:
    """add/delete of pod sandboxes, in ``workers`` processes."""

    def __init__(self, conf: NetConf, pods_dir: Path, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError("need at least one sandbox worker")
        self.pods_dir = pods_dir
        self.conf = conf
        self.workers = workers
        self.executor = self._pool()

    def _pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: this process has threads; and each worker is our direct child, so
        # PR_SET_PDEATHSIG ends it the moment we die.
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(self.conf, os.getpid()),
        )

    async def _call(self, fn: Any, cp: PodCheckpoint, spec: SandboxSpec) -> None:
        loop = asyncio.get_running_loop()
        pool = self.executor
        try:
            new = await loop.run_in_executor(pool, fn, str(self.pods_dir), cp.to_dict(), spec)
        except (SandboxError, BrokenProcessPool) as exc:
            # Whatever the worker got to, it recorded: take the state from the record.
            fresh = PodDir(self.pods_dir, cp.uid).load()
            if fresh is not None:
                _adopt(cp, fresh.to_dict())
            if isinstance(exc, BrokenProcessPool):
                if self.executor is pool:  # the first to notice replaces it, once
                    pool.shutdown(wait=False)
                    self.executor = self._pool()
                raise SandboxError(f"sandbox worker died: {exc}") from exc
            raise
        _adopt(cp, new)

    async def warm(self) -> None:
        """Start every worker now (interpreter start-up and imports take a moment), not when
        the first pods arrive."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self.executor, _ready, 0.05) for _ in range(self.workers))
        )

    async def create(self, cp: PodCheckpoint, spec: SandboxSpec) -> None:
        await self._call(_create, cp, spec)

    async def delete(self, cp: PodCheckpoint, spec: SandboxSpec) -> None:
        await self._call(_delete, cp, spec)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
