#!/usr/bin/env python3
"""Streaming benchmark: exec start latency and `logs -f` fan-out, through a real API server and a
real kubelet-lite's HTTPS API.

The node is a scratch network namespace (kt-node-<rand>) whose loopback carries the node address;
the API server dials kubelets from inside it (``--kubelet-netns``). Everything is removed at the
end (recorded processes by pid, then the namespaces). Measures:

- exec: from sending the WebSocket request (v4.channel.k8s.io, as the Python client speaks it; no
  kubectl start-up) to the first byte of the command's output, p50/p99 over ``--execs`` runs
  (floor: p50 <= 30 ms);
- logs -f: ``--followers`` concurrent follows of one container that writes a timestamped line
  every 10 ms for ``--seconds``; per line, the delay from its write to each follower (floor: p99
  <= 100 ms), and lines lost (must be 0).

- port-forward: a pod serves ``--megabytes`` MiB per connection; read once over a plain TCP
  connection to the pod (a socket made in the node's namespace) and once through the
  port-forward tunnel (WebSocket v4, API server and kubelet hops) and once through kubectl's
  protocol (SPDY/3.1 inside the WebSocket, ended in the API server), same client, same run
  (floor: tunnel >= 25% of direct, moonshot 50%).

- tunnels: ``--tunnels`` port-forward tunnels in kubectl's protocol, each with one connection
  to an echo pod, held ``--seconds`` with a 1 KiB round trip every 50 ms: round-trip p50/p99,
  the longest gap between round trips, and stalled tunnels (must be 0).

Run as root:  .venv/bin/python scripts/bench_streaming.py [--execs 100] [--followers 100]
              [--tunnels 20] [--seconds 60] [--megabytes 256]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from knet.apiserver.streaming import channel, spdy, tunnel
from knet.client import ApiClient
from knet.netlink import netns
from knet.netlink.nsthread import call_in_netns
from knet.testing.apiserver import ApiServerProcess, running_apiserver
from kubelet_lite.gc import kill_process, kill_recorded
from kubelet_lite.runtime import procfs
from kubelet_lite.status.checkpoint import StateStore

NODE = "kt-bench-node"
NODE_IP = "10.0.0.1/32"
SOURCE_PORT = 9000
# Serves N MiB of zeros per connection (a host python: containers run this machine's binaries).
SOURCE = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    f"s.bind(('0.0.0.0', {SOURCE_PORT})); s.listen(8); chunk=bytes(1<<20)\n"
    "while True:\n"
    "    c,_=s.accept()\n"
    "    [c.sendall(chunk) for _ in range(int(sys.argv[1]))]\n"
    "    c.close()\n"
)
ECHO_PORT = 9001
# Echoes every connection back (a thread each), for tunnels held open.
ECHO = (
    "import socket,threading\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    f"s.bind(('0.0.0.0', {ECHO_PORT})); s.listen(64)\n"
    "def serve(c):\n"
    "    while d := c.recv(65536):\n"
    "        c.sendall(d)\n"
    "    c.close()\n"
    "while True:\n"
    "    c,_=s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()\n"
)
WRITER = "i=0; while true; do i=$((i+1)); echo $i $(date +%s%N); sleep 0.01; done"


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))] if s else float("nan")


def pod(name: str, script: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", script]}],
        },
    }


async def wait_running(client: ApiClient, name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            p = await client.get("Pod", name, "default")
            if (p.get("status") or {}).get("phase") == "Running":
                await asyncio.sleep(0.3)
                return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"pod {name} did not start")


async def bench_exec(api: ApiServerProcess, runs: int) -> list[float]:
    url = f"{api.url}/api/v1/namespaces/default/pods/shell/exec"
    query = [("command", "echo"), ("command", "x"), ("stdout", "true")]
    out = []
    async with aiohttp.ClientSession() as session:
        for _ in range(runs):
            t0 = time.perf_counter()
            async with session.ws_connect(url, params=query, protocols=(channel.V4,)) as ws:
                async for msg in ws:
                    if channel.parse(msg.data)[0] == channel.STDOUT:
                        out.append(time.perf_counter() - t0)
                        break
    return out


async def follow(api: ApiServerProcess, seconds: float, delays: list[float]) -> tuple[int, int]:
    """One follower; records per-line delays; (lines seen, lines missing from its sequence)."""
    url = f"{api.url}/api/v1/namespaces/default/pods/writer/log?follow=true&tailLines=0"
    seen, missing, last = 0, 0, None
    async with aiohttp.ClientSession() as session, session.get(url) as r:
        end = time.monotonic() + seconds
        buf = b""
        while time.monotonic() < end:
            try:
                chunk = await asyncio.wait_for(r.content.readany(), end - time.monotonic())
            except TimeoutError:
                break
            now = time.time_ns()
            complete, _, buf = (buf + chunk).rpartition(b"\n")
            for line in complete.split(b"\n"):
                with contextlib.suppress(ValueError):
                    n, stamp = (int(x) for x in line.split())
                    delays.append((now - stamp) / 1e9)
                    seen += 1
                    missing += 0 if last is None else n - last - 1
                    last = n
    return seen, missing


async def read_direct(netns_name: str, ip: str) -> int:
    sock = await asyncio.to_thread(
        call_in_netns, f"/run/netns/{netns_name}", lambda: socket.socket()
    )
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (ip, SOURCE_PORT))
    total = 0
    with sock:
        while data := await loop.sock_recv(sock, 1 << 20):
            total += len(data)
    return total


async def read_tunnel(api: ApiServerProcess) -> int:
    url = f"{api.url}/api/v1/namespaces/default/pods/source/portforward?ports={SOURCE_PORT}"
    total = -2  # the data channel opens with the port number
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=(channel.V4,), max_msg_size=0) as ws,
    ):
        async for msg in ws:
            ch, payload = channel.parse(msg.data)
            if ch == 0:
                total += len(payload)
    return total


async def read_spdy(api: ApiServerProcess) -> int:
    """The same through kubectl's protocol: SPDY/3.1 inside the WebSocket, one stream pair."""
    url = f"{api.url}/api/v1/namespaces/default/pods/source/portforward"
    codec, total = spdy.Codec(), 0
    headers = {"port": str(SOURCE_PORT), "requestID": "0"}
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=(tunnel.PROTOCOL,), max_msg_size=0) as ws,
    ):
        await ws.send_bytes(
            codec.encode(spdy.SynStream(1, {**headers, "streamType": "error"}))
            + codec.encode(spdy.SynStream(3, {**headers, "streamType": "data"}))
        )
        async for msg in ws:
            for frame in codec.feed(msg.data):
                if isinstance(frame, spdy.Data) and frame.stream_id == 3:
                    total += len(frame.data)
                    if frame.fin:
                        return total
    return total


