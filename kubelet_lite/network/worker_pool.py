"""Pod sandbox work, off the event loop and outside kubelet-lite's own interpreter.

Building a sandbox is blocking work (netlink requests, namespace creation, IPAM and checkpoint
files) with some Python in it; done in threads of the kubelet process, it would compete for its
GIL with everything else the kubelet does. So sandboxes are made and removed by a few worker
processes (worker.py), each with its own PodNetwork, each handed one request at a time over
its own socket pair: one line of JSON in, one line back, read by the event loop itself (no
helper threads, no pickling). They die with the kubelet (PR_SET_PDEATHSIG). Each operation
records its intent in the pod's checkpoint before it acts and its outcome after, in the worker,
so a crash at any point leaves a record that a restart acts on; a worker that dies mid-request
is replaced, and its request goes to another worker, or fails with the state from that record.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from kubelet_lite.network.conf import NetConf, SandboxSpec
from kubelet_lite.network.pod_network import SandboxError
from kubelet_lite.status.checkpoint import PodCheckpoint, PodDir

log = logging.getLogger(__name__)

WORKER_START_TIMEOUT = 60.0  # seconds: interpreter start-up and imports, on a busy node
RESTART_DELAY = 1.0  # seconds between attempts to replace a worker that could not start
WORKER_DEATH_RETRIES = 1  # a request whose worker died goes to another one this many times

Operation = Literal["create", "delete"]  # what worker.py's OPERATIONS carry out


def _adopt(cp: PodCheckpoint, new: dict[str, Any]) -> None:
    fresh = PodCheckpoint.from_dict(new)
    cp.sandbox_state, cp.sandbox = fresh.sandbox_state, fresh.sandbox


class WorkerGone(Exception):
    """The worker process exited (or its socket broke) with a request in flight."""


class _Worker:
    """One worker process and its socket: one request in, one reply out."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_gone: Callable[[_Worker], None],
    ) -> None:
        self.proc = proc
        self.reader = reader
        self.writer = writer
        self.broken = False
        self._on_gone = on_gone
        # Noticing an exit between requests lets the pool start a replacement at once.
        self._exit_watch = asyncio.create_task(self._watch_exit(), name=f"sandbox-{proc.pid}")

    @property
    def alive(self) -> bool:
        return not self.broken and self.proc.returncode is None

    async def _watch_exit(self) -> None:
        await self.proc.wait()
        self._gone()

    def _gone(self) -> None:
        self.broken = True
        self.writer.close()
        self._on_gone(self)

    async def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request and read its one reply. Raises WorkerGone."""
        line = b""
        if self.alive:
            try:
                self.writer.write(json.dumps(request).encode() + b"\n")
                await self.writer.drain()
                line = await self.reader.readline()
            except (OSError, ValueError) as exc:  # ValueError: a line longer than the limit
                log.error("sandbox worker %d: %s", self.proc.pid, exc)
        try:
            reply = json.loads(line) if line else None
        except ValueError:
            log.error("sandbox worker %d: bad reply %r", self.proc.pid, line[:200])
            reply = None
        if not isinstance(reply, dict):
            # Gone, or speaking nonsense: either way it cannot take another request.
            self._gone()
            raise WorkerGone(f"worker {self.proc.pid} exited")
        return reply

    def close(self) -> None:
        """EOF to the worker: it finishes what it is doing and exits."""
        self.writer.close()


class SandboxWorkers:
    """Pod sandboxes made and removed in ``workers`` processes, first come first served."""

    def __init__(
        self, conf: NetConf, pods_dir: Path, workers: int = 2, python: str = sys.executable
    ) -> None:
        if workers < 1:
            raise ValueError("need at least one sandbox worker")
        self.pods_dir = pods_dir
        self.conf = conf
        self.workers = workers
        self.python = python
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._all: set[_Worker] = set()
        self._closed = False
        self._start_lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._exchanges: set[asyncio.Task[dict[str, Any]]] = set()

    @property
    def live_workers(self) -> int:
        return sum(1 for w in self._all if w.alive)

    async def _start_one(self) -> _Worker:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            proc = await asyncio.create_subprocess_exec(
                self.python,
                "-m",
                "kubelet_lite.network.worker",
                "--control-fd",
                str(theirs.fileno()),
                "--kubelet-pid",
                str(os.getpid()),
                "--conf",
                json.dumps(self.conf.to_dict()),
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        try:
            hello = await asyncio.wait_for(reader.readline(), WORKER_START_TIMEOUT)
        except TimeoutError:
            hello = b""
        if not hello:
            writer.close()
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise SandboxError(f"sandbox worker {proc.pid} did not start")
        return _Worker(proc, reader, writer, self._gone)

    async def _fill(self) -> None:
        """Start workers until there are ``workers`` of them (alive or starting)."""
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            missing = self.workers - self.live_workers
            if missing <= 0 or self._closed:
                return
            started = await asyncio.gather(
                *(self._start_one() for _ in range(missing)), return_exceptions=True
            )
            # Counted before the lock is let go, so that a concurrent fill does not start more.
            for w in started:
                if isinstance(w, _Worker):
                    self._all.add(w)
                    if self._closed:  # closed while they started
                        w.close()
                    else:
                        self._idle.put_nowait(w)
        errors = [r for r in started if isinstance(r, BaseException)]
        if errors:
            raise SandboxError(f"starting sandbox workers: {errors[0]}")

    def _gone(self, worker: _Worker) -> None:
        if worker not in self._all:
            return  # noticed already
        self._all.discard(worker)
        if not self._closed:
            log.warning("sandbox worker %d exited; starting another", worker.proc.pid)
            task = asyncio.create_task(self._refill())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _refill(self) -> None:
        while not self._closed:
            try:
                await self._fill()
                return
            except Exception as exc:
                log.error("%s; retrying in %.0f s", exc, RESTART_DELAY)
                await asyncio.sleep(RESTART_DELAY)

    async def warm(self) -> None:
        """Start every worker now (interpreter start-up and imports take a moment), not when
        the first pods arrive."""
        await self._fill()

    async def request(self, op: Operation, cp: PodCheckpoint, spec: SandboxSpec) -> None:
        """Have the next idle worker carry out ``op`` for the pod; ``cp`` takes on the state
        the worker recorded. Raises SandboxError (with ``cp`` as recorded)."""
        if self._closed:
            raise SandboxError("sandbox workers are shut down")
        if self.live_workers < self.workers:
            await self._fill()
        for attempt in range(WORKER_DEATH_RETRIES + 1):
            worker = await self._next_idle()
            exchange = asyncio.create_task(
                worker.ask(
                    {
                        "op": op,
                        "podsDir": str(self.pods_dir),
                        "checkpoint": cp.to_dict(),
                        "spec": spec.to_dict(),
                    }
                )
            )
            # The worker is handed on only once it has answered, even if our caller gives up.
            self._exchanges.add(exchange)
            exchange.add_done_callback(functools.partial(self._answered, worker))
            try:
                reply = await asyncio.shield(exchange)
                break
            except WorkerGone as exc:
                # Whatever it got to, it recorded; create and delete both carry on from any
                # recorded state, so the request can go to another worker.
                self._reload(cp)
                if attempt == WORKER_DEATH_RETRIES:
                    raise SandboxError(f"sandbox worker died: {exc}") from exc
                log.warning("%s during %s for pod %s; trying again", exc, op, spec.label)
        if "error" in reply:
            self._reload(cp)  # whatever the worker got to, it recorded
            raise SandboxError(str(reply["error"]))
        _adopt(cp, reply["checkpoint"])

    async def _next_idle(self) -> _Worker:
        while True:
            worker = await self._idle.get()
            if worker.alive:
                return worker

    def _answered(self, worker: _Worker, exchange: asyncio.Task[dict[str, Any]]) -> None:
        self._exchanges.discard(exchange)
        if not exchange.cancelled():
            exchange.exception()  # seen here, should its caller have given up
        if worker.alive:
            self._idle.put_nowait(worker)

    def _reload(self, cp: PodCheckpoint) -> None:
        fresh = PodDir(self.pods_dir, cp.uid).load()
        if fresh is not None:
            _adopt(cp, fresh.to_dict())

    def close(self) -> None:
        """Let the workers go (each finishes its request, sees EOF and exits)."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for w in list(self._all):
            w.close()
