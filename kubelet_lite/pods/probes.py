"""Liveness, readiness and startup probes: bookkeeping (pure), the checks, and a worker per
probe that runs them on the probe's schedule.

Timing as kubelet's: nothing runs before initialDelaySeconds, then a check every periodSeconds,
each given timeoutSeconds. A result only flips after failureThreshold failures (or
successThreshold successes) in a row. Readiness starts out failed, liveness succeeded; liveness
and readiness wait until the startup probe (if any) has succeeded.

httpGet and tcpSocket connect from the node into the pod's IP (a socket made in the node's
namespace); exec runs the command inside the container's network and UTS namespaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial

from knet.api.core import Container, Probe
from kubelet_lite.network import probe_sockets

log = logging.getLogger(__name__)

USER_AGENT = "kube-probe/1.32"
MAX_OUTPUT = 10 * 1024


class Kind(StrEnum):
    LIVENESS = "Liveness"
    READINESS = "Readiness"
    STARTUP = "Startup"


@dataclass(frozen=True)
class Timing:
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def of(cls, probe: Probe, kind: Kind) -> Timing:
        success = probe.success_threshold or 1
        if kind is not Kind.READINESS:
            success = 1  # Kubernetes requires 1 for liveness and startup probes
        return cls(
            initial_delay=float(probe.initial_delay_seconds or 0),
            period=float(probe.period_seconds or 10),
            timeout=float(probe.timeout_seconds or 1),
            success_threshold=max(success, 1),
            failure_threshold=max(probe.failure_threshold or 3, 1),
        )


class ProbeTracker:
    """Consecutive results → the probe's current result (pure)."""

    def __init__(self, timing: Timing, initial: bool) -> None:
        self.timing = timing
        self.result = initial
        self._last: bool | None = None
        self._run = 0

    def observe(self, ok: bool) -> bool | None:
        """Feed one check's outcome; returns the new result when it flips, else None."""
        self._run = self._run + 1 if ok == self._last else 1
        self._last = ok
        needed = self.timing.success_threshold if ok else self.timing.failure_threshold
        if self._run < needed or ok == self.result:
            return None
        self.result = ok
        return ok


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class Target:
    """Where a container's probes go."""

    pod_ip: str
    node_netns_path: str | None  # the node's namespace (None: this process's)
    pod_netns_path: str | None  # for exec
    pid: int  # the container's recorded process (exec joins its UTS, IPC, mount namespaces)
    env: Mapping[str, str]


def resolve_port(port: int | str, container: Container) -> int:
    if isinstance(port, int):
        if not 0 < port < 65536:
            raise ValueError(f"port {port} is out of range")
        return port
    if port.isdigit():
        return resolve_port(int(port), container)
    for p in container.ports or []:
        if p.name == port:
            return p.container_port
    raise ValueError(f"port name {port!r} not found in container {container.name!r}")


async def _connect(
    target: Target, host: str, port: int, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str | None]:
    sock = probe_sockets.socket_in(target.node_netns_path)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
    except BaseException:
        sock.close()
        raise
    reader, writer = await asyncio.open_connection(sock=sock)
    return reader, writer, None


def _dial_error(exc: BaseException, host: str, port: int) -> str:
    if isinstance(exc, TimeoutError):
        return f"dial tcp {host}:{port}: i/o timeout"
    if isinstance(exc, OSError) and exc.errno:
        return f"dial tcp {host}:{port}: connect: {os.strerror(exc.errno).lower()}"
    return f"dial tcp {host}:{port}: {exc}"


async def tcp_check(target: Target, host: str, port: int, timeout: float) -> Outcome:
    try:
        _, writer, _ = await _connect(target, host, port, timeout)
    except (OSError, TimeoutError) as exc:
        return Outcome(False, _dial_error(exc, host, port))
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return Outcome(True)


async def http_check(
    target: Target,
    host: str,
    port: int,
    path: str,
    scheme: str,
    headers: Sequence[tuple[str, str]],
    timeout: float,
) -> Outcome:
    url = f"{scheme.lower()}://{host}:{port}{path}"
    try:
        async with asyncio.timeout(timeout):
            reader, writer, _ = await _connect(target, host, port, timeout)
            try:
                if scheme.upper() == "HTTPS":
                    ctx = ssl.create_default_context()
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE  # as kubelet: probes skip verification
                    await writer.start_tls(ctx, server_hostname=host)
                lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
                names = {k.lower() for k, _ in headers}
                if "user-agent" not in names:
                    lines.append(f"User-Agent: {USER_AGENT}")
                if "accept" not in names:
                    lines.append("Accept: */*")
                lines += [f"{k}: {v}" for k, v in headers] + ["Connection: close", "", ""]
                writer.write("\r\n".join(lines).encode("latin-1"))
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
    except TimeoutError:
        return Outcome(
            False,
            f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting '
            "headers)",
        )
    except OSError as exc:
        return Outcome(False, f'Get "{url}": {_dial_error(exc, host, port)}')
    parts = status_line.decode("latin-1").split()
    if len(parts) < 2 or not parts[1].isdigit():
        return Outcome(False, f'Get "{url}": malformed HTTP response {status_line[:80]!r}')
    code = int(parts[1])
    if 200 <= code < 400:
        return Outcome(True)
    return Outcome(False, f"HTTP probe failed with statuscode: {code}")


