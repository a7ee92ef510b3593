"""The pod's containers: their runs, exits, kills, probes and restart back-off.

``PodContainers`` carries out what plan.py decides for one pod: it starts a container (through
the runtime, in the pod's sandbox), watches it end and its probes, kills it, and keeps each
container's ``ContainerRun`` (container_run.py) up to date. It adopts the runs an earlier
kubelet-lite left behind, from the pod's run records.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from knet.api.base import to_wire
from knet.api.core import Container
from knet.api.times import now_rfc3339
from knet.client.recorder import NORMAL, WARNING
from kubelet_lite import failpoints
from kubelet_lite.pods.backoff import CrashLoopBackoff
from kubelet_lite.pods.container_run import (
    START_ERROR_EXIT,
    ContainerRun,
    log_tail,
    read_containers,
    to_terminated,
)
from kubelet_lite.pods.container_spec import (
    ContainerConfigError,
    PodFields,
    container_env,
    container_id,
    expanded_command,
    pod_hostname,
    spec_hash,
)
from kubelet_lite.pods.deps import Deps
from kubelet_lite.pods.pod_cgroups import after_exit, container_cgroup
from kubelet_lite.pods.probes import Kind, Target, start_probes
from kubelet_lite.pods.security_context import container_security
from kubelet_lite.pods.service_env import service_env
from kubelet_lite.runtime import stdin
from kubelet_lite.runtime.mounts import MountPlan
from kubelet_lite.runtime.namespaces import NamespacePlan
from kubelet_lite.runtime.process import (
    ExitRecord,
    LaunchRequest,
    RunningProcess,
    RuntimeUnavailable,
    StartFailed,
    marker,
    read_exit_record,
    unknown_exit,
    watch,
)
from kubelet_lite.runtime.resolve import ImageError, resolve
from kubelet_lite.status.checkpoint import Attempt, PodDir
from kubelet_lite.status.pod_status import qos_class
from kubelet_lite.volumes.fetch import node_capacity
from kubelet_lite.volumes.sources import Sources

log = logging.getLogger(__name__)


class PodContext(Protocol):
    """What the containers need of their pod (sync.PodSync)."""

    uid: str
    namespace: str
    name: str
    deps: Deps
    dir: PodDir
    pod: dict[str, Any]
    sources: Sources  # the ConfigMaps and Secrets the pod refers to, as last read

    @property
    def spec(self) -> Mapping[str, Any]: ...

    @property
    def host_network(self) -> bool: ...

    @property
    def pod_ip(self) -> str | None: ...

    @property
    def netns_path(self) -> str | None: ...

    @property
    def pause_pid(self) -> int | None: ...

    @property
    def share_pid(self) -> bool: ...

    def container_mounts(self, c: Container) -> MountPlan: ...

    def event(
        self, etype: str, reason: str, message: str, container: str | None = None
    ) -> None: ...

    def grace(self) -> int: ...


class PodContainers:
    """The pod's containers: what they are (from the spec), and their runs."""

    def __init__(self, pod: PodContext) -> None:
        self.pod = pod
        config = pod.deps.config
        self.backoff = CrashLoopBackoff(
            config.crash_loop_backoff_initial, config.crash_loop_backoff_max
        )
        self.by_name: dict[str, ContainerRun] = {}
        self.order: list[str] = []
        self.spec_error: str | None = None

    def load_specs(self, pod: Mapping[str, Any]) -> None:
        """(Re)read the containers' specs; a changed definition restarts that container."""
        try:
            init, main = read_containers(pod)
        except ValidationError as exc:
            self.spec_error = f"the pod's containers cannot be read: {exc}"
            return
        self.spec_error = None
        order = []
        for c, is_init in [(c, True) for c in init] + [(c, False) for c in main]:
            order.append(c.name)
            h = spec_hash(c)
            run = self.by_name.get(c.name)
            if run is None:
                self.by_name[c.name] = ContainerRun(
                    c, is_init, is_init and c.restart_policy == "Always", h
                )
                continue
            if run.hash != h:
                run.spec, run.hash, run.blocked = c, h, False
                if run.running:
                    run.kill_reason = f"Container {c.name} definition changed, will be restarted"
                self.backoff.reset(run.name)
        self.order = order

    def runs(self, init: bool) -> list[ContainerRun]:
        return [self.by_name[n] for n in self.order if self.by_name[n].init == init]

    # ------------------------------------------------------------------ adoption

    def adopt(self) -> None:
        """Take over the runs the records show: running ones are watched again."""
        attempts = self.pod.dir.attempts()
        for name, run in self.by_name.items():
            history = attempts.get(name) or []
            if history:
                self._adopt_run(run, history)

    def _adopt_run(self, run: ContainerRun, history: list[Attempt]) -> None:
        pod = self.pod
        latest = history[-1]
        prev = history[-2] if len(history) > 1 else None
        if prev is not None and prev.exit is not None:
            message = None
            if prev.exit.exit_code != 0:
                message = log_tail(pod.dir.log_file(run.name, prev.number))
            run.last = to_terminated(
                prev.exit,
                prev.process.started_at if prev.process else None,
                container_id(pod.uid, run.name, prev.number),
                message,
            )
        run.attempt = latest.number
        run.started_at = latest.process.started_at if latest.process else None
        exit_rec = latest.exit
        if exit_rec is None and latest.process is not None:
            exit_file = pod.dir.exit_file(run.name, latest.number)
            proc = watch(latest.process, exit_file, marker(pod.uid))
            if proc is not None:
                self._attach(run, proc, latest.number)
                log.info(
                    "pod %s/%s: adopted container %s (pid %d)",
                    pod.namespace,
                    pod.name,
                    run.name,
                    proc.pid,
                )
                return
            exit_rec = read_exit_record(exit_file, latest.process.pid)
        run.record_exit(exit_rec or unknown_exit(), pod.dir.log_file(run.name, latest.number))

    def _caught_up_with_records(self, run: ContainerRun) -> bool:
        """A start whose answer was lost (the zygote died mid-spawn) may still have happened:
        if the records know a newer run than we do, take it over instead of starting another."""
        if not self.pod.dir.pid_file(run.name, run.attempt + 1).exists():
            return False
        history = self.pod.dir.attempts().get(run.name) or []
        if history and history[-1].number > run.attempt:
            self._adopt_run(run, history)
            self.pod.deps.wake(self.pod.uid)
            return True
        return False

    # ------------------------------------------------------------------ start

    async def start(self, run: ContainerRun) -> None:
        if self._caught_up_with_records(run):
            return
        req = self._launch_request(run)
        if req is None:
            return
        pod, c, attempt = self.pod, run.spec, run.attempt + 1
        previous = run.terminated(pod.uid)
        if attempt == 0:
            pod.event(
                NORMAL, "Pulled", f'Container image "{c.image}" already present on machine', c.name
            )
        t0 = time.perf_counter()
        try:
            proc = await pod.deps.runtime.spawn(req, on_sent=lambda: failpoints.hit("spawn-sent"))
        except StartFailed as exc:
            run.attempt, run.last = attempt, previous
            run.record_exit(
                ExitRecord(START_ERROR_EXIT, None, now_rfc3339(), exc.message),
                pod.dir.log_file(c.name, attempt),
            )
            pod.deps.wake(pod.uid)  # the restart policy decides what comes next
            pod.event(NORMAL, "Created", f"Created container {c.name}", c.name)
            pod.event(
                WARNING,
                "Failed",
                f'Error: failed to start container "{c.name}": {exc.message}',
                c.name,
            )
            return
        except RuntimeUnavailable as exc:
            run.waiting_reason, run.waiting_message = "RunContainerError", str(exc)
            pod.deps.wake_later(pod.uid, 1.0)
            return
        failpoints.hit("after-spawn")
        ms = (time.perf_counter() - t0) * 1000
        log.debug("pod %s: step container-%s %.1f ms", pod.uid, c.name, ms)
        run.began(attempt, previous, proc.record.started_at)
        self._attach(run, proc, attempt)
        pod.event(NORMAL, "Created", f"Created container {c.name}", c.name)
        pod.event(NORMAL, "Started", f"Started container {c.name}", c.name)

    def _launch_request(self, run: ContainerRun) -> LaunchRequest | None:
        """What the runtime needs to start the next run; None (the run blocked, and an event
        says why) when the spec cannot be carried out."""
        c = run.spec
        try:
            return launch_request(self.pod, run)
        except ContainerConfigError as exc:
            run.block(exc.reason, str(exc))
            self.pod.event(WARNING, "Failed", f"Error: {exc}", c.name)
        except ImageError as exc:
            run.block(exc.reason, exc.message)
            self.pod.event(
                WARNING, "Failed", f'Failed to pull image "{c.image}": {exc.message}', c.name
            )
            self.pod.event(WARNING, "Failed", f"Error: {exc.reason}", c.name)
        return None

    # ------------------------------------------------------------------ running

    def _attach(self, run: ContainerRun, proc: RunningProcess, attempt: int) -> None:
        """Watch a running container: its exit and its probes."""
        run.attached(proc)
        run.tasks.append(asyncio.create_task(self._watch_exit(run, proc, attempt)))
        target = Target(
            pod_ip=self.pod.pod_ip or "127.0.0.1",
            node_netns_path=self.pod.deps.node_netns_path,
            pod_netns_path=self.pod.netns_path,
            pid=proc.pid,
            env=run.env,
        )
        run.tasks += start_probes(
            run.spec,
            target,
            partial(self._on_probe_result, run),
            partial(self._on_probe_failure, run),
            run.startup_done,
        )

    def _on_probe_failure(self, run: ContainerRun, kind: Kind, message: str) -> None:
        self.pod.event(WARNING, "Unhealthy", f"{kind.value} probe failed: {message}", run.name)

    def _on_probe_result(self, run: ContainerRun, kind: Kind, ok: bool, message: str) -> None:
        run.probed(kind, ok)
        self.pod.deps.wake(self.pod.uid)

    async def _watch_exit(self, run: ContainerRun, proc: RunningProcess, attempt: int) -> None:
        try:
            rec = await asyncio.shield(proc.exited)
        except asyncio.CancelledError:
            return
        if run.attempt == attempt and run.process is proc:
            rec = after_exit(self.pod.deps.cgroups, self.pod.uid, run.name, rec)
            run.record_exit(rec, self.pod.dir.log_file(run.name, attempt))
            self.pod.deps.wake(self.pod.uid)

    # ------------------------------------------------------------------ stop

    def kill(self, run: ContainerRun, why: str) -> None:
        proc = run.process
        if proc is None or (run.stopping is not None and not run.stopping.done()):
            return
        self.pod.event(NORMAL, "Killing", why, run.name)
        grace = self.pod.grace()
        for probe in (run.spec.liveness_probe, run.spec.startup_probe):
            if probe is not None and probe.termination_grace_period_seconds is not None:
                grace = probe.termination_grace_period_seconds
        run.stopping = asyncio.create_task(self.pod.deps.runtime.stop(proc, grace))
        run.stopping.add_done_callback(lambda _: self.pod.deps.wake(self.pod.uid))

    async def kill_all(self, grace: int, why: str) -> None:
        stops = []
        for run in self.by_name.values():
            run.kill_reason = None
            proc = run.process
            if proc is not None and proc.alive:
                if why:
                    self.pod.event(NORMAL, "Killing", f"Stopping container {run.name}", run.name)
                stops.append(self.pod.deps.runtime.stop(proc, grace))
        if stops:
            await asyncio.gather(*stops)
        # Give the exit watchers their turn, so every run records its exit.
        await asyncio.sleep(0)

    def stop_watching(self) -> None:
        for run in self.by_name.values():
            run.cancel_tasks()

    def detach(self) -> None:
        """kubelet-lite is stopping: stop watching; the containers keep running."""
        for run in self.by_name.values():
            run.cancel_tasks()
            if run.process is not None:
                run.process.detach()

    def note_backoff(self, run: ContainerRun, left: float | None) -> None:
        """CrashLoopBackOff while a restart waits (and a BackOff event as it begins)."""
        if left is None:
            run.backing_off = False
            return
        pod = self.pod
        key = "init/" + run.name if run.init else run.name
        current = self.backoff.current(key) or left
        if not run.backing_off:
            pod.event(
                WARNING,
                "BackOff",
                f"Back-off restarting failed container {run.name} in pod "
                f"{pod.name}_{pod.namespace}({pod.uid})",
                run.name,
            )
        run.backing_off = True
        run.waiting_message = (
            f"back-off {current:g}s restarting failed container={run.name} "
            f"pod={pod.name}_{pod.namespace}({pod.uid})"
        )


