"""A container's namespaces, set up in the zygote's freshly forked child.

The pod's *pause* process holds the pod's network, IPC and UTS namespaces (and, with
``shareProcessNamespace``, its PID namespace, as its init). A container joins pause's
namespaces through ``/proc/<pause>/ns/*`` and gets a PID namespace of its own, so that its
process is PID 1 there; or it joins pause's.

A new PID namespace only applies to children, so the child forks once more: the new process
becomes the container (PID 1, or a member of the pod's PID namespace) and the first one stays
behind as its *relay*: it ignores the signals the container's group receives, waits for the
container and ends the same way (same exit code, or the same signal), which is what the zygote
records. ``PR_SET_PDEATHSIG`` takes the container down with the relay should the relay be
killed alone.

Standard library only (ctypes for setns/unshare/prctl).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
from dataclasses import dataclass
from typing import Any, NoReturn

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1

_FLAGS = {"net": CLONE_NEWNET, "ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS, "pid": CLONE_NEWPID}
PID_MODES = ("host", "container", "pod")
# Signals a container's group gets from teardown; the relay leaves them to the container.
_RELAYED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1)


@dataclass(frozen=True)
class NamespacePlan:
    """Which namespaces the child enters or makes.

    ``holder``: the pid of the pod's pause process, whose net/IPC/UTS namespaces to join (None:
    this child *is* pause: it makes new IPC and UTS namespaces). ``pid``: ``container`` (a new
    PID namespace), ``pod`` (pause's; pause itself makes it) or ``host``. ``mount``: a new
    mount namespace (mounts.py fills it).
    """

    holder: int | None = None
    pid: str = "container"
    mount: bool = False
    host_ipc: bool = False  # pause keeps the node's IPC namespace (hostIPC)

    def to_wire(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "pid": self.pid,
            "mount": self.mount,
            "hostIpc": self.host_ipc,
        }


def plan_from_wire(doc: Any) -> NamespacePlan | None:
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise ValueError("namespaces must be an object")
    holder = doc.get("holder")
    if holder is not None and (not isinstance(holder, int) or holder <= 0):
        raise ValueError("namespaces.holder must be a pid")
    pid = doc.get("pid", "container")
    if pid not in PID_MODES:
        raise ValueError(f"namespaces.pid must be one of {', '.join(PID_MODES)}")
    return NamespacePlan(
        holder=holder,
        pid=str(pid),
        mount=bool(doc.get("mount")),
        host_ipc=bool(doc.get("hostIpc")),
    )


def _libc() -> Any:
    from kubelet_lite.runtime.launch import libc  # the zygote loaded it once for all

    return libc()


def _check(rc: int, what: str) -> None:
    if rc != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def join(pid: int, kind: str) -> None:
    """Enter the ``kind`` namespace of process ``pid``. For ``pid``, the one its children are
    made in (pause's relay is still in the node's PID namespace; pause is its child)."""
    path = f"/proc/{pid}/ns/{'pid_for_children' if kind == 'pid' else kind}"
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc().setns(fd, _FLAGS[kind]), f"setns {path}")
    finally:
        os.close(fd)


def unshare(flags: int, what: str) -> None:
    _check(_libc().unshare(flags), f"unshare {what}")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc().sethostname(raw, len(raw)), f"sethostname {name!r}")


def enter_pod(plan: NamespacePlan, hostname: str) -> None:
    """Join pause's net/IPC/UTS namespaces, or (as pause) make the IPC and UTS ones."""
    if plan.holder is None:
        unshare(CLONE_NEWUTS | (0 if plan.host_ipc else CLONE_NEWIPC), "UTS and IPC namespaces")
        sethostname(hostname)
        return
    for kind in ("net", "ipc", "uts"):
        join(plan.holder, kind)


def split_for_pid_namespace(plan: NamespacePlan, keep_fds: tuple[int, ...] = ()) -> None:
    """Make (or join) the PID namespace and fork into it. Returns in the new process only;
    the first one becomes the relay and never returns. ``keep_fds`` are closed in the relay
    (the container keeps them: the start-report pipe, for one)."""
    if plan.pid == "host":
        return
    if plan.pid == "container" or plan.holder is None:  # pause makes the pod's namespace
        unshare(CLONE_NEWPID, "PID namespace")
    else:
        join(plan.holder, "pid")
    # The relay holds the write end for as long as it lives: EOF on the read end means it died
    # before the container could ask to follow it (getppid() says 0 across namespaces).
    alive_r, alive_w = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:
        os.close(alive_w)
        _check(_libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl PDEATHSIG")
        relay_gone = select.select([alive_r], [], [], 0)[0]
        os.close(alive_r)
        if relay_gone:
            os._exit(137)
        return
    os.close(alive_r)
    for fd in keep_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    relay(child)


def relay(child: int) -> NoReturn:
    """Wait for the container and end as it ended."""
    for sig in _RELAYED:
        signal.signal(sig, signal.SIG_IGN)
    # Nothing here opens a file for writing: in the shared mount namespace that would make the
    # container's read-only remount fail (EBUSY). Should the OOM killer pick the relay over
    # the container, the container dies with it: SIGKILL and OOMKilled all the same.
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(137)
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):  # SIGKILL has no disposition to set
            signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)
    os._exit(os.waitstatus_to_exitcode(status))


def exit_on_termination_signals() -> None:
    """As PID 1 a process ignores every signal it has no handler for. Built-in programs act as
    the Go programs they stand for (whose runtime handles every signal): SIGTERM, SIGINT and
    SIGHUP end them, with the exit code of a death by that signal."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: os._exit(128 + signum))
