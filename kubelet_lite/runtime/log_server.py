"""The log server: one process that writes the CRI logs of every container a zygote starts.

The zygote forks it once (``start``) and hands it each container's log as it starts the
container (``hand_over``): the log file, opened by the zygote (so that a log that cannot be
opened fails that start), and the read ends of the container's stdout and stderr pipes, sent
over a unix socket (SCM_RIGHTS) with the file's path and rotation limits. The server copies
every pipe into its file in the CRI format (``logs``) until the pipe's last writer is gone.

One process for all containers instead of a shim process per container: a fork of the zygote
costs it ~1.5 ms and the shim's copy-on-write faults ~2 ms more, per container. It is, like a
shim, outside every container's namespaces and cgroups, in a session of its own, and it
outlives the zygote: it ends once the zygote has closed its socket and the last pipe is done.
Should it end early, the zygote starts another for the containers that come next.

Standard library only: the zygote imports this.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import selectors
import signal
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

from kubelet_lite.runtime import logs

MAX_FD = 1 << 20  # above any descriptor a process here has (close_range costs the same)
MESSAGE_MAX = 8192


def close_all_but(keep: Iterable[int]) -> None:
    """Close every descriptor from 3 up except ``keep`` (a forked child's clean slate: one
    close_range(2) per gap, not one close per possible fd)."""
    lo = 3
    for fd in sorted(k for k in set(keep) if k >= 3):
        if fd > lo:
            os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, MAX_FD)


@dataclass
class _Log:
    writer: logs.RotatingFile
    open_pipes: int = 2


@dataclass
class _Pipe:
    stream: str  # stdout or stderr
    log: _Log
    buf: bytes = b""


class LogServer:
    """The server's loop: take new logs from the control socket, copy every pipe."""

    def __init__(self, control: socket.socket) -> None:
        self.control: socket.socket | None = control
        self.pipes: dict[int, _Pipe] = {}
        self.sel = selectors.DefaultSelector()
        self.sel.register(control, selectors.EVENT_READ)

    def run(self) -> None:
        while self.control is not None or self.pipes:
            for key, _ in self.sel.select():
                if key.fileobj is self.control:
                    self._take()
                else:
                    self._copy(int(key.fd))

    def _take(self) -> None:
        assert self.control is not None
        try:
            data, fds, _, _ = socket.recv_fds(self.control, MESSAGE_MAX, 3)
        except InterruptedError:
            return
        except OSError:
            data, fds = b"", []
        if not data:  # the zygote is gone: finish what is open
            self.sel.unregister(self.control)
            self.control.close()
            self.control = None
            return
        try:
            doc = json.loads(data)
            out_r, err_r, log_fd = fds
            writer = logs.RotatingFile(
                str(doc["path"]), int(doc["maxSize"]), int(doc["maxFiles"]), fd=log_fd
            )
        except (ValueError, KeyError, TypeError, OSError):  # malformed: nothing to keep
            for fd in fds:
                os.close(fd)
            return
        log = _Log(writer)
        for fd, stream in ((out_r, "stdout"), (err_r, "stderr")):
            self.pipes[fd] = _Pipe(stream, log)
            self.sel.register(fd, selectors.EVENT_READ)

    def _copy(self, fd: int) -> None:
        pipe = self.pipes[fd]
        try:
            data = os.read(fd, 65536)
        except (InterruptedError, BlockingIOError):
            return
        except OSError:
            data = b""
        pieces, pipe.buf = logs.split_pieces(pipe.buf + data, eof=not data)
        if pieces:
            now = time.time_ns()
            entries = b"".join(logs.format_entry(now, pipe.stream, p, t) for p, t in pieces)
            with contextlib.suppress(OSError):  # a full disk loses lines, not the server
                pipe.log.writer.write(entries)
        if not data:
            self.sel.unregister(fd)
            os.close(fd)
            del self.pipes[fd]
            pipe.log.open_pipes -= 1
            if pipe.log.open_pipes == 0:
                pipe.log.writer.close()


def start() -> tuple[int, socket.socket]:
    """Fork the log server; (its pid, the socket to hand logs over on)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            close_all_but((theirs.fileno(),))
            _serve(theirs)
            code = 0
        finally:
            os._exit(code)
    theirs.close()
    ours.set_inheritable(False)
    return pid, ours


def _serve(control: socket.socket) -> None:
    # A session of its own: signals meant for a container or the zygote never reach it.
    os.setsid()
    signal.set_wakeup_fd(-1)  # the zygote's; closed
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.chdir("/")
    # Three descriptors per running container.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    LogServer(control).run()


class ServerGone(Exception):
    """The log server did not take the log (it has ended)."""


def hand_over(server: socket.socket, path: str, max_size: int, max_files: int) -> tuple[int, int]:
    """Open the log at ``path`` and give it to the server with a new pair of pipes; the write
    ends (stdout, stderr) for the container. Raises OSError if the log cannot be opened,
    ServerGone if the server is not there to take it."""
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
    try:
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
    except OSError:
        os.close(log_fd)
        raise
    doc = {"path": path, "maxSize": max_size, "maxFiles": max_files}
    try:
        socket.send_fds(server, [json.dumps(doc).encode()], [out_r, err_r, log_fd])
    except OSError as exc:
        os.close(out_w)
        os.close(err_w)
        raise ServerGone(str(exc)) from exc
    finally:
        for fd in (out_r, err_r, log_fd):
            os.close(fd)
    return out_w, err_w