def launch_request(pod: PodContext, run: ContainerRun) -> LaunchRequest:
    """What the runtime needs to start the container's next run (and the run learns its image
    and environment). Raises ContainerConfigError or ImageError."""
    c, config = run.spec, pod.deps.config
    if pod.host_network:
        hostname = config.node_name
    else:
        hostname = pod_hostname(pod.name, pod.spec.get("hostname"))
    skipped: list[str] = []
    links = service_env(pod.deps.services(), pod.namespace, pod.spec.get("enableServiceLinks"))
    env = container_env(
        c, pod_fields(pod), hostname, pod.sources, node_capacity(), skipped, services=links
    )
    for message in skipped:
        pod.event(WARNING, "InvalidEnvironmentVariableNames", message, c.name)
    command, args = expanded_command(c, env)
    plan = resolve(c.image, command or None, args or None)
    sec = container_security(
        pod.spec.get("securityContext"),
        (c.model_extra or {}).get("securityContext"),
        c.name,
        f"{pod.name}_{pod.namespace}({pod.uid})",
    )
    mounts = dataclasses.replace(pod.container_mounts(c), tmpfs_read_only=sec.read_only_root)
    if sec.not_honoured and run.attempt < 0:
        for path in sec.not_honoured:
            pod.event(WARNING, "NotHonoured", f"{path} is not carried out by kubelet-lite", c.name)
    procs = container_cgroup(pod.deps.cgroups, pod.uid, c, config.pod_max_pids, qos_class(pod.spec))
    unlimited = pod.deps.cgroups is None and run.attempt < 0
    if unlimited and c.resources is not None and to_wire(c.resources).get("limits"):
        pod.event(
            WARNING,
            "NotHonoured",
            f"spec.containers[{c.name}].resources.limits are not enforced: this node "
            "has no cgroups kubelet-lite may write",
            c.name,
        )
    attempt = run.attempt + 1
    run.image_id, run.image, run.env = plan.image_id, c.image, env
    return LaunchRequest(
        hostname=hostname,
        log=pod.dir.log_file(c.name, attempt),
        env=env,
        plan=plan,
        pid_file=pod.dir.pid_file(c.name, attempt),
        exit_file=pod.dir.exit_file(c.name, attempt),
        pod_uid=pod.uid,
        cwd=c.working_dir,
        netns=pod.netns_path,
        namespaces=NamespacePlan(holder=pod.pause_pid, pid=pid_mode(pod.spec), mount=True),
        mounts=mounts,
        cgroup_procs=tuple(procs),
        security=sec.plan,
        log_max_size=config.container_log_max_size,
        log_max_files=config.container_log_max_files,
        stdin=stdin_fifo(pod.dir, c, attempt),
    )


