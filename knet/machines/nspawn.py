"""One machine: a ``systemd-nspawn --boot`` of its overlay root in its network namespace.

This host has no systemd as PID 1 (and no machined), so nspawn runs with ``--register=no
--keep-unit``: no machine registration and no scope unit, hence no system bus needed. The
container gets CAP_NET_ADMIN and a writable /proc/sys/net (nspawn's
SYSTEMD_NSPAWN_API_VFS_WRITABLE=network): a node sets its own sysctls, routes and iptables
rules. Its init is nspawn's child, found by pid and start time like every process we record.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from knet.cluster import procs
from knet.machines.state import Proc
from knet.netlink import netns

NSPAWN = "systemd-nspawn"
PROPAGATE_DIRS = ("/run/systemd/nspawn/propagate", "/run/systemd/nspawn/unix-export")
ENV = {"SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network"}
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def nspawn_argv(root: Path, unit_name: str, hostname: str, netns_name: str, uuid: str) -> list[str]:
    return [
        NSPAWN,
        "--boot",
        f"--directory={root}",
        f"--machine={unit_name}",  # unique on this host: it names nspawn's /run directories
        f"--hostname={hostname}",
        f"--uuid={uuid}",
        "--register=no",
        "--keep-unit",
        f"--network-namespace-path={netns.path(netns_name)}",
        "--capability=CAP_NET_ADMIN",
        "--console=read-only",
        "--link-journal=no",
        "--resolv-conf=off",
        "--timezone=off",
    ]


def host_dirs(unit_name: str) -> list[Path]:
    """What nspawn makes on the host for a machine (removed by `down`)."""
    return [Path(d) / unit_name for d in PROPAGATE_DIRS]


def spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **ENV},
            start_new_session=True,  # outlives `knet machines up`
        )


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            found += [int(c) for c in text.split()]
    return found


def init_pid(nspawn_pid: int) -> int | None:
    """The machine's init: nspawn's child in a PID namespace other than ours."""
    own = os.stat("/proc/self/ns/pid").st_ino
    for child in children(nspawn_pid):
        with contextlib.suppress(OSError):
            if os.stat(f"/proc/{child}/ns/pid").st_ino != own:
                return child
    return None


def in_machine_argv(init: int, cmd: list[str]) -> list[str]:
    """argv running ``cmd`` inside the machine (its mounts, hostname, network, PIDs), with a
    clean environment as a login would have."""
    return [
        "nsenter",
        f"--target={init}",
        "--mount",
        "--uts",
        "--ipc",
        "--net",
        "--pid",
        "--root",
        "--wd",
        "--",
        "env",
        "-i",
        f"PATH={SYSTEM_PATH}",
        "LANG=C.UTF-8",
        *cmd,
    ]


def stop(proc: Proc, init: Proc | None, grace: float = 30.0) -> None:
    """Power the machine off: SIGTERM makes nspawn ask its init to shut down; after ``grace``
    seconds nspawn and the init are killed. Only the recorded pids are signalled."""
    if proc.pid is not None and procs.is_alive(proc.pid, proc.start_ticks):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    alive = [r for r in (proc, init) if r is not None and r.pid is not None]
    while time.monotonic() < deadline:
        alive = [r for r in alive if procs.is_alive(r.pid or 0, r.start_ticks)]
        if not alive:
            return
        _reap(proc)
        time.sleep(0.2)
    for rec in alive:  # the init last: killing it ends every process in the machine
        with contextlib.suppress(ProcessLookupError):
            os.kill(rec.pid or 0, signal.SIGKILL)
    _reap(proc)


def _reap(proc: Proc) -> None:
    # nspawn is our child when this process started it; collect it so it does not linger.
    if proc.pid is not None:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(proc.pid, os.WNOHANG)
