"""One pod's life on this node: sandbox, containers, probes, status, and its end.

A ``PodSync`` is driven by the pod's worker (pod_workers.py), one call at a time:
``adopt()`` once (pick up what an earlier kubelet-lite left running), then ``sync(pod)`` whenever
the pod or one of its containers changed, and ``terminate(...)`` when the pod is being deleted.
What to start, restart or kill is decided by plan.py (pure); this module carries it out and
keeps the checkpoint (status/checkpoint.py) ahead of every step that creates something.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pydantic import ValidationError

from knet.api.base import from_wire
from knet.api.core import Container
from knet.client import ApiClient, ApiConnectionError, ApiError
from knet.netlink import netns as netns_mod
from kubelet_lite import failpoints
from kubelet_lite.config import KubeletConfig
from kubelet_lite.events import NORMAL, WARNING, EventRecorder
from kubelet_lite.network.conf import SandboxSpec
from kubelet_lite.network.pod_network import PodNetwork, SandboxError
from kubelet_lite.network.worker_pool import SandboxWorkers
from kubelet_lite.pods.backoff import CrashLoopBackoff
from kubelet_lite.pods.container_spec import (
    ContainerConfigError,
    PodFields,
    container_env,
    container_id,
    expanded_command,
    pod_hostname,
    spec_hash,
)
from kubelet_lite.pods.plan import ContainerFacts, plan_pod
from kubelet_lite.pods.probes import Kind, ProbeWorker, Target, Timing, run_check
from kubelet_lite.runtime.process import (
    ExitRecord,
    LaunchRequest,
    ProcessRuntime,
    RunningProcess,
    RuntimeUnavailable,
    StartFailed,
    marker,
    read_exit_record,
    unknown_exit,
    watch,
)
from kubelet_lite.runtime.resolve import ImageError, resolve
from kubelet_lite.status.checkpoint import Attempt, PodCheckpoint, PodDir, StateStore
from kubelet_lite.status.pod_status import (
    ContainerView,
    PodFacts,
    Terminated,
    build_status,
    terminated_reason,
)
from kubelet_lite.status.writer import StatusManager

log = logging.getLogger(__name__)

MIN_GRACE = 2  # kubelet's minimum grace period when the pod object is already gone
START_ERROR_EXIT = 128  # what container runtimes report for a container that never ran
LOG_TAIL_BYTES = 2048
SANDBOX_RETRY_MAX = 30.0


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def log_tail(path: Any, limit: int = LOG_TAIL_BYTES) -> str | None:
    """The end of a container's log, as a termination message (FallbackToLogsOnError)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(size - limit, 0))
            data = f.read()
    except OSError:
        return None
    text = data.decode(errors="replace").strip()
    return "\n".join(text.splitlines()[-10:]) or None


@dataclass
class Deps:
    """What every pod's sync shares: the node's configuration and its services."""

    config: KubeletConfig
    client: ApiClient
    network: PodNetwork  # for checks; sandboxes are made and removed by ``sandbox_workers``
    sandbox_workers: SandboxWorkers
    runtime: ProcessRuntime
    events: EventRecorder
    statuses: StatusManager
    store: StateStore
    run_blocking: Callable[..., Any]  # run a blocking network call off the event loop
    wake: Callable[[str], None]  # ask for the pod's next sync
    wake_later: Callable[[str, float], None]

    @property
    def node_netns_path(self) -> str | None:
        nn = self.config.node_netns
        return netns_mod.path(nn) if nn else None


@dataclass
class ContainerRun:
    """One container of the pod, as it stands now."""

    spec: Container
    init: bool
    sidecar: bool
    hash: str
    attempt: int = -1  # the latest run; also its restartCount
    process: RunningProcess | None = None
    started_at: str | None = None
    exit: ExitRecord | None = None
    exit_message: str | None = None
    finished_at: float | None = None  # monotonic
    last: Terminated | None = None
    image_id: str = ""
    waiting_reason: str = "ContainerCreating"
    waiting_message: str | None = None
    blocked: bool = False
    backing_off: bool = False
    ready: bool = False
    started: bool = False
    kill_reason: str | None = None
    stopping: asyncio.Task[ExitRecord] | None = None
    env: dict[str, str] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    startup_done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.alive

    def terminated(self, uid: str) -> Terminated | None:
        if self.exit is None:
            return None
        cid = container_id(uid, self.name, self.attempt)
        return to_terminated(self.exit, self.started_at, cid, self.exit_message)

    def facts(self) -> ContainerFacts:
        return ContainerFacts(
            name=self.name,
            started_ever=self.attempt >= 0,
            running=self.running,
            stopping=self.running and self.stopping is not None and not self.stopping.done(),
            exit_code=(
                (START_ERROR_EXIT if self.exit.start_error else self.exit.exit_code)
                if self.exit is not None
                else None
            ),
            finished_at=self.finished_at,
            kill_reason=self.kill_reason,
            blocked=self.blocked,
            sidecar=self.sidecar,
        )

    def cancel_tasks(self) -> None:
        for t in self.tasks:
            t.cancel()
        self.tasks.clear()


