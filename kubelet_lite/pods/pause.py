"""The pod's pause process, as its sync drives it: started once the pod has its network,
watched (its end wakes the pod: its containers are then killed and it is started anew),
stopped after the containers.

Its runs are recorded like a container's, under the name ``POD`` (container names are lower
case, so it cannot clash), which is how adoption and clean-up find it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from kubelet_lite.pods.deps import Deps
from kubelet_lite.runtime.namespaces import NamespacePlan
from kubelet_lite.runtime.pause import BUILTIN_NAME
from kubelet_lite.runtime.process import (
    LaunchRequest,
    RunningProcess,
    RuntimeUnavailable,
    StartFailed,
    marker,
    watch,
)
from kubelet_lite.runtime.resolve import ImagePlan
from kubelet_lite.status.checkpoint import PodDir

log = logging.getLogger(__name__)

PAUSE = "POD"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
PAUSE_STOP_GRACE = 2.0


class PodPause:
    def __init__(self, deps: Deps, pod_dir: PodDir, wake: Callable[[], None]) -> None:
        self.deps = deps
        self.dir = pod_dir
        self.wake = wake
        self.attempt = -1  # the latest run's number
        self.proc: RunningProcess | None = None
        self._watcher: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.alive else None

    @property
    def lost(self) -> bool:
        """There was a pause, and it has ended without being asked to."""
        return self.attempt >= 0 and self.pid is None

    def adopt(self) -> None:
        history = self.dir.attempts().get(PAUSE) or []
        if not history:
            return
        latest = history[-1]
        self.attempt = latest.number
        if latest.exit is None and latest.process is not None:
            exit_file = self.dir.exit_file(PAUSE, latest.number)
            proc = watch(latest.process, exit_file, marker(self.dir.uid))
            if proc is not None:
                self._watch(proc)

    async def ensure(
        self, hostname: str, netns: str | None, share_pid: bool, host_ipc: bool = False
    ) -> int:
        """The pid of the pod's pause, started if needed. Raises StartFailed or
        RuntimeUnavailable."""
        if self.pid is not None:
            return self.pid
        n = self.attempt + 1
        req = LaunchRequest(
            hostname=hostname,
            log=None,  # it writes nothing anyone reads: no log
            env={},
            plan=ImagePlan(PAUSE_IMAGE, "", builtin=BUILTIN_NAME),
            pid_file=self.dir.pid_file(PAUSE, n),
            exit_file=self.dir.exit_file(PAUSE, n),
            pod_uid=self.dir.uid,
            netns=netns,
            namespaces=NamespacePlan(
                holder=None, pid="pod" if share_pid else "host", host_ipc=host_ipc
            ),
        )
        self.attempt = n
        t0 = time.perf_counter()
        proc = await self.deps.runtime.spawn(req)
        # scripts/bench_pod_startup.py --breakdown reads these "step" lines.
        log.debug("pod %s: step pause %.1f ms", self.dir.uid, (time.perf_counter() - t0) * 1000)
        self._watch(proc)
        if not proc.alive:
            rec = await proc.wait(1.0)
            code = rec.exit_code if rec is not None else "unknown"
            raise StartFailed(f"pause ended as it started (exit code {code})", "start")
        return proc.pid

    async def ensure_or_error(
        self, hostname: str, netns: str | None, share_pid: bool, host_ipc: bool
    ) -> str | None:
        """ensure(); None once pause runs, else the sandbox error to show."""
        try:
            await self.ensure(hostname, netns, share_pid, host_ipc)
        except (StartFailed, RuntimeUnavailable) as exc:
            return f"Failed to create pod sandbox: failed to start the pause process: {exc}"
        return None

    def _watch(self, proc: RunningProcess) -> None:
        self.proc = proc

        async def ended() -> None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(proc.exited)
                self.wake()

        self._watcher = asyncio.create_task(ended())

    async def stop(self) -> None:
        """Stop pause (idempotent); its namespaces go with it once the containers are gone."""
        proc, self.proc = self.proc, None
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        if proc is not None and proc.alive:
            await self.deps.runtime.stop(proc, PAUSE_STOP_GRACE)

    def detach(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        if self.proc is not None:
            self.proc.detach()
