"""The fork server that starts containers: ``python -m kubelet_lite.runtime.zygote``.

kubelet-lite starts one zygote and talks to it over a socket pair, one JSON object per line.
A ``spawn`` request is answered once the child has either exec'd (or started its built-in
program) or failed to; the reply carries the pid, or the start error. Forking this small,
single-threaded process costs well under a millisecond, and built-in images (agnhost netexec,
nginx, httpd) run in the forked child with their code already imported.

The zygote also keeps the record the kubelet needs to survive its own restarts: for every child
it writes ``pidFile`` (pid + start time) before answering, and when the child exits it reaps it
and writes ``exitFile`` (exit code, signal, time). If kubelet-lite dies, the zygote finishes the
request it has read, stops serving (releasing the runtime lock, so that a restarted kubelet knows
no spawn is in flight) and stays only as long as it has children to reap.

Standard library only, plus the built-in images.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import json
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from knet import gctune
from kubelet_lite.runtime import log_server, logs, procfs
from kubelet_lite.runtime.images import BUILTINS
from kubelet_lite.runtime.launch import ChildPlan, StartError, become_container, libc
from kubelet_lite.runtime.mounts import plan_from_wire as mounts_from_wire
from kubelet_lite.runtime.namespaces import back_to_own_pid_namespace, pid_namespace_for_children
from kubelet_lite.runtime.namespaces import plan_from_wire as namespaces_from_wire
from kubelet_lite.runtime.security import plan_from_wire as security_from_wire

PR_SET_CHILD_SUBREAPER = 36
# What the children call through ctypes: namespaces, mounts and security.
LIBC_CALLS = ("setns", "unshare", "sethostname", "mount", "syscall", "prctl", "capset")


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_json_new(path: str, doc: dict[str, Any]) -> None:
    """Write a file that must not exist yet, in one write(2): a reader sees it whole or not
    at all unless this process dies mid-write (a torn record reads as none)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, json.dumps(doc).encode())
    finally:
        os.close(fd)


def write_json_atomic(path: str, doc: dict[str, Any]) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


