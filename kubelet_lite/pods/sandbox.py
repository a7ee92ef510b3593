"""A pod's sandbox as its sync sees it: made once (retried with back-off after a failure),
checked when an earlier kubelet-lite's record is adopted, removed when the pod ends.

The work itself is done by the network's worker processes (network/worker_pool.py), which keep
the checkpoint's sandbox fields; a hostNetwork pod has no sandbox and uses the node's network.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from knet.client.recorder import WARNING
from kubelet_lite.network.conf import SandboxSpec
from kubelet_lite.network.pod_network import SandboxError
from kubelet_lite.pods.deps import Deps
from kubelet_lite.status.checkpoint import PodCheckpoint, PodDir

log = logging.getLogger(__name__)

SANDBOX_RETRY_MAX = 30.0  # seconds: the longest wait between two attempts to make a sandbox

EventFn = Callable[[str, str, str], None]  # (type, reason, message)


class PodSandbox:
    """One pod's network sandbox, as the pod's sync drives it."""

    def __init__(self, deps: Deps, pod_dir: PodDir, label: str) -> None:
        self.deps = deps
        self.dir = pod_dir
        uid = self.uid = pod_dir.uid
        self.spec = SandboxSpec(pod_uid=uid, pod_name=label)
        self.error: str | None = None  # why the last attempt failed (shown while waiting)
        self.retry_at = 0.0
        self.failures = 0
        self.changed = False  # found altered on adoption: kill the containers, make it anew

    async def check(self, cp: PodCheckpoint) -> None:
        """After adopting ``cp``: does the recorded sandbox still look as it was made?"""
        if cp.sandbox_state == "ready" and cp.sandbox is not None and cp.terminal_phase is None:
            problems = await self.deps.run_blocking(self.deps.network.check, self.spec, cp.sandbox)
            if problems:
                log.warning("pod %s: sandbox changed: %s", self.spec.pod_name, problems)
                self.changed = True

    async def ensure(self, cp: PodCheckpoint, host_network: bool, event: EventFn) -> bool:
        """True once the pod has its network; after a failure, False until the back-off ends."""
        if host_network:
            if cp.sandbox_state != "ready":
                cp.sandbox_state = "ready"
                cp.host_network = True
                self.dir.save(cp)
            return True
        if cp.sandbox_state == "ready":
            return True
        if time.monotonic() < self.retry_at:
            return False
        t0 = time.perf_counter()
        try:
            await self.deps.sandbox_workers.request("create", cp, self.spec)
        except SandboxError as exc:
            self.failures += 1
            delay = min(2.0 ** (self.failures - 1), SANDBOX_RETRY_MAX)
            self.retry_at = time.monotonic() + delay
            self.error = f"failed to create pod sandbox: {exc}"
            event(WARNING, "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}")
            self.deps.wake_later(self.uid, delay)
            return False
        self.error = None
        self.failures = 0
        log.debug("pod %s: step network %.1f ms", self.uid, (time.perf_counter() - t0) * 1000)
        return True

    async def teardown(self, cp: PodCheckpoint, host_network: bool) -> None:
        """Remove the sandbox (idempotent). Raises SandboxError."""
        if host_network or cp.sandbox_state == "none":
            return
        await self.deps.sandbox_workers.request("delete", cp, self.spec)

    def pod_ip(self, cp: PodCheckpoint, host_network: bool) -> str | None:
        if host_network:
            return str(self.deps.config.node_ip)
        return str(cp.sandbox.ip) if cp.sandbox is not None else None

    def netns_path(self, cp: PodCheckpoint, host_network: bool) -> str | None:
        if host_network:
            return self.deps.node_netns_path
        return cp.sandbox.netns_path if cp.sandbox is not None else None
