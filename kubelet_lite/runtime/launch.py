"""What a freshly forked child of the zygote does before it becomes the container.

In order: its own session (so the container's processes form one group that teardown can signal
as a whole), default signal dispositions, stdin from /dev/null and stdout/stderr to the pipes
the zygote's log server copies into the container's CRI log (``log_server``), its cgroups, the
pod's namespaces (pause's network, IPC and UTS; the child was born in its PID namespace: see
``namespaces``), a mount namespace of its own with the container's mounts, the working
directory, the security context; then exec of the command, or, for a built-in image, the
built-in program run right here (the zygote has it imported already). A failure before that
point is written to ``err_fd`` as one line, ``<stage>\\t<message>``, and the child exits 127; a
clean exec closes ``err_fd`` (it is close-on-exec), which is how the zygote knows the start
succeeded.

Standard library only; runs in a child forked from the single-threaded zygote.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from kubelet_lite.runtime import logs, mounts, security
from kubelet_lite.runtime import namespaces as ns
from kubelet_lite.runtime.mounts import MountPlan
from kubelet_lite.runtime.namespaces import NamespacePlan
from kubelet_lite.runtime.security import SecurityPlan

CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
EXIT_START_FAILED = 127

_libc: Any = None


def libc() -> Any:
    global _libc
    if _libc is None:
        # The C library is already mapped into this process: dlopen(NULL) finds its symbols.
        # (ctypes.util.find_library would run ldconfig in a subprocess, per container.)
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


@dataclass(frozen=True)
class ChildPlan:
    """Everything the child needs; built by the zygote from a spawn request."""

    hostname: str
    log: str  # "": no log, the output goes to /dev/null
    env: dict[str, str]
    argv: list[str] | None = None  # exec this...
    builtin: str | None = None  # ...or run this built-in program with builtin_args
    builtin_args: list[str] = field(default_factory=list)
    cwd: str | None = None
    netns: str | None = None  # path of the network namespace to join
    namespaces: NamespacePlan | None = None  # None: only the network and a new UTS namespace
    mounts: MountPlan | None = None  # the container's mount namespace (namespaces.mount)
    cgroup_procs: tuple[str, ...] = ()  # the groups' tasks or cgroup.procs files to join
    security: SecurityPlan | None = None  # applied last, just before exec
    log_max_size: int = logs.DEFAULT_MAX_SIZE
    log_max_files: int = logs.DEFAULT_MAX_FILES
    stdin: str | None = None  # a FIFO to read stdin from (``kubectl attach -i`` writes to it)


def _open_stdin(path: str) -> None:
    # The kubelet holds a writer (runtime/stdin.py), so reads wait for input until it lets go;
    # non-blocking only for the open itself, which must never hang the start.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    os.set_blocking(fd, True)
    os.dup2(fd, 0)
    os.close(fd)


class StartError(Exception):
    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage
        self.message = message


def _check(rc: int, what: str) -> None:
    if rc != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def exec_error_message(argv0: str, exc: OSError, path_env: str | None) -> str:
    """The exec failure worded as container runtimes word it."""
    if exc.errno == errno.ENOENT and "/" not in argv0:
        return f'exec: "{argv0}": executable file not found in $PATH ({path_env or ""})'
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return f'exec: "{argv0}": {reason.lower()}'


def _stage(stage: str, fn: Callable[[], None]) -> None:
    try:
        fn()
    except OSError as exc:
        raise StartError(stage, f"{stage}: {exc.strerror or exc}") from exc


def _join_netns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(libc().setns(fd, CLONE_NEWNET), f"setns {path}")
    finally:
        os.close(fd)


def _own_hostname(name: str) -> None:
    _check(libc().unshare(CLONE_NEWUTS), "unshare UTS namespace")
    raw = name.encode()
    _check(libc().sethostname(raw, len(raw)), f"sethostname {name!r}")


def _join_cgroups(procs: Sequence[str]) -> None:
    """Before anything else is started: all the container's processes are counted. "0" is the
    writer itself (this process is single-threaded: see cgroups.Cgroups.create)."""
    for path in procs:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)


def _enter_namespaces(child: ChildPlan, plan: NamespacePlan) -> None:
    """The pod's namespaces (pause's), a new mount namespace and the container's mounts (its
    /proc is that of the PID namespace it was born in: see namespaces.py)."""
    _stage("join the pod's namespaces", lambda: ns.enter_pod(plan, child.hostname))
    if plan.mount:
        _stage("new mount namespace", lambda: ns.unshare(ns.CLONE_NEWNS, "mount namespace"))
    if plan.mount and child.mounts is not None:
        mount_plan = child.mounts
        _stage("mounts", lambda: mounts.apply(mount_plan))


def _stdio(out_err: tuple[int, int] | None) -> None:
    """stdin from /dev/null; stdout and stderr to the log server's pipes (or /dev/null)."""
    null = os.open("/dev/null", os.O_RDWR)
    out, err = out_err if out_err is not None else (null, null)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    for fd in {null, out, err} - {0, 1, 2}:
        os.close(fd)


