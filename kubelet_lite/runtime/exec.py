"""Running a command inside a running container (``kubectl exec``): the same namespaces, the
same environment and working directory, user and cgroups as the container's main process
(``exec_identity``).

Which namespaces to enter is read off the container's process: every namespace of ``pid`` that
differs from ours is entered (with ``nsenter``): the pod's network, IPC and UTS namespaces and
the container's mount and PID namespaces (the recorded process is the container's own, born
in its PID namespace). ``EXTRA_ARGV_HOOK`` is where a runtime
that needs more (a cgroup, a user) adds its wrapper.

The command runs in a session of its own with a pipe or a pseudo-terminal for its standard
streams; ``ExecProcess.hang_up`` is what a vanished client gets: EOF on stdin, SIGHUP to its
group (the terminal's hang-up with a TTY), SIGKILL if it lingers.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubelet_lite.runtime import exec_identity

NSENTER = "nsenter"
# /proc/<pid>/ns/<name> → nsenter's flag; the order nsenter enters them in is its own.
NAMESPACES = (("mnt", "-m"), ("uts", "-u"), ("ipc", "-i"), ("net", "-n"), ("pid", "-p"))
HANGUP_GRACE = 2.0  # seconds between SIGHUP and SIGKILL for a client that went away

# A hook for the container runtime: argv prefix to run after entering the namespaces (e.g. a
# cgroup or user switch). Empty until the runtime needs one.
EXTRA_ARGV_HOOK: Callable[[int], list[str]] = lambda pid: []  # noqa: E731


class ExecFailed(Exception):
    """The command could not be started in the container."""


def _ns_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def namespace_flags(pid: int) -> list[str]:
    """nsenter's flags for every namespace of ``pid`` that is not ours."""
    flags = []
    for name, flag in NAMESPACES:
        theirs = _ns_id(f"/proc/{pid}/ns/{name}")
        if theirs is not None and theirs != _ns_id(f"/proc/self/ns/{name}"):
            flags.append(flag)
    return flags


def read_environ(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ExecFailed(f"cannot read the container's environment: {exc.strerror}") from None
    env = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


def exec_argv(pid: int, argv: list[str]) -> list[str]:
    """argv that runs ``argv`` in the namespaces of ``pid``, in its working directory."""
    flags = namespace_flags(pid)
    user = exec_identity.user_argv(exec_identity.identity(pid), exec_identity.identity(os.getpid()))
    # --wd without a value: the target's working directory.
    return [NSENTER, "-t", str(pid), *flags, "--wd", "--", *user, *EXTRA_ARGV_HOOK(pid), *argv]


@dataclass
class ExecProcess:
    proc: asyncio.subprocess.Process
    stdin: int | None  # fd to write to (pipe or pty master), None without stdin
    stdout: int | None  # fd to read stdout (pty master with a TTY)
    stderr: int | None
    tty: bool

    def resize(self, width: int, height: int) -> None:
        if self.tty and self.stdout is not None:
            set_size(self.stdout, width, height)

    def close_stdin(self) -> None:
        if self.stdin is not None and not self.tty:
            with contextlib.suppress(OSError):
                os.close(self.stdin)
            self.stdin = None

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    async def hang_up(self) -> int:
        """The client is gone: EOF, SIGHUP, then SIGKILL after a grace; the exit status."""
        self.close_stdin()
        if self.proc.returncode is None:
            self.signal_group(signal.SIGHUP)
            try:
                return await asyncio.wait_for(self.proc.wait(), HANGUP_GRACE)
            except TimeoutError:
                self.signal_group(signal.SIGKILL)
        return await self.proc.wait()

    def close(self) -> None:
        for fd in {self.stdin, self.stdout, self.stderr} - {None}:
            assert fd is not None
            with contextlib.suppress(OSError):
                os.close(fd)
        self.stdin = self.stdout = self.stderr = None


def _child_setup(cgroups: list[Path], tty: bool) -> Callable[[], None]:
    """What the child does before it executes nsenter (after setsid): join the container's
    cgroups, and with a TTY make the pty its controlling terminal."""

    def setup() -> None:
        exec_identity.join_cgroups(cgroups)
        if tty:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    return setup


def set_size(fd: int, width: int, height: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


async def _start_tty(
    full: list[str], env: dict[str, str], name: str, size: tuple[int, int], cgroups: list[Path]
) -> ExecProcess:
    width, height = size
    master, slave = os.openpty()
    os.set_blocking(master, False)
    if width and height:
        set_size(master, width, height)
    try:
        proc = await asyncio.create_subprocess_exec(
            *full,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            preexec_fn=_child_setup(cgroups, tty=True),
        )
    except OSError as exc:
        os.close(master)
        raise ExecFailed(f"cannot run {name}: {exc.strerror}") from None
    finally:
        os.close(slave)
    return ExecProcess(proc, master, master, None, True)


async def start(
    pid: int, argv: list[str], *, stdin: bool, tty: bool, width: int = 0, height: int = 0
) -> ExecProcess:
    """Start ``argv`` in the container whose main process is ``pid`` (the zygote's child, born
    in the container's PID namespace). Raises ExecFailed."""
    if not argv:
        raise ExecFailed("you must specify at least one command for the container")
    env = read_environ(pid)
    full = exec_argv(pid, argv)
    cgroups = exec_identity.cgroup_files(pid)
    if tty:
        return await _start_tty(full, env, argv[0], (width, height), cgroups)
    pipes = [os.pipe() for _ in range(3)]
    in_r, in_w = pipes[0]
    try:
        proc = await asyncio.create_subprocess_exec(
            *full,
            stdin=in_r if stdin else asyncio.subprocess.DEVNULL,
            stdout=pipes[1][1],
            stderr=pipes[2][1],
            env=env,
            start_new_session=True,
            preexec_fn=_child_setup(cgroups, tty=False),
        )
    except OSError as exc:
        for r, w in pipes:
            os.close(r)
            os.close(w)
        raise ExecFailed(f"cannot run {argv[0]}: {exc.strerror}") from None
    for fd in (in_r, pipes[1][1], pipes[2][1]):
        os.close(fd)
    if not stdin:
        os.close(in_w)
    for fd in (pipes[1][0], pipes[2][0]):
        os.set_blocking(fd, False)
    return ExecProcess(proc, in_w if stdin else None, pipes[1][0], pipes[2][0], False)