async def hold_tunnel(api: ApiServerProcess, seconds: float, rtts: list[float]) -> float:
    """One tunnel in kubectl's protocol with one connection to the echo pod: a 1 KiB round
    trip every 50 ms for ``seconds``. The longest time without a round trip (inf: stalled)."""
    url = f"{api.url}/api/v1/namespaces/default/pods/echo/portforward"
    codec, payload = spdy.Codec(), bytes(1024)
    headers = {"port": str(ECHO_PORT), "requestID": "0"}
    longest, last = 0.0, time.monotonic()
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=(tunnel.PROTOCOL,)) as ws,
    ):
        await ws.send_bytes(
            codec.encode(spdy.SynStream(1, {**headers, "streamType": "error"}))
            + codec.encode(spdy.SynStream(3, {**headers, "streamType": "data"}))
        )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            await ws.send_bytes(codec.encode(spdy.Data(3, payload)))
            got = 0
            try:
                while got < len(payload):
                    msg = await asyncio.wait_for(ws.receive(), 10)
                    if msg.type != aiohttp.WSMsgType.BINARY:
                        return float("inf")
                    for f in codec.feed(msg.data):
                        if isinstance(f, spdy.Data) and f.stream_id == 3:
                            got += len(f.data)
            except TimeoutError:
                return float("inf")
            rtts.append(time.perf_counter() - t0)
            now = time.monotonic()
            longest, last = max(longest, now - last), now
            await asyncio.sleep(0.05)
    return longest


async def bench_tunnels(api: ApiServerProcess, tunnels: int, seconds: float) -> None:
    rtts: list[float] = []
    gaps = await asyncio.gather(*(hold_tunnel(api, seconds, rtts) for _ in range(tunnels)))
    stalled = sum(1 for g in gaps if g == float("inf"))
    longest = max((g for g in gaps if g != float("inf")), default=float("nan"))
    print(
        f"port-forward tunnels (kubectl's protocol): {tunnels} held {seconds:.0f}s, "
        f"{len(rtts)} round trips of 1 KiB, p50 {pct(rtts, 50) * 1000:.1f} ms, p99 "
        f"{pct(rtts, 99) * 1000:.1f} ms, longest gap {longest:.2f} s, "
        f"stalled tunnels {stalled}"
    )


async def bench_portforward(api: ApiServerProcess, netns_name: str, ip: str, mib: int) -> None:
    rates = {}
    for name in ("direct", "tunnel", "spdy"):
        t0 = time.perf_counter()
        if name == "direct":
            got = await read_direct(netns_name, ip)
        else:
            got = await (read_tunnel(api) if name == "tunnel" else read_spdy(api))
        took = time.perf_counter() - t0
        if got != mib << 20:
            print(f"port-forward {name}: got {got} bytes, want {mib << 20}")
        rates[name] = got / took / 2**20
    print(
        f"port-forward, {mib} MiB: direct {rates['direct']:.0f} MiB/s, tunnel "
        f"{rates['tunnel']:.0f} MiB/s = {rates['tunnel'] / rates['direct']:.0%} of direct, "
        f"kubectl's SPDY tunnel {rates['spdy']:.0f} MiB/s = "
        f"{rates['spdy'] / rates['direct']:.0%} (floor 25%, moonshot 50%)"
    )


