"""The kubelet's side of the process runtime: spawn through the zygote, watch exits, signal
process groups, and adopt the processes of an earlier kubelet-lite after a restart.

Exits are seen through a pidfd (readable once the process is gone), which works the same for a
child of our zygote and for one adopted from a zygote of an earlier run; the exit code comes from
the zygote's exit record. Processes are named by (pid, start time), so a reused pid is never
mistaken for ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubelet_lite.runtime import procfs
from kubelet_lite.runtime.mounts import MountPlan
from kubelet_lite.runtime.namespaces import NamespacePlan
from kubelet_lite.runtime.pause import BUILTIN_NAME as PAUSE_BUILTIN
from kubelet_lite.runtime.resolve import ImagePlan
from kubelet_lite.runtime.security import SecurityPlan

log = logging.getLogger(__name__)

# How long to wait for the zygote's exit record once the pidfd says the process is gone.
EXIT_RECORD_WAIT = 3.0
UNKNOWN_EXIT_CODE = 137  # as Kubernetes reports a container whose end it did not see


class RuntimeUnavailable(Exception):
    """The zygote is not running and could not be (re)started."""


class StartFailed(Exception):
    """The process was created but could not become the container (exec failed, bad cwd...)."""

    def __init__(self, message: str, stage: str) -> None:
        super().__init__(message)
        self.message = message
        self.stage = stage


@dataclass(frozen=True)
class LaunchRequest:
    hostname: str
    log: Path | None  # None: the output goes nowhere (pause's)
    env: dict[str, str]
    plan: ImagePlan
    pid_file: Path
    exit_file: Path
    pod_uid: str
    cwd: str | None = None
    netns: str | None = None  # path, e.g. /run/netns/kl-...
    namespaces: NamespacePlan | None = None  # pause's to join, and the container's own
    mounts: MountPlan | None = None  # what the container's mount namespace holds
    cgroup_procs: tuple[str, ...] = ()  # the container's groups (cgroups.py) to join
    security: SecurityPlan | None = None  # uid/gid, capabilities, no_new_privs
    log_max_size: int = 0  # 0: the runtime's default (see runtime.logs)
    log_max_files: int = 0
    stdin: Path | None = None  # a FIFO to read stdin from (spec.stdin); else /dev/null

    @property
    def mark(self) -> bytes:
        return marker(self.pod_uid)

    def to_wire(self, rid: str) -> dict[str, Any]:
        return {
            "op": "spawn",
            "id": rid,
            "hostname": self.hostname,
            "log": str(self.log) if self.log is not None else None,
            "env": {**self.env, MARKER_ENV: self.pod_uid},
            "argv": self.plan.argv if self.plan.builtin is None else None,
            "builtin": self.plan.builtin,
            "builtinArgs": self.plan.builtin_args,
            "cwd": self.cwd,
            "netns": self.netns,
            "namespaces": self.namespaces.to_wire() if self.namespaces is not None else None,
            "mounts": self.mounts.to_wire() if self.mounts is not None else None,
            "cgroupProcs": list(self.cgroup_procs),
            "security": self.security.to_wire() if self.security is not None else None,
            "pidFile": str(self.pid_file),
            "exitFile": str(self.exit_file),
            "logMaxSize": self.log_max_size,
            "logMaxFiles": self.log_max_files,
            "stdin": str(self.stdin) if self.stdin is not None else None,
        }


@dataclass(frozen=True)
class ProcessRecord:
    pid: int
    start_ticks: int
    started_at: str


@dataclass(frozen=True)
class ExitRecord:
    exit_code: int
    signal: int | None
    finished_at: str
    start_error: str | None = None
    known: bool = True  # False: the process ended unseen; the code is a stand-in
    oom_killed: bool = False  # the kernel's OOM killer took it (its cgroup's count says so)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _load(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def read_pid_record(path: Path) -> ProcessRecord | None:
    doc = _load(path)
    if doc is None:
        return None
    try:
        return ProcessRecord(int(doc["pid"]), int(doc["startTicks"]), str(doc["startedAt"]))
    except (KeyError, TypeError, ValueError):
        return None


def read_exit_record(path: Path, pid: int | None = None) -> ExitRecord | None:
    doc = _load(path)
    if doc is None or (pid is not None and doc.get("pid") != pid):
        return None
    try:
        sig = doc.get("signal")
        err = doc.get("startError")
        return ExitRecord(
            int(doc["exitCode"]),
            int(sig) if sig is not None else None,
            str(doc["finishedAt"]),
            str(err) if err else None,
        )
    except (KeyError, TypeError, ValueError):
        return None


def unknown_exit() -> ExitRecord:
    return ExitRecord(UNKNOWN_EXIT_CODE, None, _now(), None, known=False)


# Every container process carries this in its environment, naming its pod, so that clean-up
# can tell the container's own processes from anything that later got a reused session id.
MARKER_ENV = "KUBELET_LITE_POD"


def marker(pod_uid: str) -> bytes:
    return f"{MARKER_ENV}={pod_uid}".encode()


def kill_session(sid: int, mark: bytes, sig: int = signal.SIGKILL) -> list[int]:
    """Signal every live process of session ``sid`` that carries the pod's ``mark``."""
    hit = []
    for pid in procfs.session_members(sid):
        if procfs.has_env(pid, mark):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
                hit.append(pid)
    return hit