def stdin_fifo(pd: PodDir, c: Container, attempt: int) -> Path | None:
    """The FIFO that is the container's stdin when it asks for one (``kubectl run -i``)."""
    if not c.stdin:
        return None
    path = pd.stdin_file(c.name, attempt)
    path.parent.mkdir(parents=True, exist_ok=True)
    stdin.release(pd.stdin_file(c.name, attempt - 1))  # the previous attempt's
    stdin.hold(path)
    return path


def pid_mode(spec: Mapping[str, Any]) -> str:
    """hostPID: the node's PID namespace; shareProcessNamespace: pause's; else its own."""
    if spec.get("hostPID"):
        return "host"
    return "pod" if spec.get("shareProcessNamespace") else "container"


def pod_fields(pod: PodContext) -> PodFields:
    """What the container's ``fieldRef`` env vars may refer to."""
    meta = pod.pod.get("metadata") or {}
    return PodFields(
        name=pod.name,
        namespace=pod.namespace,
        uid=pod.uid,
        node_name=pod.deps.config.node_name,
        host_ip=str(pod.deps.config.node_ip),
        pod_ip=pod.pod_ip or "",
        service_account=str(pod.spec.get("serviceAccountName") or "default"),
        labels=meta.get("labels") or {},
        annotations=meta.get("annotations") or {},
    )
