"""One pod's life on this node: sandbox, containers, status, and its end.

A ``PodSync`` is driven by the pod's worker (pod_workers.py), one call at a time:
``adopt()`` once (pick up what an earlier kubelet-lite left running), then ``sync(pod)`` whenever
the pod or one of its containers changed, and ``terminate(...)`` when the pod is being deleted.
What to start, restart or kill is decided by plan.py (pure); the pod's sandbox (sandbox.py) and
its containers (containers.py) carry it out, keeping the checkpoint (status/checkpoint.py) ahead
of every step that creates something; status_view.py and status/pod_status.py make the status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from knet.api.core import Container
from knet.api.times import now_rfc3339
from knet.client import ApiConnectionError, ApiError
from knet.client.recorder import NORMAL, WARNING
from kubelet_lite import failpoints
from kubelet_lite.network.pod_network import SandboxError
from kubelet_lite.pods.container_spec import ContainerConfigError, pod_hostname
from kubelet_lite.pods.containers import PodContainers, pod_fields
from kubelet_lite.pods.deps import Deps
from kubelet_lite.pods.pause import PodPause
from kubelet_lite.pods.plan import plan_pod
from kubelet_lite.pods.pod_cgroups import remove_pod_cgroups
from kubelet_lite.pods.pod_files import PodFiles
from kubelet_lite.pods.sandbox import PodSandbox
from kubelet_lite.pods.status_view import container_views
from kubelet_lite.runtime.mounts import MountPlan
from kubelet_lite.status.checkpoint import PodCheckpoint, PodDir
from kubelet_lite.status.pod_status import PodFacts, build_status
from kubelet_lite.volumes.fetch import FetchError, fetch_sources, node_capacity
from kubelet_lite.volumes.pod_volumes import PodVolumes, not_honoured, refreshed
from kubelet_lite.volumes.sources import Sources, referenced

__all__ = ["Deps", "PodSync"]

log = logging.getLogger(__name__)

SANDBOX_CHANGED = "Pod sandbox changed, it will be killed and re-created."
MIN_GRACE = 2  # kubelet's minimum grace period when the pod object is already gone
# ConfigMap, Secret and downward API volumes are re-read this often (at most; and at every
# sync): a change reaches the files within it. The kubelet's figure: its sync period (1m)
# plus its cache's delay.
VOLUME_REFRESH = 10.0
CONFIG_RETRY = 2.0  # a container waiting for a missing ConfigMap/Secret/key tries again


class PodSync:
    """One pod on this node, from adoption or creation to its removal."""

    def __init__(self, deps: Deps, pod: dict[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        self.deps = deps
        self.uid = str(meta["uid"])
        self.namespace = str(meta.get("namespace") or "default")
        self.name = str(meta.get("name"))
        self.pod = pod
        self.dir: PodDir = deps.store.pod(self.uid)
        self.cp = PodCheckpoint(self.uid, self.namespace, self.name)
        self.sandbox = PodSandbox(deps, self.dir, f"{self.namespace}/{self.name}")
        self.pause = PodPause(deps, self.dir, lambda: deps.wake(self.uid))
        self.files = PodFiles(self.dir, deps.config)
        self.volumes = PodVolumes(self.files.volume_root)
        self.sources = Sources(self.namespace)
        self.containers = PodContainers(self)
        self.last_status: dict[str, Any] | None = None
        self.seen_at = time.monotonic()
        self._start_logged = False
        self.containers.load_specs(pod)

    # ------------------------------------------------------------------ spec

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.pod.get("spec") or {}

    @property
    def restart_policy(self) -> str:
        return str(self.spec.get("restartPolicy") or "Always")

    @property
    def host_network(self) -> bool:
        return bool(self.spec.get("hostNetwork"))

    @property
    def pod_ip(self) -> str | None:
        return self.sandbox.pod_ip(self.cp, self.host_network)

    @property
    def netns_path(self) -> str | None:
        return self.sandbox.netns_path(self.cp, self.host_network)

    @property
    def hostname(self) -> str:
        return pod_hostname(self.name, self.spec.get("hostname"))

    @property
    def pause_pid(self) -> int | None:
        return self.pause.pid

    @property
    def share_pid(self) -> bool:
        return bool(self.spec.get("shareProcessNamespace"))

    def container_mounts(self, c: Container) -> MountPlan:
        return self.files.mounts(self.pod, c)

    def update(self, pod: dict[str, Any]) -> None:
        old_gen = (self.pod.get("metadata") or {}).get("generation")
        self.pod = pod
        if (pod.get("metadata") or {}).get("generation") != old_gen:
            self.containers.load_specs(pod)

    def event(self, etype: str, reason: str, message: str, container: str | None = None) -> None:
        path = None
        if container is not None:
            run = self.containers.by_name.get(container)
            kind = "initContainers" if run is not None and run.init else "containers"
            path = f"spec.{kind}{{{container}}}"
        self.deps.events.pod_event(self.pod, etype, reason, message, path)

    def grace(self) -> int:
        """The pod's termination grace period, in seconds."""
        meta = self.pod.get("metadata") or {}
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = self.spec.get("terminationGracePeriodSeconds", 30)
        return int(grace) if isinstance(grace, int) else 30

    # ------------------------------------------------------------------ adoption

    async def adopt(self) -> None:
        """Take over what the records show: the sandbox, running containers, past exits."""
        cp = self.dir.load()
        if cp is None:
            return
        self.cp = cp
        self.pause.adopt()
        self.containers.adopt()
        await self.sandbox.check(cp)

    # ------------------------------------------------------------------ sync

    async def sync(self) -> None:
        if self.cp.terminal_phase is not None:
            self.report()
            return
        if self.containers.spec_error is not None:
            self.report(reason="InvalidSpec", message=self.containers.spec_error)
            return
        if self.sandbox.changed:
            self.event(NORMAL, "SandboxChanged", SANDBOX_CHANGED)
            await self.containers.kill_all(self.grace(), "sandbox changed")
            await self.pause.stop()
            await self.sandbox.teardown(self.cp, self.host_network)
            self.sandbox.changed = False
        if self.cp.start_time is None:
            self.cp.start_time = now_rfc3339()
        left = self._deadline_left()
        if left is not None and left <= 0:
            await self._deadline_exceeded()
            return
        if left is not None:
            self.deps.wake_later(self.uid, left + 0.01)
        t_sandbox = time.monotonic()
        if not await self.sandbox.ensure(self.cp, self.host_network, self.event):
            self.report()
            return
        if not await self._ensure_pause() or not self._ensure_files():
            self.report()
            return
        if not await self._ensure_volumes():
            self.report()
            return
        t_plan = time.monotonic()
        started = await self._carry_out_plan()
        self.report()
        if not self._start_logged and started:
            self._start_logged = True
            self._log_start_latency(t_sandbox, t_plan)

    async def _ensure_pause(self) -> bool:
        """The pod's pause runs; if it ended under running containers, they go too."""
        if self.pause.lost and any(r.running for r in self.containers.by_name.values()):
            self.event(NORMAL, "SandboxChanged", SANDBOX_CHANGED)
            await self.containers.kill_all(self.grace(), "sandbox changed")
        hostname = self.deps.config.node_name if self.host_network else self.hostname
        host_ipc = bool(self.spec.get("hostIPC"))
        error = await self.pause.ensure_or_error(
            hostname, self.netns_path, self.share_pid, host_ipc
        )
        self.sandbox.error = error
        if error is not None:
            self.event(WARNING, "FailedCreatePodSandBox", error)
            self.deps.wake_later(self.uid, 1.0)
        return error is None

    def _ensure_files(self) -> bool:
        """The pod's /etc files and emptyDirs, before its first container."""
        error = self.files.ensure(self.pod, self.namespace, self.pod_ip, self.host_network)
        if error is not None:
            self.sandbox.error = error
            self.event(WARNING, "FailedMount", error)
            self.deps.wake_later(self.uid, 1.0)
        return error is None

    async def _ensure_volumes(self) -> bool:
        """Read what the pod refers to; set up (or refresh) its volumes. False while one has
        never been set up (the pod stays ContainerCreating; FailedMount events say why)."""
        refs = referenced(self.spec)
        if refs:
            try:
                self.sources = await fetch_sources(self.deps.client, self.namespace, refs)
            except FetchError as exc:
                log.warning("pod %s/%s: %s", self.namespace, self.name, exc)
                self.deps.wake_later(self.uid, CONFIG_RETRY)
                # The API server is away: a pod going already carries on with what it read
                # last; a new one waits (its references would look missing).
                if not refs <= self.sources.objects.keys():
                    return False
        if not self.volumes.warned:
            self.volumes.warned = True
            for path in not_honoured(self.spec):
                self.event(WARNING, "NotHonoured", f"{path} is not carried out by kubelet-lite")
        errors = self.volumes.setup(self.spec, self.sources, pod_fields(self), node_capacity())
        for name, why in errors:
            self.event(
                WARNING, "FailedMount", f'MountVolume.SetUp failed for volume "{name}" : {why}'
            )
        if errors:
            self.deps.wake_later(self.uid, CONFIG_RETRY)
        elif refreshed(self.spec):
            self.deps.wake_later(self.uid, min(VOLUME_REFRESH, self.deps.config.sync_frequency))
        return all(name in self.volumes.ready for name, _ in errors)

    def _retry_config_errors(self) -> dict[str, int]:
        """Containers waiting in CreateContainerConfigError try again (what they miss may
        exist now); those let go, with their attempt."""
        retry = {}
        for run in self.containers.by_name.values():
            if run.blocked and run.waiting_reason == ContainerConfigError.reason:
                run.blocked = False
                retry[run.name] = run.attempt
        return retry

    def _still_waiting(self, retried: dict[str, int]) -> None:
        """Those retried but not started (the plan had other things first) wait as before;
        while any waits so, the pod syncs again soon."""
        for name, attempt in retried.items():
            run = self.containers.by_name[name]
            if not run.blocked and not run.running and run.attempt == attempt:
                run.blocked = True
        if any(
            r.blocked and r.waiting_reason == ContainerConfigError.reason
            for r in self.containers.by_name.values()
        ):
            self.deps.wake_later(self.uid, CONFIG_RETRY)

    async def _carry_out_plan(self) -> bool:
        """Kill, note back-offs, start, as plan.py decides; True if it started something."""
        retried = self._retry_config_errors()
        try:
            return await self._plan_and_act()
        finally:
            self._still_waiting(retried)

    async def _plan_and_act(self) -> bool:
        containers = self.containers
        plan = plan_pod(
            self.restart_policy,
            [r.facts() for r in containers.runs(True)],
            [r.facts() for r in containers.runs(False)],
            containers.backoff,
            time.monotonic(),
        )
        for name, why in plan.kill:
            containers.kill(containers.by_name[name], why)
        for run in containers.by_name.values():
            containers.note_backoff(run, plan.backing_off.get(run.name))
        for name in plan.start:
            await containers.start(containers.by_name[name])
        if plan.wake_in is not None:
            self.deps.wake_later(self.uid, plan.wake_in + 0.01)
        if plan.terminal is not None:
            await self._finish(plan.terminal)
        return bool(plan.start)

    def _log_start_latency(self, t_sandbox: float, t_plan: float) -> None:
        now = time.monotonic()
        log.debug(
            "pod %s/%s: started %.0f ms after it was seen (waited %.0f, sandbox %.0f, "
            "containers %.0f)",
            self.namespace,
            self.name,
            (now - self.seen_at) * 1000,
            (t_sandbox - self.seen_at) * 1000,
            (t_plan - t_sandbox) * 1000,
            (now - t_plan) * 1000,
        )

    def _deadline_left(self) -> float | None:
        """Seconds until spec.activeDeadlineSeconds runs out (None: no deadline)."""
        deadline = self.spec.get("activeDeadlineSeconds")
        if not isinstance(deadline, int) or self.cp.start_time is None:
            return None
        started = datetime.strptime(self.cp.start_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return deadline - (datetime.now(UTC) - started).total_seconds()

    async def _deadline_exceeded(self) -> None:
        message = "Pod was active on the node longer than the specified deadline"
        self.event(WARNING, "DeadlineExceeded", message)
        self.cp.extra.update(terminalReason="DeadlineExceeded", terminalMessage=message)
        await self._finish("Failed")
        self.report()

    async def _finish(self, phase: str) -> None:
        """The pod is done: stop what still runs (sidecars), release its network."""
        await self.containers.kill_all(self.grace(), "")
        self.containers.stop_watching()
        await self.pause.stop()
        await remove_pod_cgroups(self.deps.cgroups, self.uid, f"{self.namespace}/{self.name}")
        await self.sandbox.teardown(self.cp, self.host_network)
        self.cp.terminal_phase = phase
        self.dir.save(self.cp)
        log.info("pod %s/%s finished: %s", self.namespace, self.name, phase)

    # ------------------------------------------------------------------ termination

    async def terminate(self, api_deleted: bool) -> bool:
        """Stop everything (SIGTERM, grace, SIGKILL), remove the sandbox, then let the pod
        object go (DELETE with grace 0). True once nothing of the pod is left here."""
        # Gone from the API already (force-deleted): kubelet still allows its minimum grace.
        grace = MIN_GRACE if api_deleted else self.grace()
        await self.containers.kill_all(grace, "Stopping")
        self.containers.stop_watching()
        await self.pause.stop()
        await remove_pod_cgroups(self.deps.cgroups, self.uid, f"{self.namespace}/{self.name}")
        try:
            await self.sandbox.teardown(self.cp, self.host_network)
        except SandboxError as exc:
            log.error("pod %s/%s: %s", self.namespace, self.name, exc)
            self.event(WARNING, "FailedKillPod", f"error killing pod: {exc}")
            return False
        if not api_deleted:
            failpoints.hit("before-delete-pod")
            try:
                await self.deps.client.delete(
                    "Pod",
                    self.name,
                    self.namespace,
                    grace_period_seconds=0,
                    precondition_uid=self.uid,
                )
            except ApiError as exc:
                if exc.code not in (404, 409):
                    log.warning("pod %s/%s: delete: %s", self.namespace, self.name, exc)
                    return False
            except ApiConnectionError as exc:
                log.warning("pod %s/%s: delete: %s", self.namespace, self.name, exc)
                return False
        self.dir.remove()
        self.deps.statuses.forget(self.uid)
        return True

    def detach(self) -> None:
        """kubelet-lite is stopping: stop watching; the containers keep running."""
        self.containers.detach()
        self.pause.detach()

    # ------------------------------------------------------------------ status

    def report(self, reason: str | None = None, message: str | None = None) -> None:
        if self.cp.terminal_phase is not None:
            reason = reason or self.cp.extra.get("terminalReason")
            message = message or self.cp.extra.get("terminalMessage")
        facts = PodFacts(
            host_ip=str(self.deps.config.node_ip),
            pod_ip=self.pod_ip,
            start_time=self.cp.start_time,
            phase_override=self.cp.terminal_phase,
            reason=reason,
            message=message,
        )
        init_views, views = container_views(
            self.uid,
            self.containers.runs(True),
            self.containers.runs(False),
            self.sandbox.error,
        )
        status = build_status(self.pod, facts, init_views, views, now_rfc3339(), self.last_status)
        self.last_status = status
        self.deps.statuses.set(self.uid, self.namespace, self.name, status)