def ends_alone(req: LaunchRequest) -> bool:
    """Nothing of the container can outlive its main process: that is the init of a PID
    namespace of its own (whose end takes every process in it along), or pause, which starts
    nothing. Then its end needs no sweep of its session through all of /proc."""
    ns = req.namespaces
    if ns is not None and (ns.pid == "container" or (ns.pid == "pod" and ns.holder is None)):
        return True
    return req.plan.builtin == PAUSE_BUILTIN


class RunningProcess:
    """A container's main process, watched until it exits. ``sweep``: kill what is left of
    its session when it ends (False when nothing can be left: see ``ends_alone``)."""

    def __init__(
        self,
        record: ProcessRecord,
        exit_file: Path,
        pidfd: int | None,
        mark: bytes,
        sweep: bool = True,
    ) -> None:
        self.record = record
        self.mark = mark
        self.sweep = sweep
        self.exit_file = exit_file
        loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[ExitRecord] = loop.create_future()
        self._pidfd = pidfd
        self._collector: asyncio.Task[None] | None = None
        if pidfd is None:
            self._collector = loop.create_task(self._collect())
        else:
            loop.add_reader(pidfd, self._on_pidfd)

    @property
    def pid(self) -> int:
        return self.record.pid

    @property
    def alive(self) -> bool:
        return not self.exited.done()

    def _on_pidfd(self) -> None:
        assert self._pidfd is not None
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = None
        self._collector = loop.create_task(self._collect())

    async def _collect(self) -> None:
        deadline = time.monotonic() + EXIT_RECORD_WAIT
        delay = 0.002
        rec = read_exit_record(self.exit_file, self.pid)
        while rec is None and time.monotonic() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
            rec = read_exit_record(self.exit_file, self.pid)
        # A container's processes die with it (as with a PID namespace's init).
        if self.sweep:
            kill_session(self.pid, self.mark)
        if not self.exited.done():
            self.exited.set_result(rec if rec is not None else unknown_exit())

    def signal_group(self, sig: int) -> None:
        """Signal the container's process group (its main process leads it)."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)
        elif self.sweep:
            kill_session(self.pid, self.mark, sig)

    async def wait(self, timeout: float | None = None) -> ExitRecord | None:
        try:
            return await asyncio.wait_for(asyncio.shield(self.exited), timeout)
        except TimeoutError:
            return None

    def detach(self) -> None:
        """Stop watching (kubelet shutdown); the process keeps running."""
        if self._pidfd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if not self.exited.done():
            self.exited.cancel()


def watch(
    record: ProcessRecord, exit_file: Path, mark: bytes, sweep: bool = True
) -> RunningProcess | None:
    """Watch the process of ``record`` if it is still the same, live process; else None.
    ``sweep`` as RunningProcess's (never for the init of a PID namespace)."""
    if not procfs.is_same_process(record.pid, record.start_ticks):
        return None
    try:
        pidfd = os.pidfd_open(record.pid)
    except ProcessLookupError:
        return None
    # Checked again with the pidfd held: from here on the pidfd names this very process.
    if not procfs.is_same_process(record.pid, record.start_ticks):
        os.close(pidfd)
        return None
    sweep = sweep and not procfs.is_pid_namespace_init(record.pid)
    return RunningProcess(record, exit_file, pidfd, mark, sweep)