async def bench(args: argparse.Namespace, api: ApiServerProcess, netns_name: str) -> None:
    async with ApiClient.from_url(api.url) as client:
        await client.create(pod("shell", "sleep 3600"), "default")
        source = pod("source", "")
        source["spec"]["containers"][0]["command"] = [  # type: ignore[index]
            sys.executable,
            "-c",
            SOURCE,
            str(args.megabytes),
        ]
        await client.create(source, "default")
        await wait_running(client, "source")
        ip = (await client.get("Pod", "source", "default"))["status"]["podIP"]
        echo = pod("echo", "")
        echo["spec"]["containers"][0]["command"] = [sys.executable, "-c", ECHO]  # type: ignore[index]
        await client.create(echo, "default")
        await client.create(pod("writer", WRITER), "default")
        await wait_running(client, "shell")
        await wait_running(client, "writer")
        await wait_running(client, "echo")
    await bench_portforward(api, netns_name, ip, args.megabytes)
    await bench_tunnels(api, args.tunnels, args.seconds)
    await bench_exec(api, 3)  # warm the connections and the code paths
    lat = await bench_exec(api, args.execs)
    print(
        f"exec (v4, echo): n={len(lat)} p50 {pct(lat, 50) * 1000:.1f} ms, "
        f"p99 {pct(lat, 99) * 1000:.1f} ms (floor p50 <= 30 ms)"
    )
    delays: list[float] = []
    results = await asyncio.gather(
        *(follow(api, args.seconds, delays) for _ in range(args.followers))
    )
    counts = [seen for seen, _ in results]
    expected = args.seconds / 0.01
    print(
        f"logs -f: {args.followers} followers x {args.seconds:.0f}s, lines per follower "
        f"min {min(counts)} max {max(counts)} (writer ~{expected:.0f} at most; sleep drift "
        f"lowers it); delay p50 {pct(delays, 50) * 1000:.1f} ms, p99 {pct(delays, 99) * 1000:.1f}"
        " ms (floor p99 <= 100 ms)"
    )
    print(
        f"lines lost (gaps in the writer's sequence, all followers): {sum(m for _, m in results)}"
    )


def cleanup(root: Path, tag: str, proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    killed: list[int] = []
    if (root / "pods").exists():
        for pd, cp in StateStore(root / "pods").all():
            killed += kill_recorded(pd, cp.uid if cp is not None else None)
    zdir = root / "runtime" / "zygotes"
    for f in zdir.iterdir() if zdir.exists() else []:
        with contextlib.suppress(ValueError):
            pid = int(f.name)
            ticks = procfs.start_ticks(pid)
            if ticks is not None and kill_process(pid, ticks):
                killed.append(pid)
    for pid in killed:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    for name in netns.list_names(f"kt-b{tag}-"):
        netns.remove(name)
    netns.remove(f"kt-node-{tag}")


def kubelet_argv(api: ApiServerProcess, tag: str, root: Path) -> list[str]:
    return [
        sys.executable, "-m", "kubelet_lite", "--kubeconfig", str(api.kubeconfig),
        "--hostname-override", NODE, "--node-ip", "10.0.0.1", "--pod-cidr", "10.244.0.0/24",
        "--node-netns", f"kt-node-{tag}", "--root-dir", str(root),
        "--pod-netns-prefix", f"kt-b{tag}-",
    ]  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--execs", type=int, default=100)
    p.add_argument("--followers", type=int, default=100)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--megabytes", type=int, default=256)
    p.add_argument("--tunnels", type=int, default=20)
    args = p.parse_args()
    if os.geteuid() != 0:
        print("bench_streaming: needs root (network namespaces)", file=sys.stderr)
        return 2
    tag = secrets.token_hex(3)
    ns = f"kt-node-{tag}"
    with tempfile.TemporaryDirectory(prefix="kt-bench-streaming-") as tmp:
        work = Path(tmp)
        root = work / "kubelet"
        netns.create(ns)
        proc = None
        try:
            for argv in (
                ["ip", "link", "set", "lo", "up"],
                ["ip", "addr", "add", "10.0.0.1/32", "dev", "lo"],
            ):
                subprocess.run(["nsenter", f"--net=/run/netns/{ns}", *argv], check=True)
            with running_apiserver(work, "--kubelet-netns", ns) as api:
                with (work / "kubelet.log").open("wb") as log:
                    proc = subprocess.Popen(
                        kubelet_argv(api, tag, root), stdout=log, stderr=subprocess.STDOUT
                    )
                asyncio.run(bench(args, api, ns))
        finally:
            cleanup(root, tag, proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
