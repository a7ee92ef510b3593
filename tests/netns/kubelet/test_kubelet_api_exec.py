"""`kubectl exec` (WebSocket v5.channel.k8s.io) and the Python client's `stream()` (v4) end to
end: API server ↔ kubelet-lite's HTTPS API in the node's namespace ↔ a command in the pod.

Covers stdout/stderr, stdin, the exit code, TTY, unknown containers and completed pods, a
frame on a wrong channel, and a client that goes away (its command is hung up and reaped).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from api_fixtures import apiserver, client, kubectl, node, shell, tag
from kubelet_harness import Node, create_pod, pod_manifest, wait_for, wait_running

from knet.apiserver.streaming import channel
from knet.client import ApiClient
from knet.testing.apiserver import ApiServerProcess
from kubelet_lite.runtime import procfs

__all__ = ["apiserver", "client", "node", "tag"]  # fixtures
pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")

SLEEPER = "echo ready; sleep 3600"


async def running_pod(node: Node, client: ApiClient, name: str, **spec: Any) -> None:
    node.start_kubelet()
    manifest = pod_manifest(name, node.name, [shell("main", SLEEPER)], **spec)
    await create_pod(client, node, manifest)
    await wait_running(client, name)


async def test_kubectl_exec_output_stdin_exit_code_and_namespaces(
    node: Node, client: ApiClient, apiserver: ApiServerProcess
) -> None:
    await running_pod(node, client, "box")
    r = kubectl(apiserver, "exec", "box", "--", "sh", "-c", "echo out; echo err >&2; hostname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["out", "box"]  # the pod's UTS namespace
    assert "err" in r.stderr
    r = kubectl(apiserver, "exec", "box", "--", "sh", "-c", "exit 3")
    assert r.returncode == 3, (r.stdout, r.stderr)
    r = subprocess.run(
        ["kubectl", "exec", "-i", "box", "--", "sh", "-c", "tr a-z A-Z; echo done"],
        input="hello\nworld\n",
        capture_output=True,
        text=True,
        timeout=20,
        env=kubectl_env(apiserver),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["HELLO", "WORLD", "done"]
    # The pod's network namespace: its own address is on its eth0.
    pod = await client.get("Pod", "box", "default")
    r = kubectl(apiserver, "exec", "box", "--", "cat", "/proc/net/fib_trie")
    assert pod["status"]["podIP"] in r.stdout


def kubectl_env(apiserver: ApiServerProcess) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(apiserver.kubeconfig)}


async def test_exec_errors_are_statuses(
    node: Node, client: ApiClient, apiserver: ApiServerProcess
) -> None:
    await running_pod(node, client, "box")
    r = kubectl(apiserver, "exec", "box", "-c", "nope", "--", "true")
    assert r.returncode != 0 and "container nope is not valid for pod box" in r.stderr
    r = kubectl(apiserver, "exec", "ghost", "--", "true")
    assert r.returncode != 0 and 'pods "ghost" not found' in r.stderr
    r = kubectl(apiserver, "exec", "box", "--", "no-such-command")
    assert r.returncode != 0


async def open_exec(
    apiserver: ApiServerProcess, session: aiohttp.ClientSession, pod: str, query: str
) -> aiohttp.ClientWebSocketResponse:
    url = f"{apiserver.url}/api/v1/namespaces/default/pods/{pod}/exec?{query}"
    return await session.ws_connect(url, protocols=(channel.V5,))


async def test_wrong_channel_ends_the_session_with_a_status(
    node: Node, client: ApiClient, apiserver: ApiServerProcess
) -> None:
    await running_pod(node, client, "box")
    async with aiohttp.ClientSession() as session:
        ws = await open_exec(apiserver, session, "box", "command=cat&stdin=true&stdout=true")
        assert ws.protocol == channel.V5
        await ws.send_bytes(channel.frame(7, b"junk"))
        statuses = []
        async for msg in ws:
            ch, payload = channel.parse(msg.data)
            if ch == channel.ERROR:
                statuses.append(json.loads(payload))
        assert statuses and statuses[0]["status"] == "Failure"
        assert "channel 7" in statuses[0]["message"]


async def test_a_client_that_vanishes_gets_its_command_hung_up_and_reaped(
    node: Node, client: ApiClient, apiserver: ApiServerProcess
) -> None:
    await running_pod(node, client, "box")
    marker = f"kt-vanish-{node.tag}"
    script = f"echo started; sleep 3000; : {marker}"
    query = "command=sh&command=-c&command=" + quote(script) + "&stdout=true"
    async with aiohttp.ClientSession() as session:
        ws = await open_exec(apiserver, session, "box", query)
        msg = await ws.receive(timeout=10)
        assert channel.parse(msg.data) == (channel.STDOUT, b"started\n")

        async def shells() -> list[int]:
            return [p for p in procfs_pids() if marker.encode() in cmdline(p)]

        shell_pid = (await wait_for("the exec'd command", shells))[0]
        group = os.getpgid(shell_pid)

        def sleepers() -> list[int]:  # the shell and its sleep
            return [p for p in procfs_pids() if pgid(p) == group]

        assert len(sleepers()) >= 2
        await ws.close()  # the client disappears mid-stream

    async def gone() -> bool:
        return not sleepers()

    began = time.monotonic()
    await wait_for("the command to be hung up", gone, timeout=10)
    assert time.monotonic() - began < 5


def procfs_pids() -> list[int]:
    """Live processes (a zombie is dead: the subreaper that is this test collects it later)."""
    out = []
    for entry in os.listdir("/proc"):
        st = procfs.read_stat(int(entry)) if entry.isdigit() else None
        if st is not None and st.state not in ("Z", "X"):
            out.append(int(entry))
    return out


def pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


async def test_python_client_stream_v4_and_tty(
    node: Node, client: ApiClient, apiserver: ApiServerProcess
) -> None:
    await running_pod(node, client, "box")
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
    from kubernetes.stream import stream

    api = k8s.CoreV1Api(k8s_config.new_client_from_config(str(apiserver.kubeconfig)))

    def run() -> tuple[str, int | None]:
        resp = stream(
            api.connect_get_namespaced_pod_exec,
            "box",
            "default",
            command=["sh", "-c", "echo from-python; exit 4"],
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
        resp.run_forever(timeout=10)
        return resp.read_stdout(), resp.returncode

    out, code = await asyncio.to_thread(run)
    assert out == "from-python\n" and code == 4
    # kubectl only asks for a TTY from a terminal: speak the protocol directly.
    script = "test -t 0 && echo tty; read x; stty size"
    query = "command=sh&command=-c&command=" + quote(script) + "&stdin=true&stdout=true&tty=true"
    async with aiohttp.ClientSession() as session:
        ws = await open_exec(apiserver, session, "box", query)
        await ws.send_bytes(channel.frame(channel.RESIZE, b'{"Width": 100, "Height": 40}'))
        await ws.send_bytes(channel.frame(channel.STDIN, b"go\n"))
        out, status = b"", None
        async for msg in ws:
            ch, payload = channel.parse(msg.data)
            if ch == channel.STDOUT:
                out += payload
            elif ch == channel.ERROR:
                status = json.loads(payload)
    assert status == {"metadata": {}, "status": "Success"}
    lines = [line.strip() for line in out.decode().splitlines()]
    assert "tty" in lines and lines[-1] == "40 100", out  # (a terminal echoes "go" too)