def become_container(
    plan: ChildPlan,
    err_fd: int,
    builtins: dict[str, Callable[[Sequence[str]], int]],
    close_fds: Sequence[int] = (),
    stdio: tuple[int, int] | None = None,
    failed: StartError | None = None,
) -> NoReturn:
    """Never returns: execs, runs the built-in to completion, or exits 127 after reporting.
    ``stdio``: the write ends of the log server's stdout and stderr pipes (None: /dev/null).
    ``failed``: what went wrong in the zygote already, to report as this child's start error
    (so that a failed start has a process, a pid record and an exit record like any other)."""
    try:
        for fd in close_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        os.setsid()
        if failed is not None:
            raise failed
        _stage("open log", lambda: _stdio(stdio))
        if plan.stdin:
            path = plan.stdin
            _stage("open stdin", lambda: _open_stdin(path))
        if plan.cgroup_procs:
            procs = plan.cgroup_procs
            _stage("join the container's cgroup", lambda: _join_cgroups(procs))
        if plan.netns and (plan.namespaces is None or plan.namespaces.holder is None):
            netns = plan.netns
            _stage("join network namespace", lambda: _join_netns(netns))
        if plan.namespaces is None:
            _stage("set hostname", lambda: _own_hostname(plan.hostname))
        else:
            _enter_namespaces(plan, plan.namespaces)
        if plan.cwd:
            cwd = plan.cwd
            _stage(f"chdir to {cwd}", lambda: os.chdir(cwd))
        if plan.security is not None:
            sec = plan.security
            _stage("security context", lambda: security.apply(sec))
        if plan.builtin is not None:
            main = builtins.get(plan.builtin)
            if main is None:
                raise StartError("start", f"no built-in program {plan.builtin!r}")
            os.environ.clear()
            os.environ.update(plan.env)
            if os.getpid() == 1:
                ns.exit_on_termination_signals()
            if hasattr(sys.stdout, "reconfigure"):
                sys.stdout.reconfigure(line_buffering=True)  # logs appear as they are written
            os.close(err_fd)  # started
            code = 1
            try:
                code = main(plan.builtin_args)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException as exc:  # a crash of the program is the container's exit 1
                print(f"{plan.builtin}: {type(exc).__name__}: {exc}", file=sys.stderr)
            finally:
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):
                        stream.flush()
            os._exit(code)
        argv = plan.argv or []
        if not argv:
            raise StartError("exec", "no command to run")
        try:
            os.execvpe(argv[0], argv, plan.env)
        except OSError as exc:
            raise StartError(
                "exec", exec_error_message(argv[0], exc, plan.env.get("PATH"))
            ) from exc
    except StartError as exc:
        _report(err_fd, exc.stage, exc.message)
    except BaseException as exc:
        _report(err_fd, "start", f"{type(exc).__name__}: {exc}")
    os._exit(EXIT_START_FAILED)


def _report(err_fd: int, stage: str, message: str) -> None:
    line = f"{stage}\t{message}".replace("\n", " ") + "\n"
    with contextlib.suppress(OSError):
        os.write(err_fd, line.encode(errors="replace"))