def exit_code_of(status: int) -> tuple[int, int | None]:
    """(exit code as Kubernetes reports it, terminating signal or None)."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, sig
    return os.waitstatus_to_exitcode(status), None


@dataclass
class Child:
    pid: int
    exit_file: str
    rid: Any = None
    ticks: int = 0
    started_at: str = ""
    err_fd: int | None = None  # open until the child has exec'd (EOF) or reported failure
    report: bytes = b""
    start_error: str | None = None


def _str_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of strings")
    return list(value)


def plan_from_request(req: dict[str, Any]) -> ChildPlan:
    env = req.get("env") or {}
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise ValueError("env must map strings to strings")
    argv = req.get("argv")
    builtin = req.get("builtin")
    if (argv is None) == (builtin is None):
        raise ValueError("give exactly one of argv and builtin")
    return ChildPlan(
        hostname=str(req["hostname"]),
        log=str(req.get("log") or ""),
        env=dict(env),
        argv=_str_list(argv, "argv") if argv is not None else None,
        builtin=str(builtin) if builtin is not None else None,
        builtin_args=_str_list(req.get("builtinArgs") or [], "builtinArgs"),
        cwd=req.get("cwd") or None,
        netns=req.get("netns") or None,
        namespaces=namespaces_from_wire(req.get("namespaces")),
        mounts=mounts_from_wire(req.get("mounts")),
        cgroup_procs=tuple(_str_list(req.get("cgroupProcs") or [], "cgroupProcs")),
        security=security_from_wire(req.get("security")),
        log_max_size=int(req.get("logMaxSize") or logs.DEFAULT_MAX_SIZE),
        log_max_files=int(req.get("logMaxFiles") or logs.DEFAULT_MAX_FILES),
        stdin=req.get("stdin") or None,
    )


class Zygote:
    def __init__(
        self,
        control: socket.socket,
        lock_fd: int,
        builtins: dict[str, Callable[[Sequence[str]], int]],
        pid_dir: str = "",
    ) -> None:
        self.control = control
        self.lock_fd = lock_fd
        self.builtins = builtins
        self.children: dict[int, Child] = {}
        self.serving = True
        self._buf = b""
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._dirs: set[str] = set()  # directories known to exist (a bounded cache)
        # Where containers' PID namespaces are left from: ours, to go back to after each fork.
        self._own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self._log_server: tuple[int, socket.socket] | None = None  # (pid, socket), once needed
        self.pid_dir = pid_dir
        self.sel = selectors.DefaultSelector()

    # ------------------------------------------------------------------ loop

    def run(self) -> None:
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        self.sel.register(self.control, selectors.EVENT_READ, "control")
        self.sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._send({"ready": True, "pid": os.getpid()})
        while self.serving or self.children:
            for key, _ in self.sel.select(timeout=1.0):
                if key.data == "control":
                    self._read_control()
                elif isinstance(key.data, Child):
                    self._read_err(key.data)
                else:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self._wake_r, 512):
                            pass
            self.reap()

    def _stop_serving(self) -> None:
        if not self.serving:
            return
        self.serving = False
        self.sel.unregister(self.control)
        self.control.close()
        # No spawn is in flight from here on: a restarted kubelet may now look at the records.
        fcntl.flock(self.lock_fd, fcntl.LOCK_UN)

    def _read_control(self) -> None:
        try:
            data = self.control.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._stop_serving()
            return
        self._buf += data
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            if line.strip():
                self._handle(line)
                self._poll_started()  # answer what has started before taking the next

    def _poll_started(self) -> None:
        for key, _ in self.sel.select(timeout=0):
            if isinstance(key.data, Child):
                self._read_err(key.data)

    def _send(self, doc: dict[str, Any]) -> None:
        if not self.serving:
            return
        try:
            self.control.sendall(json.dumps(doc).encode() + b"\n")
        except OSError:
            self._stop_serving()

    def _handle(self, line: bytes) -> None:
        rid: Any = None
        try:
            req = json.loads(line)
            rid = req.get("id")
            op = req.get("op")
            if op == "spawn":
                self.spawn(rid, req)  # answered once the child has started (or failed to)
            elif op == "ping":
                self._send({"id": rid, "pong": True, "children": len(self.children)})
            else:
                self._send({"id": rid, "error": f"unknown op {op!r}", "stage": "request"})
        except Exception as exc:  # a bad request must not take the runtime down
            self._send({"id": rid, "error": f"{type(exc).__name__}: {exc}", "stage": "request"})

    # ------------------------------------------------------------------ spawn / reap

    def spawn(self, rid: Any, req: dict[str, Any]) -> None:
        plan = plan_from_request(req)
        pid_file, exit_file = str(req["pidFile"]), str(req["exitFile"])
        for d in (os.path.dirname(plan.log), os.path.dirname(pid_file)):
            if d and d not in self._dirs:
                os.makedirs(d, exist_ok=True)
                if len(self._dirs) > 4096:
                    self._dirs.clear()
                self._dirs.add(d)
        failed: StartError | None = None
        stdio: tuple[int, int] | None = None
        if plan.log:
            try:
                stdio = self._hand_over_log(plan)
            except OSError as exc:
                failed = StartError("open log", f"open log: {exc.strerror or exc}")
        try:
            pid, err_r = self._fork_child(plan, failed, stdio)
        finally:
            for fd in stdio or ():
                os.close(fd)
        child = Child(pid, exit_file, rid, procfs.start_ticks(pid) or 0, now_rfc3339(), err_r)
        self.children[pid] = child
        # Children start side by side: the answer goes out when this one's pipe closes.
        os.set_blocking(err_r, False)
        self.sel.register(err_r, selectors.EVENT_READ, child)
        # Recorded before anything else can go wrong: whoever reads the records next knows it.
        # A child that cannot be recorded must not live on unrecorded.
        try:
            write_json_new(
                pid_file, {"pid": pid, "startTicks": child.ticks, "startedAt": child.started_at}
            )
        except OSError as exc:
            os.kill(pid, signal.SIGKILL)
            child.start_error = f"cannot record the process in {pid_file}: {exc.strerror or exc}"

    def _hand_over_log(self, plan: ChildPlan) -> tuple[int, int]:
        """The container's stdout and stderr, as pipes the log server copies into its log.
        Raises OSError if the log cannot be opened."""
        for _ in range(2):
            if self._log_server is None:
                self._log_server = log_server.start()
                self._record_log_server()
            try:
                return log_server.hand_over(
                    self._log_server[1], plan.log, plan.log_max_size, plan.log_max_files
                )
            except log_server.ServerGone:  # it has ended: start another
                self._log_server[1].close()
                self._log_server = None
        raise OSError(errno.EPIPE, "the log server ends as it starts")

    def _record_log_server(self) -> None:
        """``<pid-dir>/<zygote>.logs``: clean-up and leak checks tell it from a container."""
        assert self._log_server is not None
        pid = self._log_server[0]
        with contextlib.suppress(OSError):
            write_json_atomic(
                os.path.join(self.pid_dir, f"{os.getpid()}.logs"),
                {"pid": pid, "startTicks": procfs.start_ticks(pid)},
            )

    def _fork_child(
        self, plan: ChildPlan, failed: StartError | None, stdio: tuple[int, int] | None
    ) -> tuple[int, int]:
        """Fork the container's process (in its PID namespace); (its pid, its report pipe)."""
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        sys.stderr.flush()
        try:
            pid = self._fork_in_pid_namespace(plan) if failed is None else os.fork()
        except StartError as exc:
            failed = exc  # a child in our namespace reports it
            pid = os.fork()
        except BaseException:
            os.close(err_r)
            os.close(err_w)
            raise
        if pid == 0:
            pending = [c.err_fd for c in self.children.values() if c.err_fd is not None]
            become_container(
                plan,
                err_w,
                self.builtins,
                close_fds=(
                    err_r,
                    *pending,
                    self.control.fileno(),
                    self._wake_r,
                    self._wake_w,
                    self.lock_fd,
                    self.sel.fileno(),
                    self._own_pidns,
                    *((self._log_server[1].fileno(),) if self._log_server else ()),
                ),
                stdio=stdio,
                failed=failed,
            )
        os.close(err_w)
        return pid, err_r

    def _fork_in_pid_namespace(self, plan: ChildPlan) -> int:
        """fork(), born in the container's PID namespace. Raises StartError if that namespace
        cannot be made or joined, OSError if the fork fails."""
        try:
            moved = pid_namespace_for_children(plan.namespaces)
        except OSError as exc:
            raise StartError("PID namespace", f"PID namespace: {exc.strerror or exc}") from exc
        pid = -1
        try:
            pid = os.fork()
        finally:
            if moved and pid != 0:  # the child cannot (and need not) go back
                back_to_own_pid_namespace(self._own_pidns)
        return pid

    def _read_err(self, child: Child) -> None:
        if child.err_fd is None:  # answered already (earlier in this round)
            return
        try:
            data = os.read(child.err_fd, 4096)
        except BlockingIOError:
            return
        if data:
            child.report += data
            return
        self._started(child)

    def _started(self, child: Child) -> None:
        """The child exec'd (its pipe closed with nothing in it) or reported why it could not."""
        if child.err_fd is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(child.err_fd)
        os.close(child.err_fd)
        child.err_fd = None
        stage = "start"
        if child.report:
            stage, _, message = child.report.decode(errors="replace").strip().partition("\t")
            child.start_error = message or stage
        if child.start_error:
            self._send(
                {"id": child.rid, "pid": child.pid, "error": child.start_error, "stage": stage}
            )
            return
        self._send(
            {
                "id": child.rid,
                "pid": child.pid,
                "startTicks": child.ticks,
                "startedAt": child.started_at,
                "error": None,
            }
        )

    def _drain_err(self, child: Child) -> None:
        """The child is gone: whatever it reported is in its pipe now."""
        if child.err_fd is None:
            return
        with contextlib.suppress(BlockingIOError):
            while data := os.read(child.err_fd, 4096):
                child.report += data
        self._started(child)

    def reap(self) -> None:
        while True:  # not only the containers: the log server and orphans are ours too
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is None:
                if self._log_server is not None and pid == self._log_server[0]:
                    self._log_server[1].close()  # the next container's start makes another
                    self._log_server = None
                continue
            self._drain_err(child)
            code, sig = exit_code_of(status)
            try:
                write_json_atomic(
                    child.exit_file,
                    {
                        "pid": pid,
                        "exitCode": code,
                        "signal": sig,
                        "finishedAt": now_rfc3339(),
                        "startError": child.start_error,
                    },
                )
            except OSError as exc:  # the pod's directory is gone: nobody is waiting for it
                print(f"zygote: cannot record exit of {pid}: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubelet-lite-zygote")
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--lock", required=True, help="runtime lock file, held while serving")
    parser.add_argument("--pid-dir", required=True, help="where to record this zygote's pid")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = socket.socket(fileno=args.control_fd)
    control.set_inheritable(False)
    lock_fd = os.open(args.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(lock_fd, fcntl.LOCK_EX)
    os.makedirs(args.pid_dir, exist_ok=True)
    me = os.path.join(args.pid_dir, str(os.getpid()))
    write_json_atomic(me, {"pid": os.getpid(), "startTicks": procfs.start_ticks(os.getpid())})
    libc()  # loaded once here, inherited by every child (which needs it for setns & co.)
    # Resolved here once too: a child that looked them up itself would pay dlsym and the
    # copy-on-write faults of caching them (0.27 against 0.05 ms, measured in a fresh fork).
    for name in LIBC_CALLS:
        getattr(libc(), name)
    # The log server is our child, and a container's orphans (of one in the node's PID
    # namespace) come to us: reap() collects them all (a zombie keeps a cgroup busy).
    libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    # Everything imported so far lives as long as we do: keep it out of the garbage collector's
    # sight, so that neither we nor a forked child ever walks (and so copies) those pages. The
    # children inherit the calmer collector too.
    gctune.settle()
    try:
        Zygote(control, lock_fd, BUILTINS, args.pid_dir).run()
    finally:
        for path in (me, f"{me}.logs"):
            with contextlib.suppress(OSError):
                os.unlink(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
