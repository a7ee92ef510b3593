#!/usr/bin/env python3
"""Service proxying paths compared in one run, in scratch namespaces (prints figures).

One node namespace with a bridge and two pods (client, server). From the client pod it measures
one TCP stream's throughput (sendfile into the socket, splice into /dev/null on the server, so
neither end copies through Python) and short connections per second (4 client processes,
connect / 1 byte / answer / close), for these paths:

  direct      client pod -> server pod IP
  iptables    client pod -> ClusterIP, kproxy's iptables mode (DNAT in the kernel)
  userspace   client pod -> ClusterIP, kproxy's userspace mode (REDIRECT to its listener), for
              each TCP copy method (splice, buffered) and event loop (asyncio, uvloop if present)
  haproxy     client pod -> haproxy in the node namespace (mode tcp, nbthread 1: one thread,
              like the userspace proxy), started by argv and stopped by its pid

The proxiers run in their own process in the node namespace, fed a Service and an EndpointSlice
directly (no apiserver). Floors printed as ratios: userspace >= 36% of direct throughput and
>= 50% of haproxy's; iptables >= 90% of direct.

Every process is recorded and killed by its pid; the namespaces are removed in any case; the
whole run is bounded by --timeout.

Each figure is the best of --repeats runs (others' work on the machine only slows a run down).

Run as root:  .venv/bin/python scripts/bench_proxy_modes.py [--seconds 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from knet.netlink import netns as netns_mod  # noqa: E402
from kubelet_lite.netconf import NetConf, SandboxSpec  # noqa: E402
from kubelet_lite.sandbox import PodNetwork  # noqa: E402

TPUT_PORT, CPS_PORT = 5001, 5002
VIP, VIP_TPUT, VIP_CPS = "10.96.0.10", 80, 81
HAPROXY_TPUT, HAPROXY_CPS = 8080, 8081
SUBNET = "10.250.1.0/24"
CPS_CLIENTS = 4
FILE_SIZE = 1 << 26


def ns_argv(ns: str, *argv: str) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{ns}", "--", *argv]


def self_argv(ns: str, *args: str) -> list[str]:
    return ns_argv(ns, sys.executable, str(Path(__file__).resolve()), *args)


# ---------------------------------------------------------------------------------------------
# Roles run inside the namespaces


def _sink(conn: socket.socket) -> None:
    """Count bytes until EOF without copying them into Python; answer with the count."""
    r, w = os.pipe()
    total = 0
    with open(os.devnull, "wb") as null, conn:
        while True:
            n = os.splice(conn.fileno(), w, 1 << 20)
            if n == 0:
                break
            total += n
            while n:
                n -= os.splice(r, null.fileno(), n)
        conn.sendall(total.to_bytes(8, "big"))
    os.close(r)
    os.close(w)


def role_server() -> None:
    tput = socket.create_server(("0.0.0.0", TPUT_PORT), reuse_port=True)

    def accept_tput() -> None:
        while True:
            conn, _ = tput.accept()
            threading.Thread(target=_sink, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_tput, daemon=True).start()

    class Answer(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = cast(asyncio.Transport, transport)

        def data_received(self, data: bytes) -> None:
            self.transport.write(b"ok")
            self.transport.close()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Answer, "0.0.0.0", CPS_PORT, backlog=4096)
        print("ready", flush=True)
        await server.serve_forever()

    _run(serve(), uvloop_wanted=True)


def role_tput(host: str, port: int, seconds: float) -> None:
    fd = os.memfd_create("kt-bench")
    os.ftruncate(fd, FILE_SIZE)
    with socket.create_connection((host, port), timeout=10) as s:
        s.settimeout(None)  # sendfile needs a blocking socket
        start = time.perf_counter()
        sent = 0
        while time.perf_counter() - start < seconds:
            sent += os.sendfile(s.fileno(), fd, 0, FILE_SIZE)
        s.shutdown(socket.SHUT_WR)
        got = int.from_bytes(s.recv(8), "big")
        elapsed = time.perf_counter() - start
    os.close(fd)
    print(json.dumps({"bytes": got, "sent": sent, "seconds": elapsed}))


def role_cps(host: str, port: int, seconds: float) -> None:
    count = errors = 0
    last_error = ""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                s.sendall(b"x")
                if s.recv(2) == b"ok":
                    count += 1
                else:
                    errors += 1
        except OSError as e:
            errors += 1
            last_error = str(e)
    result = {"count": count, "errors": errors, "seconds": seconds, "last_error": last_error}
    print(json.dumps(result))


def _run(coro: Any, uvloop_wanted: bool) -> None:
    if uvloop_wanted:
        try:
            import uvloop

            uvloop.run(coro)
            return
        except ImportError:
            pass
    asyncio.run(coro)


def _objects(server_ip: str) -> tuple[dict[str, Any], dict[str, Any]]:
    ports = [("tput", VIP_TPUT, TPUT_PORT), ("cps", VIP_CPS, CPS_PORT)]
    service = {
        "metadata": {"name": "bench", "namespace": "default", "resourceVersion": "1"},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": VIP,
            "ports": [
                {"name": n, "protocol": "TCP", "port": p, "targetPort": t} for n, p, t in ports
            ],
        },
    }
    eps = {
        "metadata": {
            "name": "bench-1",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "bench"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [server_ip], "conditions": {"ready": True}}],
        "ports": [{"name": n, "protocol": "TCP", "port": t} for n, _, t in ports],
    }
    return service, eps


def role_proxy(mode: str, copier: str, loop_kind: str, server_ip: str) -> None:
    from kproxy.backend.restore import RestoreBackend
    from kproxy.config import ProxyConfig
    from kproxy.proxier import IptablesProxier
    from kproxy.userspace.proxier import UserspaceOptions, UserspaceProxier

    async def main() -> None:
        config = ProxyConfig("node1", min_sync_period=0.0, sync_period=30.0)
        backend = RestoreBackend("auto")
        proxier: IptablesProxier | UserspaceProxier
        if mode == "iptables":
            proxier = IptablesProxier(config, backend)
        else:
            proxier = UserspaceProxier(config, backend, UserspaceOptions(copier=copier))
        service, eps = _objects(server_ip)
        proxier.on_service_add(service)
        proxier.on_endpoint_slice_add(eps)
        proxier.on_services_synced()
        proxier.on_endpoint_slices_synced()
        await proxier.sync_proxy_rules()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        runner = asyncio.create_task(proxier.run())
        print("ready", flush=True)
        await stop.wait()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)

    _run(main(), uvloop_wanted=loop_kind == "uvloop")


# ---------------------------------------------------------------------------------------------
# The driver (root namespace)


class Bench:
    def __init__(self, workdir: Path, seconds: float, repeats: int) -> None:
        tag = secrets.token_hex(3)
        self.node = f"kt-bench-{tag}-node"
        self.seconds = seconds
        self.repeats = repeats
        self.workdir = workdir
        self.procs: list[subprocess.Popen[str]] = []
        self.logs = 0
        self.net = PodNetwork(
            NetConf(
                ipam_dir=workdir / "ipam",
                subnet=SUBNET,
                bridge="kbr0",
                node_netns=self.node,
                netns_prefix=f"kt-bench-{tag}-p",
                veth_prefix="ktb",
            )
        )
        self.pods: dict[str, tuple[SandboxSpec, str, str]] = {}

    def setup(self) -> None:
        netns_mod.create(self.node)
        self.net.ensure_node()
        for name in ("client", "server"):
            spec = SandboxSpec(pod_uid=f"kt-bench-{name}-{time.monotonic_ns()}", pod_name=name)
            result = self.net.add(spec)
            self.pods[name] = (spec, result.netns, str(result.ip))
        self.start(self.ns("server"), "server")

    def ns(self, pod: str) -> str:
        return self.pods[pod][1]

    def ip(self, pod: str) -> str:
        return self.pods[pod][2]

    def start(self, ns: str, *args: str) -> subprocess.Popen[str]:
        return self.start_argv(self_argv(ns, *args))

    def start_argv(self, argv: list[str], ready: bool = True) -> subprocess.Popen[str]:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.logs += 1
        log = self.workdir / f"proc-{self.logs}.log"
        with log.open("w") as err:
            # stderr to a file: an unread pipe would block a chatty process when it fills.
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        self.procs.append(proc)
        if ready:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if line != "ready":
                stop(proc)
                raise RuntimeError(f"{argv[-5:]} did not start: {log.read_text()[-1500:]}")
        return proc

    def client(self, role: str, host: str, port: int) -> dict[str, Any]:
        argv = self_argv(self.ns("client"), role, host, str(port), str(self.seconds))
        out = subprocess.run(argv, capture_output=True, text=True, timeout=self.seconds + 30)
        if out.returncode != 0:
            raise RuntimeError(f"{role} failed: {out.stderr[-1500:]}")
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    def measure(self, host: str, tput_port: int, cps_port: int) -> dict[str, float]:
        """Best of ``repeats`` runs each: other work on the machine only ever slows a run."""
        gbit = cps = 0.0
        errors = 0
        for _ in range(self.repeats):
            tput = self.client("tput", host, tput_port)
            gbit = max(gbit, tput["bytes"] * 8 / tput["seconds"] / 1e9)
            rate, failed = self.connections(host, cps_port)
            cps = max(cps, rate)
            errors += failed
        return {"gbit": gbit, "cps": cps, "errors": errors}

    def connections(self, host: str, port: int) -> tuple[float, int]:
        argv = self_argv(self.ns("client"), "cps", host, str(port), str(self.seconds))
        procs = [
            subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(CPS_CLIENTS)
        ]
        self.procs.extend(procs)
        total = errors = 0
        for proc in procs:
            out, _ = proc.communicate(timeout=self.seconds + 30)
            data = json.loads(out)
            total += data["count"]
            errors += data["errors"]
        return total / self.seconds, errors

    def haproxy(self) -> subprocess.Popen[str]:
        server = self.ip("server")
        cfg = self.workdir / "haproxy.cfg"
        cfg.write_text(
            "\n".join(
                [
                    "global",
                    "    nbthread 1",
                    "    maxconn 8000",
                    "defaults",
                    "    mode tcp",
                    "    timeout connect 5s",
                    "    timeout client 30s",
                    "    timeout server 30s",
                    "listen tput",
                    f"    bind 0.0.0.0:{HAPROXY_TPUT}",
                    f"    server s {server}:{TPUT_PORT}",
                    "listen cps",
                    f"    bind 0.0.0.0:{HAPROXY_CPS}",
                    f"    server s {server}:{CPS_PORT}",
                    "",
                ]
            )
        )
        proc = self.start_argv(ns_argv(self.node, "haproxy", "-db", "-f", str(cfg)), ready=False)
        time.sleep(0.5)
        if proc.poll() is not None:
            log = self.workdir / f"proc-{self.logs}.log"
            raise RuntimeError(f"haproxy exited: {log.read_text()[-1500:]}")
        return proc

    def close(self) -> None:
        for proc in self.procs:
            stop(proc)
        with contextlib.suppress(Exception):
            for spec, _, _ in self.pods.values():
                self.net.delete(spec)
        self.net.close()
        netns_mod.remove(self.node)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def run(seconds: float, repeats: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="kt-bench-") as tmp:
        bench = Bench(Path(tmp), seconds, repeats)
        try:
            bench.setup()
            server = bench.ip("server")
            gateway = SUBNET.rsplit(".", 1)[0] + ".1"
            results["direct"] = bench.measure(server, TPUT_PORT, CPS_PORT)
            variants = [("iptables", "-", "asyncio")]
            for loop_kind in ("asyncio", "uvloop"):
                for copier in ("splice", "buffered"):
                    variants.append(("userspace", copier, loop_kind))
            for mode, copier, loop_kind in variants:
                proc = bench.start(bench.node, "proxy", mode, copier, loop_kind, server)
                try:
                    name = mode if mode == "iptables" else f"userspace/{copier}/{loop_kind}"
                    results[name] = bench.measure(VIP, VIP_TPUT, VIP_CPS)
                finally:
                    stop(proc)
            proc = bench.haproxy()
            try:
                results["haproxy"] = bench.measure(gateway, HAPROXY_TPUT, HAPROXY_CPS)
            finally:
                stop(proc)
        finally:
            bench.close()
    return results


def report(results: dict[str, dict[str, float]]) -> None:
    direct, haproxy = results["direct"], results["haproxy"]
    print(f"{'path':30} {'Gbit/s':>8} {'% direct':>9} {'conn/s':>9} {'% direct':>9} errors")
    for name, r in results.items():
        print(
            f"{name:30} {r['gbit']:8.2f} {100 * r['gbit'] / direct['gbit']:8.0f}% "
            f"{r['cps']:9.0f} {100 * r['cps'] / direct['cps']:8.0f}% {r['errors']:6.0f}"
        )
    userspace = {k: v for k, v in results.items() if k.startswith("userspace/")}
    best = max(userspace, key=lambda k: userspace[k]["gbit"])
    u = userspace[best]
    floors = [
        (f"{best} >= 36% of direct throughput", u["gbit"] / direct["gbit"], 0.36),
        (f"{best} >= 50% of haproxy throughput", u["gbit"] / haproxy["gbit"], 0.5),
        ("iptables >= 90% of direct throughput", results["iptables"]["gbit"] / direct["gbit"], 0.9),
    ]
    print()
    for what, ratio, floor in floors:
        print(f"{'ok  ' if ratio >= floor else 'FAIL'} {what}: {100 * ratio:.0f}%")
    print(f"userspace conn/s vs haproxy: {100 * u['cps'] / haproxy['cps']:.0f}%")


def main(argv: Sequence[str]) -> int:
    if argv and argv[0] == "server":
        role_server()
        return 0
    if argv and argv[0] in ("tput", "cps"):
        fn = role_tput if argv[0] == "tput" else role_cps
        fn(argv[1], int(argv[2]), float(argv[3]))
        return 0
    if argv and argv[0] == "proxy":
        role_proxy(argv[1], argv[2], argv[3], argv[4])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=2.0, help="per measurement (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="best of N per path (default 3)")
    p.add_argument("--timeout", type=float, default=400.0, help="whole run bound (default 400)")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root (network namespaces, iptables)", file=sys.stderr)
        return 2

    def expired(*_: object) -> None:
        raise TimeoutError(f"benchmark exceeded --timeout {args.timeout}s")

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(int(args.timeout))
    try:
        results = run(args.seconds, args.repeats)
    finally:
        signal.alarm(0)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
