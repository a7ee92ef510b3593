"""Where each container of the pod stands (``ContainerRun``), and how a run ended.

A run is one attempt of a container: its number is the restartCount. PodContainers
(containers.py) changes a run as the runtime and the probes report; the status is built from
the runs (status_view.py) and the plan decides from their facts (plan.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knet.api.base import from_wire
from knet.api.core import Container
from kubelet_lite.pods.container_spec import container_id
from kubelet_lite.pods.plan import ContainerFacts
from kubelet_lite.pods.probes import Kind
from kubelet_lite.runtime import logs
from kubelet_lite.runtime.process import ExitRecord, RunningProcess
from kubelet_lite.status.pod_status import Terminated, terminated_reason

START_ERROR_EXIT = 128  # what container runtimes report for a container that never ran
LOG_TAIL_BYTES = 2048


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
    text = logs.decode_text(data).strip()  # the CRI prefixes are not the message
    return "\n".join(text.splitlines()[-10:]) or None


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
    image: str | None = None  # the image of the latest run (the spec's may have changed since)
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

    def began(self, attempt: int, previous: Terminated | None, started_at: str | None) -> None:
        """Attempt ``attempt`` is running (``previous``: how the one before it ended)."""
        self.attempt, self.last = attempt, previous
        self.exit, self.exit_message, self.kill_reason = None, None, None
        self.waiting_reason, self.waiting_message = "ContainerCreating", None
        self.started_at = started_at
        self.backing_off = False

    def attached(self, proc: RunningProcess) -> None:
        """Watching ``proc`` from now on: not started or ready until its probes say so."""
        self.process = proc
        self.cancel_tasks()
        self.startup_done = asyncio.Event()
        self.started = self.spec.startup_probe is None
        self.ready = self.spec.readiness_probe is None and self.started
        if self.started:
            self.startup_done.set()

    def record_exit(self, rec: ExitRecord, log_file: Path) -> None:
        """The run ended: keep how (with its log's end if it failed), stop watching it."""
        self.process = None
        self.exit = rec
        self.finished_at = time.monotonic()
        self.ready = False
        self.kill_reason = None
        self.exit_message = None
        if rec.exit_code != 0 and rec.known and not rec.start_error:
            self.exit_message = log_tail(log_file)
        for t in self.tasks:
            if t is not asyncio.current_task():
                t.cancel()
        self.tasks.clear()

    def block(self, reason: str, message: str) -> None:
        """The spec cannot be carried out: wait, saying why, until the spec changes."""
        self.blocked = True
        self.waiting_reason, self.waiting_message = reason, message

    def probed(self, kind: Kind, ok: bool) -> None:
        """A probe's result flipped to ``ok``."""
        if kind is Kind.READINESS:
            self.ready = ok and self.started
        elif kind is Kind.STARTUP:
            if ok:
                self.started = True
                self.ready = self.spec.readiness_probe is None
                self.startup_done.set()
            else:
                self.kill_reason = f"Container {self.name} failed startup probe, will be restarted"
        elif not ok:
            self.kill_reason = f"Container {self.name} failed liveness probe, will be restarted"


def to_terminated(
    rec: ExitRecord, started_at: str | None, cid: str, message: str | None
) -> Terminated:
    code = START_ERROR_EXIT if rec.start_error else rec.exit_code
    if rec.start_error:
        message = rec.start_error
    elif not rec.known:
        message = "the container ended while kubelet-lite was not watching; exit code unknown"
    reason = terminated_reason(code, rec.start_error, rec.known)
    return Terminated(
        exit_code=code,
        reason="OOMKilled" if rec.oom_killed else reason,
        message=message,
        signal=rec.signal,
        started_at=started_at,
        finished_at=rec.finished_at,
        container_id=cid,
    )


def read_containers(pod: Mapping[str, Any]) -> tuple[list[Container], list[Container]]:
    spec = pod.get("spec") or {}
    init = [from_wire(Container, c) for c in spec.get("initContainers") or []]
    main = [from_wire(Container, c) for c in spec.get("containers") or []]
    return init, main