class ProcessRuntime:
    """Starts the zygote and talks to it. One per kubelet-lite."""

    def __init__(self, root: Path, python: str = sys.executable) -> None:
        self.root = root
        self.python = python
        self._proc: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._seq = 0
        self._start_lock = asyncio.Lock()

    @property
    def lock_path(self) -> Path:
        return self.root / "runtime.lock"

    @property
    def zygote_dir(self) -> Path:
        return self.root / "zygotes"

    @property
    def zygote_pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    @property
    def healthy(self) -> bool:
        return self.zygote_pid is not None and self._writer is not None

    async def start(self) -> None:
        async with self._start_lock:
            if not self.healthy:
                await self._start()

    async def _wait_for_idle_zygotes(self, timeout: float = 30.0) -> None:
        """An earlier zygote holds the lock while it may still be spawning for a dead kubelet;
        once it lets go, everything it started is on record."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    return
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise RuntimeUnavailable(
                            f"{self.lock_path} is still held by another runtime after {timeout}s"
                        ) from None
                    await asyncio.sleep(0.01)
        finally:
            os.close(fd)

    async def _start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        await self._wait_for_idle_zygotes()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_file = open(self.root / "zygote.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            self._proc = await asyncio.create_subprocess_exec(
                self.python,
                "-m",
                "kubelet_lite.runtime.zygote",
                "--control-fd",
                str(theirs.fileno()),
                "--lock",
                str(self.lock_path),
                "--pid-dir",
                str(self.zygote_dir),
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,  # not in the kubelet's process group: ^C spares it
            )
        finally:
            theirs.close()
            log_file.close()
        reader, self._writer = await asyncio.open_unix_connection(sock=ours)
        try:
            hello = await asyncio.wait_for(reader.readline(), 30.0)
        except TimeoutError:
            hello = b""
        if not hello:
            self._writer.close()
            self._writer = None
            raise RuntimeUnavailable(
                "the zygote did not start; see " + str(self.root / "zygote.log")
            )
        self._reader_task = asyncio.create_task(self._read_replies(reader))
        log.info("runtime: zygote %d started", self._proc.pid)

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                try:
                    doc = json.loads(line)
                except ValueError:
                    log.error("runtime: bad reply from zygote: %r", line[:200])
                    continue
                fut = self._pending.pop(str(doc.get("id")), None)
                if fut is not None and not fut.done():
                    fut.set_result(doc)
        finally:
            if self._writer is not None:
                self._writer.close()
            self._writer = None
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(RuntimeUnavailable("the zygote went away"))
            self._pending.clear()

    async def _request(
        self, doc_for: Callable[[str], dict[str, Any]], on_sent: Callable[[], None] | None = None
    ) -> dict[str, Any]:
        await self.start()
        assert self._writer is not None
        self._seq += 1
        rid = str(self._seq)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        self._writer.write(json.dumps(doc_for(rid)).encode() + b"\n")
        if on_sent is not None:
            await self._writer.drain()
            on_sent()
        return await asyncio.wait_for(fut, 60.0)

    async def spawn(
        self, req: LaunchRequest, on_sent: Callable[[], None] | None = None
    ) -> RunningProcess:
        """Start a container process; raises StartFailed if it could not become the container
        (its exit record says so too), RuntimeUnavailable if the zygote is gone. ``on_sent``
        runs once the request is on its way (a test's crash point)."""
        reply = await self._request(req.to_wire, on_sent)
        pid = reply.get("pid")
        if reply.get("error"):
            raise StartFailed(str(reply["error"]), str(reply.get("stage") or "start"))
        if not isinstance(pid, int):
            raise RuntimeUnavailable(f"zygote reply without a pid: {reply}")
        record = ProcessRecord(pid, int(reply["startTicks"]), str(reply["startedAt"]))
        mark, sweep = req.mark, not ends_alone(req)
        proc = watch(record, req.exit_file, mark, sweep)
        if proc is None:  # it has already exited: collect its record
            proc = RunningProcess(record, req.exit_file, None, mark, sweep)
        return proc

    async def stop(self, proc: RunningProcess, grace: float) -> ExitRecord:
        """SIGTERM the container's group, wait ``grace`` seconds, then SIGKILL."""
        if proc.alive:
            proc.signal_group(signal.SIGTERM)
            done = await proc.wait(max(grace, 0.0))
            if done is not None:
                return done
            proc.signal_group(signal.SIGKILL)
        done = await proc.wait(EXIT_RECORD_WAIT + 10.0)
        return done if done is not None else unknown_exit()

    async def close(self) -> None:
        """Stop talking to the zygote. It keeps reaping running containers and exits when the
        last one is gone; the containers keep running (a kubelet restart adopts them)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task
        # The zygote (our child) is reaped by asyncio's child watcher whenever it exits.
        self._proc = None