async def exec_check(target: Target, command: Sequence[str], timeout: float) -> Outcome:
    if not command:
        return Outcome(False, "exec probe has no command")
    argv = ["nsenter"]
    if target.pod_netns_path:
        argv.append(f"--net={target.pod_netns_path}")
    # The container's UTS, IPC and mount namespaces.
    for opt, kind in (("uts", "uts"), ("ipc", "ipc"), ("mount", "mnt")):
        argv.append(f"--{opt}=/proc/{target.pid}/ns/{kind}")
    argv += ["--", *command]
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(target.env),
            start_new_session=True,
        )
    except OSError as exc:
        return Outcome(False, f"exec probe could not start: {exc}")
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        await proc.wait()
        return Outcome(False, f"command {list(command)} timed out")
    text = out[:MAX_OUTPUT].decode(errors="replace").strip()
    if proc.returncode == 0:
        return Outcome(True, text)
    return Outcome(False, text or f"command {list(command)} exited with {proc.returncode}")


async def run_check(probe: Probe, container: Container, target: Target, timeout: float) -> Outcome:
    """One check of ``probe``."""
    try:
        if probe.exec is not None:
            return await exec_check(target, probe.exec.command or [], timeout)
        if probe.http_get is not None:
            g = probe.http_get
            port = resolve_port(g.port, container)
            headers = [(h.name, h.value) for h in g.http_headers or []]
            path = g.path or "/"
            if not path.startswith("/"):
                path = "/" + path
            host = g.host or target.pod_ip
            return await http_check(target, host, port, path, g.scheme or "HTTP", headers, timeout)
        if probe.tcp_socket is not None:
            t = probe.tcp_socket
            port = resolve_port(t.port, container)
            return await tcp_check(target, t.host or target.pod_ip, port, timeout)
        if probe.grpc is not None:
            return Outcome(False, "grpc probes are not supported by kubelet-lite")
    except ValueError as exc:
        return Outcome(False, str(exc))
    return Outcome(False, "probe has no handler (exec, httpGet or tcpSocket)")


# (kind, new result, message of the check that flipped it)
ResultCallback = Callable[[Kind, bool, str], None]
FailureCallback = Callable[[Kind, str], None]
Check = Callable[[], Awaitable[Outcome]]


class ProbeWorker:
    """Runs one probe of one container run until cancelled."""

    def __init__(
        self,
        kind: Kind,
        timing: Timing,
        check: Check,
        on_result: ResultCallback,
        on_failure: FailureCallback,
        gate: asyncio.Event | None = None,
    ) -> None:
        self.kind = kind
        self.timing = timing
        self.check = check
        self.on_result = on_result
        self.on_failure = on_failure
        self.gate = gate  # liveness/readiness wait for the startup probe
        self.tracker = ProbeTracker(timing, initial=kind is Kind.LIVENESS)

    async def run(self) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.timing.initial_delay > 0:
            await asyncio.sleep(self.timing.initial_delay)
        while True:
            try:
                outcome = await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a broken check counts as a failure, visibly
                log.exception("%s probe crashed", self.kind.value)
                outcome = Outcome(False, f"probe error: {exc}")
            if not outcome.ok:
                self.on_failure(self.kind, outcome.message)
            flipped = self.tracker.observe(outcome.ok)
            if flipped is not None:
                self.on_result(self.kind, flipped, outcome.message)
                if not flipped and self.kind is not Kind.READINESS:
                    return  # the container is restarted; a new run gets new workers
                if flipped and self.kind is Kind.STARTUP:
                    return  # startup probes stop once they succeed
            await asyncio.sleep(self.timing.period)


def start_probes(
    container: Container,
    target: Target,
    on_result: ResultCallback,
    on_failure: FailureCallback,
    startup_done: asyncio.Event,
) -> list[asyncio.Task[None]]:
    """A task per probe the container has; liveness and readiness wait for ``startup_done``."""
    tasks = []
    for kind, probe in (
        (Kind.STARTUP, container.startup_probe),
        (Kind.LIVENESS, container.liveness_probe),
        (Kind.READINESS, container.readiness_probe),
    ):
        if probe is None:
            continue
        timing = Timing.of(probe, kind)
        worker = ProbeWorker(
            kind,
            timing,
            partial(run_check, probe, container, target, timing.timeout),
            on_result,
            on_failure,
            gate=None if kind is Kind.STARTUP else startup_done,
        )
        tasks.append(asyncio.create_task(worker.run()))
    return tasks
