"""A container's namespaces, set up in the zygote's freshly forked child.

The pod's *pause* process holds the pod's network, IPC and UTS namespaces (and, with
``shareProcessNamespace``, its PID namespace, as its init). A container joins pause's
namespaces through ``/proc/<pause>/ns/*`` and gets a PID namespace of its own, so that its
process is PID 1 there; or it joins pause's.

A new PID namespace only applies to children, so the zygote makes (or joins) it just for the
fork of the container (``pid_namespace_for_children``) and goes back to its own right after: the
zygote's child *is* the container (PID 1, or a member of the pod's PID namespace), with no
process between them, and the zygote sees its exit status first hand.

Standard library only (ctypes for setns/unshare/prctl).
"""

from __future__ import annotations

import ctypes
import os
import signal
from dataclasses import dataclass
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

_FLAGS = {"net": CLONE_NEWNET, "ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS, "pid": CLONE_NEWPID}
PID_MODES = ("host", "container", "pod")


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
    made in (pause's own, as pause is its init; a process only the zygote forks into it)."""
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


def pid_namespace_for_children(plan: NamespacePlan | None) -> bool:
    """The zygote's side, just before it forks the container: make (or join pause's) PID
    namespace the one its next child is born in, as PID 1 or a member; the zygote itself never
    leaves its own. True if it did (``back_to_own_pid_namespace`` after the fork, in the
    parent only). Raises OSError if the namespace cannot be made or joined."""
    if plan is None or plan.pid == "host":
        return False
    if plan.pid == "container" or plan.holder is None:  # pause makes the pod's namespace
        unshare(CLONE_NEWPID, "PID namespace")
    else:
        join(plan.holder, "pid")
    return True


def back_to_own_pid_namespace(own_ns_fd: int) -> None:
    """The zygote's next children are born in its own PID namespace again (``own_ns_fd``: its
    ``/proc/self/ns/pid``)."""
    if _libc().setns(own_ns_fd, CLONE_NEWPID) != 0:
        # Every later fork would land in (or fail for) that container's namespace.
        os.write(2, b"zygote: cannot go back to its own PID namespace\n")
        os._exit(70)


def exit_on_termination_signals() -> None:
    """As PID 1 a process ignores every signal it has no handler for. Built-in programs act as
    the Go programs they stand for (whose runtime handles every signal): SIGTERM, SIGINT and
    SIGHUP end them, with the exit code of a death by that signal."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: os._exit(128 + signum))
