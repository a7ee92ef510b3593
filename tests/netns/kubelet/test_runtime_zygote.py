"""The zygote on the real kernel, without a kubelet: the container is the zygote's own child,
born in its PID namespace (no process in between); its output reaches the CRI log through the
zygote's log server; pause has no log; a start that fails still leaves its records."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from kubelet_lite.runtime import logs, procfs
from kubelet_lite.runtime.namespaces import NamespacePlan
from kubelet_lite.runtime.process import (
    LaunchRequest,
    ProcessRuntime,
    StartFailed,
    read_exit_record,
    read_pid_record,
)
from kubelet_lite.runtime.resolve import ImagePlan

pytestmark = pytest.mark.root


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    rt = ProcessRuntime(tmp_path / "runtime")
    await rt.start()
    try:
        yield rt
    finally:
        await rt.close()


def request(
    tmp_path: Path,
    name: str,
    log: Path | None,
    plan: ImagePlan,
    namespaces: NamespacePlan,
) -> LaunchRequest:
    return LaunchRequest(
        hostname=name,
        log=log,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        plan=plan,
        pid_file=tmp_path / f"{name}.pid",
        exit_file=tmp_path / f"{name}.exit",
        pod_uid="kt-zygote-test",
        namespaces=namespaces,
    )


def sh(script: str) -> ImagePlan:
    return ImagePlan("busybox", "", argv=["sh", "-c", script])


async def eventually(what: str, check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {what} after 5 s")


def ns_pids(pid: int) -> list[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return [int(p) for p in line.split()[1:]]
    raise AssertionError(f"no NSpid for {pid}")


def holders(path: Path) -> list[int]:
    """The processes that have ``path`` open."""
    out = []
    for p in map(int, filter(str.isdigit, os.listdir("/proc"))):
        try:
            names = [os.readlink(f"/proc/{p}/fd/{fd}") for fd in os.listdir(f"/proc/{p}/fd")]
        except OSError:
            continue
        if str(path) in names:
            out.append(p)
    return out


async def test_container_is_pid_1_and_the_zygotes_child_with_its_log_served(
    tmp_path: Path, runtime: ProcessRuntime
) -> None:
    log = tmp_path / "logs" / "c" / "0.log"
    script = "echo pid=$$; echo oops >&2; sleep 30"
    req = request(tmp_path, "c", log, sh(script), NamespacePlan(holder=None, pid="container"))
    proc = await runtime.spawn(req)
    st = procfs.read_stat(proc.pid)
    assert st is not None and st.ppid == runtime.zygote_pid
    assert ns_pids(proc.pid) == [proc.pid, 1] and procfs.is_pid_namespace_init(proc.pid)
    assert not proc.sweep  # its end takes everything in its namespace along
    # The log is held by the zygote's log server alone: its recorded child, in a session of
    # its own, in the node's PID namespace.
    record = json.loads((runtime.zygote_dir / f"{runtime.zygote_pid}.logs").read_text())
    server = procfs.read_stat(record["pid"])
    assert server is not None and server.ppid == runtime.zygote_pid
    assert server.session == server.pid and record["startTicks"] == server.start_ticks
    assert holders(log) == [server.pid]
    assert ns_pids(server.pid) == [server.pid]
    proc.signal_group(9)
    rec = await proc.wait(10)
    assert rec is not None and rec.exit_code == 128 + 9 and rec.signal == 9  # first hand
    await eventually("two log lines", lambda: log.read_bytes().count(b"\n") >= 2)
    entries = [logs.parse_entry(x) for x in log.read_bytes().splitlines()]
    assert sorted((e.stream, e.text) for e in entries if e is not None) == [
        ("stderr", b"oops"),
        ("stdout", b"pid=1"),
    ]


async def test_pause_has_no_log_and_a_container_joins_its_pid_namespace(
    tmp_path: Path, runtime: ProcessRuntime
) -> None:
    pause_req = request(
        tmp_path,
        "pause",
        None,
        ImagePlan("pause", "", builtin="knet-pause"),
        NamespacePlan(holder=None, pid="pod"),
    )
    pause = await runtime.spawn(pause_req)
    assert ns_pids(pause.pid) == [pause.pid, 1]
    assert os.readlink(f"/proc/{pause.pid}/fd/2") == "/dev/null"
    member_req = request(
        tmp_path,
        "member",
        tmp_path / "member.log",
        sh("sleep 30"),
        NamespacePlan(holder=pause.pid, pid="pod"),
    )
    member = await runtime.spawn(member_req)
    inside = ns_pids(member.pid)
    assert inside[0] == member.pid and len(inside) == 2 and inside[1] > 1
    assert member.sweep and not procfs.is_pid_namespace_init(member.pid)
    pidns = {os.stat(f"/proc/{p}/ns/pid").st_ino for p in (pause.pid, member.pid)}
    assert len(pidns) == 1 and os.stat("/proc/self/ns/pid").st_ino not in pidns
    for proc in (member, pause):
        await runtime.stop(proc, 2)
    # The zygote went back to its own PID namespace after each fork: a plain child is in ours.
    plain = await runtime.spawn(
        request(tmp_path, "plain", None, sh("sleep 30"), NamespacePlan(holder=None, pid="host"))
    )
    assert ns_pids(plain.pid) == [plain.pid]
    await runtime.stop(plain, 1)


async def test_a_log_that_cannot_be_opened_fails_the_start_with_records(
    tmp_path: Path, runtime: ProcessRuntime
) -> None:
    not_a_file = tmp_path / "logs" / "0.log"
    not_a_file.mkdir(parents=True)
    req = request(tmp_path, "bad", not_a_file, sh("true"), NamespacePlan(holder=None))
    with pytest.raises(StartFailed) as info:
        await runtime.spawn(req)
    assert info.value.stage == "open log" and "directory" in info.value.message
    record = read_pid_record(req.pid_file)
    assert record is not None
    await eventually("exit record", lambda: read_exit_record(req.exit_file, record.pid) is not None)
    proc_exit = read_exit_record(req.exit_file, record.pid)
    assert proc_exit is not None and proc_exit.exit_code == 127
    assert proc_exit.start_error is not None and "open log" in proc_exit.start_error


async def test_a_log_server_that_ended_is_replaced_for_the_next_container(
    tmp_path: Path, runtime: ProcessRuntime
) -> None:
    record = runtime.zygote_dir / f"{runtime.zygote_pid}.logs"
    plan = NamespacePlan(holder=None, pid="container")
    first = await runtime.spawn(request(tmp_path, "a", tmp_path / "a.log", sh("true"), plan))
    await first.wait(10)
    old = json.loads(record.read_text())["pid"]
    os.kill(old, 9)
    await eventually("the old server reaped", lambda: procfs.read_stat(old) is None)
    log = tmp_path / "b.log"
    second = await runtime.spawn(request(tmp_path, "b", log, sh("echo served; sleep 30"), plan))
    new = json.loads(record.read_text())["pid"]
    assert new != old and holders(log) == [new]
    await eventually("the line", lambda: b"stdout F served\n" in log.read_bytes())
    await runtime.stop(second, 1)