def to_terminated(
    rec: ExitRecord, started_at: str | None, cid: str, message: str | None
) -> Terminated:
    code = START_ERROR_EXIT if rec.start_error else rec.exit_code
    if rec.start_error:
        message = rec.start_error
    elif not rec.known:
        message = "the container ended while kubelet-lite was not watching; exit code unknown"
    return Terminated(
        exit_code=code,
        reason=terminated_reason(code, rec.start_error, rec.known),
        message=message,
        signal=rec.signal,
        started_at=started_at,
        finished_at=rec.finished_at,
        container_id=cid,
    )


def _containers(pod: Mapping[str, Any]) -> tuple[list[Container], list[Container]]:
    spec = pod.get("spec") or {}
    init = [from_wire(Container, c) for c in spec.get("initContainers") or []]
    main = [from_wire(Container, c) for c in spec.get("containers") or []]
    return init, main


class PodSync:
    def __init__(self, deps: Deps, pod: dict[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        self.deps = deps
        self.uid = str(meta["uid"])
        self.namespace = str(meta.get("namespace") or "default")
        self.name = str(meta.get("name"))
        self.pod = pod
        self.dir: PodDir = deps.store.pod(self.uid)
        self.cp = PodCheckpoint(self.uid, self.namespace, self.name)
        self.backoff = CrashLoopBackoff(
            deps.config.crash_loop_backoff_initial, deps.config.crash_loop_backoff_max
        )
        self.containers: dict[str, ContainerRun] = {}
        self.order: list[str] = []
        self.spec_error: str | None = None
        self.sandbox_error: str | None = None
        self.sandbox_retry_at = 0.0
        self.sandbox_failures = 0
        self.sandbox_changed = False
        self.last_status: dict[str, Any] | None = None
        self.seen_at = time.monotonic()
        self._start_logged = False
        self._load_specs(pod)

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
    def sandbox_spec(self) -> SandboxSpec:
        return SandboxSpec(pod_uid=self.uid, pod_name=f"{self.namespace}/{self.name}")

    def _load_specs(self, pod: Mapping[str, Any]) -> None:
        """(Re)read the containers' specs; a changed definition restarts that container."""
        try:
            init, main = _containers(pod)
        except ValidationError as exc:
            self.spec_error = f"the pod's containers cannot be read: {exc}"
            return
        self.spec_error = None
        order = []
        for c, is_init in [(c, True) for c in init] + [(c, False) for c in main]:
            order.append(c.name)
            h = spec_hash(c)
            run = self.containers.get(c.name)
            if run is None:
                self.containers[c.name] = ContainerRun(
                    c, is_init, is_init and c.restart_policy == "Always", h
                )
                continue
            if run.hash != h:
                run.spec, run.hash, run.blocked = c, h, False
                if run.running:
                    run.kill_reason = f"Container {c.name} definition changed, will be restarted"
                self.backoff.reset(run.name)
        self.order = order

    def update(self, pod: dict[str, Any]) -> None:
        old_gen = (self.pod.get("metadata") or {}).get("generation")
        self.pod = pod
        if (pod.get("metadata") or {}).get("generation") != old_gen:
            self._load_specs(pod)

    def runs(self, init: bool) -> list[ContainerRun]:
        return [self.containers[n] for n in self.order if self.containers[n].init == init]

    # ------------------------------------------------------------------ events

    def event(self, etype: str, reason: str, message: str, container: str | None = None) -> None:
        path = None
        if container is not None:
            run = self.containers.get(container)
            kind = "initContainers" if run is not None and run.init else "containers"
            path = f"spec.{kind}{{{container}}}"
        self.deps.events.pod_event(self.pod, etype, reason, message, path)

    # ------------------------------------------------------------------ adoption

    async def adopt(self) -> None:
        """Take over what the records show: the sandbox, running containers, past exits."""
        cp = self.dir.load()
        if cp is None:
            return
        self.cp = cp
        attempts = self.dir.attempts()
        for name, run in self.containers.items():
            history = attempts.get(name) or []
            if history:
                self._adopt_container(run, history)
        if cp.sandbox_state == "ready" and cp.sandbox is not None and cp.terminal_phase is None:
            problems = await self.deps.run_blocking(
                self.deps.network.check, self.sandbox_spec, cp.sandbox
            )
            if problems:
                log.warning("pod %s/%s: sandbox changed: %s", self.namespace, self.name, problems)
                self.sandbox_changed = True

    def _adopt_container(self, run: ContainerRun, history: list[Attempt]) -> None:
        latest = history[-1]
        prev = history[-2] if len(history) > 1 else None
        if prev is not None and prev.exit is not None:
            message = None
            if prev.exit.exit_code != 0:
                message = log_tail(self.dir.log_file(run.name, prev.number))
            run.last = to_terminated(
                prev.exit,
                prev.process.started_at if prev.process else None,
                container_id(self.uid, run.name, prev.number),
                message,
            )
        run.attempt = latest.number
        run.started_at = latest.process.started_at if latest.process else None
        exit_rec = latest.exit
        if exit_rec is None and latest.process is not None:
            exit_file = self.dir.exit_file(run.name, latest.number)
            proc = watch(latest.process, exit_file, marker(self.uid))
            if proc is not None:
                self._attach(run, proc, latest.number)
                log.info(
                    "pod %s/%s: adopted container %s (pid %d)",
                    self.namespace,
                    self.name,
                    run.name,
                    proc.pid,
                )
                return
            exit_rec = read_exit_record(exit_file, latest.process.pid)
        self._record_exit(run, exit_rec or unknown_exit(), latest.number)

    # ------------------------------------------------------------------ sync

    async def sync(self) -> None:
        if self.cp.terminal_phase is not None:
            self.report()
            return
        if self.spec_error is not None:
            self.report(reason="InvalidSpec", message=self.spec_error)
            return
        if self.sandbox_changed:
            self.event(
                NORMAL, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created."
            )
            await self._kill_all(self._grace(), "sandbox changed")
            await self._teardown_sandbox()
            self.sandbox_changed = False
        if self.cp.start_time is None:
            self.cp.start_time = now_rfc3339()
        left = self._deadline_left()
        if left is not None and left <= 0:
            await self._deadline_exceeded()
            return
        if left is not None:
            self.deps.wake_later(self.uid, left + 0.01)
        t_sandbox = time.monotonic()
        if not await self._ensure_sandbox():
            self.report()
            return
        t_plan = time.monotonic()
        plan = plan_pod(
            self.restart_policy,
            [r.facts() for r in self.runs(True)],
            [r.facts() for r in self.runs(False)],
            self.backoff,
            time.monotonic(),
        )
        for name, why in plan.kill:
            self._kill(self.containers[name], why)
        for run in self.containers.values():
            self._note_backoff(run, plan.backing_off.get(run.name))
        for name in plan.start:
            await self._start(self.containers[name])
        if plan.wake_in is not None:
            self.deps.wake_later(self.uid, plan.wake_in + 0.01)
        if plan.terminal is not None:
            await self._finish(plan.terminal)
        self.report()
        if not self._start_logged and plan.start:
            self._start_logged = True
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

    def _grace(self, override: int | None = None) -> int:
        if override is not None:
            return max(override, 0)
        meta = self.pod.get("metadata") or {}
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = self.spec.get("terminationGracePeriodSeconds", 30)
        return int(grace) if isinstance(grace, int) else 30

    # ------------------------------------------------------------------ sandbox

    async def _ensure_sandbox(self) -> bool:
        cp = self.cp
        if self.host_network:
            if cp.sandbox_state != "ready":
                cp.sandbox_state = "ready"
                cp.host_network = True
                self.dir.save(cp)
            return True
        if cp.sandbox_state == "ready":
            return True
        if time.monotonic() < self.sandbox_retry_at:
            return False
        try:
            await self.deps.sandbox_workers.request("create", cp, self.sandbox_spec)
        except SandboxError as exc:
            self.sandbox_failures += 1
            delay = min(2.0 ** (self.sandbox_failures - 1), SANDBOX_RETRY_MAX)
            self.sandbox_retry_at = time.monotonic() + delay
            self.sandbox_error = f"failed to create pod sandbox: {exc}"
            self.event(WARNING, "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}")
            self.deps.wake_later(self.uid, delay)
            return False
        self.sandbox_error = None
        self.sandbox_failures = 0
        return True

    async def _teardown_sandbox(self) -> None:
        if self.host_network or self.cp.sandbox_state == "none":
            return
        await self.deps.sandbox_workers.request("delete", self.cp, self.sandbox_spec)

    @property
    def pod_ip(self) -> str | None:
        if self.host_network:
            return str(self.deps.config.node_ip)
        return str(self.cp.sandbox.ip) if self.cp.sandbox is not None else None

    @property
    def netns_path(self) -> str | None:
        if self.host_network:
            return self.deps.node_netns_path
        return self.cp.sandbox.netns_path if self.cp.sandbox is not None else None

    # ------------------------------------------------------------------ containers

    def _fields(self) -> PodFields:
        meta = self.pod.get("metadata") or {}
        return PodFields(
            name=self.name,
            namespace=self.namespace,
            uid=self.uid,
            node_name=self.deps.config.node_name,
            host_ip=str(self.deps.config.node_ip),
            pod_ip=self.pod_ip or "",
            service_account=str(self.spec.get("serviceAccountName") or "default"),
            labels=meta.get("labels") or {},
            annotations=meta.get("annotations") or {},
        )

    def _block(self, run: ContainerRun, reason: str, message: str) -> None:
        run.blocked = True
        run.waiting_reason, run.waiting_message = reason, message

    def _caught_up_with_records(self, run: ContainerRun) -> bool:
        """A start whose answer was lost (the zygote died mid-spawn) may still have happened:
        if the records know a newer run than we do, take it over instead of starting another."""
        if not self.dir.pid_file(run.name, run.attempt + 1).exists():
            return False
        history = self.dir.attempts().get(run.name) or []
        if history and history[-1].number > run.attempt:
            self._adopt_container(run, history)
            self.deps.wake(self.uid)
            return True
        return False

    async def _start(self, run: ContainerRun) -> None:
        if self._caught_up_with_records(run):
            return
        c = run.spec
        hostname = (
            self.deps.config.node_name
            if self.host_network
            else pod_hostname(self.name, self.spec.get("hostname"))
        )
        try:
            env = container_env(c, self._fields(), hostname)
            command, args = expanded_command(c, env)
            plan = resolve(c.image, command or None, args or None)
        except ContainerConfigError as exc:
            self._block(run, exc.reason, str(exc))
            self.event(WARNING, "Failed", f"Error: {exc}", c.name)
            return
        except ImageError as exc:
            self._block(run, exc.reason, exc.message)
            self.event(
                WARNING, "Failed", f'Failed to pull image "{c.image}": {exc.message}', c.name
            )
            self.event(WARNING, "Failed", f"Error: {exc.reason}", c.name)
            return
        attempt = run.attempt + 1
        previous = run.terminated(self.uid)
        req = LaunchRequest(
            hostname=hostname,
            log=self.dir.log_file(c.name, attempt),
            env=env,
            plan=plan,
            pid_file=self.dir.pid_file(c.name, attempt),
            exit_file=self.dir.exit_file(c.name, attempt),
            pod_uid=self.uid,
            cwd=c.working_dir,
            netns=self.netns_path,
        )
        run.image_id, run.env = plan.image_id, env
        if attempt == 0:
            self.event(
                NORMAL, "Pulled", f'Container image "{c.image}" already present on machine', c.name
            )
        try:
            proc = await self.deps.runtime.spawn(req, on_sent=lambda: failpoints.hit("spawn-sent"))
        except StartFailed as exc:
            run.attempt, run.last = attempt, previous
            self._record_exit(
                run, ExitRecord(START_ERROR_EXIT, None, now_rfc3339(), exc.message), attempt
            )
            self.deps.wake(self.uid)  # the restart policy decides what comes next
            self.event(NORMAL, "Created", f"Created container {c.name}", c.name)
            self.event(
                WARNING,
                "Failed",
                f'Error: failed to start container "{c.name}": {exc.message}',
                c.name,
            )
            return
        except RuntimeUnavailable as exc:
            run.waiting_reason, run.waiting_message = "RunContainerError", str(exc)
            self.deps.wake_later(self.uid, 1.0)
            return
        failpoints.hit("after-spawn")
        run.attempt, run.last = attempt, previous
        run.exit, run.exit_message, run.kill_reason = None, None, None
        run.waiting_reason, run.waiting_message = "ContainerCreating", None
        run.started_at = proc.record.started_at
        run.backing_off = False
        self._attach(run, proc, attempt)
        self.event(NORMAL, "Created", f"Created container {c.name}", c.name)
        self.event(NORMAL, "Started", f"Started container {c.name}", c.name)

    def _attach(self, run: ContainerRun, proc: RunningProcess, attempt: int) -> None:
        """Watch a running container: its exit and its probes."""
        run.process = proc
        run.cancel_tasks()
        run.startup_done = asyncio.Event()
        c = run.spec
        run.started = c.startup_probe is None
        run.ready = c.readiness_probe is None and run.started
        if run.started:
            run.startup_done.set()
        run.tasks.append(asyncio.create_task(self._watch_exit(run, proc, attempt)))
        target = Target(
            pod_ip=self.pod_ip or "127.0.0.1",
            node_netns_path=self.deps.node_netns_path,
            pod_netns_path=self.netns_path,
            pid=proc.pid,
            env=run.env,
        )
        for kind, probe in (
            (Kind.STARTUP, c.startup_probe),
            (Kind.LIVENESS, c.liveness_probe),
            (Kind.READINESS, c.readiness_probe),
        ):
            if probe is None:
                continue
            timing = Timing.of(probe, kind)

            worker = ProbeWorker(
                kind,
                timing,
                partial(run_check, probe, c, target, timing.timeout),
                partial(self._on_probe_result, run),
                partial(self._on_probe_failure, run),
                gate=None if kind is Kind.STARTUP else run.startup_done,
            )
            run.tasks.append(asyncio.create_task(worker.run()))

    def _on_probe_failure(self, run: ContainerRun, kind: Kind, message: str) -> None:
        self.event(WARNING, "Unhealthy", f"{kind.value} probe failed: {message}", run.name)

    def _on_probe_result(self, run: ContainerRun, kind: Kind, ok: bool, message: str) -> None:
        if kind is Kind.READINESS:
            run.ready = ok and run.started
        elif kind is Kind.STARTUP:
            if ok:
                run.started = True
                run.ready = run.spec.readiness_probe is None
                run.startup_done.set()
            else:
                run.kill_reason = f"Container {run.name} failed startup probe, will be restarted"
        elif not ok:
            run.kill_reason = f"Container {run.name} failed liveness probe, will be restarted"
        self.deps.wake(self.uid)

    async def _watch_exit(self, run: ContainerRun, proc: RunningProcess, attempt: int) -> None:
        try:
            rec = await asyncio.shield(proc.exited)
        except asyncio.CancelledError:
            return
        if run.attempt == attempt and run.process is proc:
            self._record_exit(run, rec, attempt)
            self.deps.wake(self.uid)

    def _record_exit(self, run: ContainerRun, rec: ExitRecord, attempt: int) -> None:
        run.process = None
        run.exit = rec
        run.finished_at = time.monotonic()
        run.ready = False
        run.kill_reason = None
        run.exit_message = None
        if rec.exit_code != 0 and rec.known and not rec.start_error:
            run.exit_message = log_tail(self.dir.log_file(run.name, attempt))
        for t in run.tasks:
            if t is not asyncio.current_task():
                t.cancel()
        run.tasks.clear()

    def _kill(self, run: ContainerRun, why: str) -> None:
        proc = run.process
        if proc is None or (run.stopping is not None and not run.stopping.done()):
            return
        self.event(NORMAL, "Killing", why, run.name)
        grace = self._grace()
        for probe in (run.spec.liveness_probe, run.spec.startup_probe):
            if probe is not None and probe.termination_grace_period_seconds is not None:
                grace = probe.termination_grace_period_seconds
        run.stopping = asyncio.create_task(self.deps.runtime.stop(proc, grace))
        run.stopping.add_done_callback(lambda _: self.deps.wake(self.uid))

    async def _kill_all(self, grace: int, why: str) -> None:
        stops = []
        for run in self.containers.values():
            run.kill_reason = None
            proc = run.process
            if proc is not None and proc.alive:
                if why:
                    self.event(NORMAL, "Killing", f"Stopping container {run.name}", run.name)
                stops.append(self.deps.runtime.stop(proc, grace))
        if stops:
            await asyncio.gather(*stops)
        # Give the exit watchers their turn, so every run records its exit.
        await asyncio.sleep(0)

    def _note_backoff(self, run: ContainerRun, left: float | None) -> None:
        """CrashLoopBackOff while a restart waits (and a BackOff event as it begins)."""
        if left is None:
            run.backing_off = False
            return
        key = "init/" + run.name if run.init else run.name
        current = self.backoff.current(key) or left
        if not run.backing_off:
            self.event(
                WARNING,
                "BackOff",
                f"Back-off restarting failed container {run.name} in pod "
                f"{self.name}_{self.namespace}({self.uid})",
                run.name,
            )
        run.backing_off = True
        run.waiting_message = (
            f"back-off {current:g}s restarting failed container={run.name} "
            f"pod={self.name}_{self.namespace}({self.uid})"
        )

    async def _finish(self, phase: str) -> None:
        """The pod is done: stop what still runs (sidecars), release its network."""
        await self._kill_all(self._grace(), "")
        for run in self.containers.values():
            run.cancel_tasks()
        await self._teardown_sandbox()
        self.cp.terminal_phase = phase
        self.dir.save(self.cp)
        log.info("pod %s/%s finished: %s", self.namespace, self.name, phase)

    # ------------------------------------------------------------------ termination

    async def terminate(self, api_deleted: bool) -> bool:
        """Stop everything (SIGTERM, grace, SIGKILL), remove the sandbox, then let the pod
        object go (DELETE with grace 0). True once nothing of the pod is left here."""
        # Gone from the API already (force-deleted): kubelet still allows its minimum grace.
        grace = MIN_GRACE if api_deleted else self._grace()
        await self._kill_all(grace, "Stopping")
        for run in self.containers.values():
            run.cancel_tasks()
        try:
            await self._teardown_sandbox()
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
        for run in self.containers.values():
            run.cancel_tasks()
            if run.process is not None:
                run.process.detach()

    # ------------------------------------------------------------------ status

    def views(self, init: bool) -> list[ContainerView]:
        initializing = any(
            not (r.sidecar and r.running)
            and not (r.exit is not None and r.exit.exit_code == 0 and not r.exit.start_error)
            for r in self.runs(True)
        )
        return [self._view(run, not init and initializing) for run in self.runs(init)]

    def _view(self, run: ContainerRun, initializing: bool) -> ContainerView:
        c = run.spec
        cid = container_id(self.uid, c.name, run.attempt) if run.attempt >= 0 else None
        view = ContainerView(
            name=c.name,
            image=c.image or "",
            image_id=run.image_id,
            container_id=cid,
            restart_count=max(run.attempt, 0),
            last=run.last,
        )
        if run.running:
            return replace(view, ready=run.ready, started=run.started, running_since=run.started_at)
        term = run.terminated(self.uid)
        if term is not None and run.backing_off:
            return replace(
                view,
                last=term,
                waiting_reason="CrashLoopBackOff",
                waiting_message=run.waiting_message,
            )
        if term is not None:
            return replace(view, terminated=term)
        if run.blocked:
            return replace(
                view, waiting_reason=run.waiting_reason, waiting_message=run.waiting_message
            )
        if self.sandbox_error:
            return replace(view, waiting_message=self.sandbox_error)
        if initializing:
            return replace(view, waiting_reason="PodInitializing")
        if run.waiting_reason == "RunContainerError":
            return replace(
                view, waiting_reason=run.waiting_reason, waiting_message=run.waiting_message
            )
        return view

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
        status = build_status(
            self.pod, facts, self.views(True), self.views(False), now_rfc3339(), self.last_status
        )
        self.last_status = status
        self.deps.statuses.set(self.uid, self.namespace, self.name, status)
