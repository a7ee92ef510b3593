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
directly (no apiserver). Floors printed as ratios, judged on kproxy's default userspace variant
(splice, asyncio): userspace >= 36% of direct throughput, >= 50% of haproxy's and >= 60% of
haproxy's connections per second; iptables >= 90% of direct. Userspace is compared with haproxy
in the same window (both running, measured back to back), never as a ratio of two windows'
ratios. uvloop rows appear only when uvloop is installed, and then really run on it.

How paths are compared, so that a ratio measures the path and not the machine:

* Paired: in every proxy window a path is measured beside direct, under the same netfilter
  state: throughput as A B B A (a load drifting during the window weighs on both alike), then
  conn/s as A B; which one is A alternates between rounds; ratios are per pair. Direct thus
  runs with kproxy's rules loaded in the node, as pod -> pod traffic always does on a node
  running kube-proxy: br_netfilter hands bridged frames to conntrack and the filter chains
  (KUBE-FORWARD) on the direct path too. What is left is what the Service path adds (for
  iptables mode: the nat hook on each packet, and the route lookup br_netfilter redoes for
  every DNATed frame).
* Interleaved: --rounds rounds, each over every path; figures are the median with the range
  (min-max), floors are judged on the median paired ratio. On a small shared machine, others'
  work moves single runs by +-20%; pairs and medians keep that out of the ratios.
* Direct before any rule exists in the node is also printed (informational, unpaired): the
  price of conntrack and the filter chains that all pod traffic pays, not the Service path.
* Nothing is pinned to a CPU, on any path; the load is generated in the kernel (sendfile,
  splice), so Python's speed does not bound the stream.
* conn/s without TIME_WAIT pile-ups: the connecting namespaces reuse TIME_WAIT ports, and
  direct and proxied traffic reach the server on different ports (see PROXIED_*_PORT).

Every process is recorded and killed by its pid; the namespaces are removed in any case; the
whole run is bounded by --timeout.

Run as root:  .venv/bin/python scripts/bench_proxy_modes.py [--seconds 2] [--rounds 4]
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
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

if TYPE_CHECKING:
    from kubelet_lite.network.conf import SandboxSpec

# The server pod listens on one pair of ports for direct traffic and another for proxied
# traffic (the Service's targetPorts, haproxy's backends): the client pod reaches the server
# both ways from the same ephemeral ports, and a 4-tuple shared by both would meet the other
# path's TIME_WAIT and conntrack entries (different TCP timestamp offsets: PAWS rejects).
TPUT_PORT, CPS_PORT = 5001, 5002
PROXIED_TPUT_PORT, PROXIED_CPS_PORT = 5003, 5004
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
    def accept_tput(tput: socket.socket) -> None:
        while True:
            conn, _ = tput.accept()
            threading.Thread(target=_sink, args=(conn,), daemon=True).start()

    for port in (TPUT_PORT, PROXIED_TPUT_PORT):
        sock = socket.create_server(("0.0.0.0", port), reuse_port=True)
        threading.Thread(target=accept_tput, args=(sock,), daemon=True).start()

    class Answer(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = cast(asyncio.Transport, transport)

        def data_received(self, data: bytes) -> None:
            self.transport.write(b"ok")
            self.transport.close()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        servers = [
            await loop.create_server(Answer, "0.0.0.0", port, backlog=4096)
            for port in (CPS_PORT, PROXIED_CPS_PORT)
        ]
        print("ready", flush=True)
        await asyncio.gather(*(server.serve_forever() for server in servers))

    _run(serve(), uvloop_wanted=uvloop_available())


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
        # No silent fallback: a row labelled uvloop must have run on uvloop.
        import uvloop

        uvloop.run(coro)
        return
    asyncio.run(coro)


def uvloop_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("uvloop") is not None


def _objects(server_ip: str) -> tuple[dict[str, Any], dict[str, Any]]:
    ports = [("tput", VIP_TPUT, PROXIED_TPUT_PORT), ("cps", VIP_CPS, PROXIED_CPS_PORT)]
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
    from kproxy.iptables.proxier import IptablesProxier
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


@dataclass(frozen=True)
class Sample:
    gbit: float
    cps: float
    errors: int


@dataclass
class PathResults:
    """One path's samples, each with the direct pod -> pod sample taken beside it."""

    pairs: list[tuple[Sample, Sample]] = field(default_factory=list)
    # (this path, haproxy) measured back to back in one window, both proxies running.
    vs_haproxy: list[tuple[Sample, Sample]] = field(default_factory=list)

    def values(self, what: str) -> list[float]:
        return [getattr(path, what) for path, _ in self.pairs]

    def ratios(self, what: str) -> list[float]:
        return [getattr(path, what) / getattr(direct, what) for path, direct in self.pairs]

    def haproxy_ratios(self, what: str) -> list[float]:
        return [getattr(path, what) / getattr(ha, what) for path, ha in self.vs_haproxy]


class Bench:
    def __init__(self, workdir: Path, seconds: float) -> None:
        # Imported here: the roles above run in the namespaces and need none of this.
        from kubelet_lite.network.conf import NetConf
        from kubelet_lite.network.pod_network import PodNetwork

        tag = secrets.token_hex(3)
        self.node = f"kt-bench-{tag}-node"
        self.seconds = seconds
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
        from knet.netlink import netns as netns_mod
        from kubelet_lite.network.conf import SandboxSpec

        netns_mod.create(self.node)
        self.net.ensure_node()
        for name in ("client", "server"):
            spec = SandboxSpec(pod_uid=f"kt-bench-{name}-{time.monotonic_ns()}", pod_name=name)
            result = self.net.add(spec)
            self.pods[name] = (spec, result.netns, str(result.ip))
        # The connecting sides (client pod; the node, where the proxies dial the server) may
        # reuse their TIME_WAIT ports (RFC 7323 timestamps keep that safe). Otherwise ~28k
        # ephemeral ports per destination, held 60 s each, run out within a few seconds of
        # conn/s runs; connect() then crawls, and whichever path runs later looks slower.
        for ns in (self.ns("client"), self.node):
            subprocess.run(ns_argv(ns, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"), check=True)
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

    def throughput(self, host: str, port: int) -> float:
        argv = self_argv(self.ns("client"), "tput", host, str(port), str(self.seconds))
        out = subprocess.run(argv, capture_output=True, text=True, timeout=self.seconds + 30)
        if out.returncode != 0:
            raise RuntimeError(f"tput failed: {out.stderr[-1500:]}")
        result: dict[str, Any] = json.loads(out.stdout)
        return float(result["bytes"]) * 8 / float(result["seconds"]) / 1e9

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

    def pair(
        self,
        target: tuple[str, int, int],
        direct_first: bool,
        other: tuple[str, int, int] | None = None,
    ) -> tuple[Sample, Sample]:
        """The path and direct pod -> pod back to back, under the same netfilter state and
        machine load. Throughput as A B B A (each figure the mean of its two runs, so a load
        that drifts during the window weighs on both alike), then the connection rates A B (so
        a stream never runs in the wake of the other's short connections). Which of the two is
        A alternates between rounds."""
        path_end = target
        direct_end = other or (self.ip("server"), TPUT_PORT, CPS_PORT)
        a, b = (direct_end, path_end) if direct_first else (path_end, direct_end)
        gbit: dict[tuple[str, int, int], list[float]] = {a: [], b: []}
        for end in (a, b, b, a):
            gbit[end].append(self.throughput(end[0], end[1]))
        cps = {end: self.connections(end[0], end[2]) for end in (a, b)}
        path, direct = (
            Sample(statistics.mean(gbit[end]), *cps[end]) for end in (path_end, direct_end)
        )
        return path, direct

    def sample(self, host: str, tput_port: int, cps_port: int) -> Sample:
        gbit = self.throughput(host, tput_port)
        return Sample(gbit, *self.connections(host, cps_port))

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
                    f"    server s {server}:{PROXIED_TPUT_PORT}",
                    "listen cps",
                    f"    bind 0.0.0.0:{HAPROXY_CPS}",
                    f"    server s {server}:{PROXIED_CPS_PORT}",
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
        from knet.netlink import netns as netns_mod

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


def variants() -> list[tuple[str, str, str]]:
    """(name, copier, event loop) of every proxy window; iptables first, so the node carries
    kproxy's rules from then on."""
    out = [("iptables", "-", "asyncio")]
    for loop_kind in ("asyncio", "uvloop") if uvloop_available() else ("asyncio",):
        for copier in ("splice", "buffered"):
            out.append((f"userspace/{copier}/{loop_kind}", copier, loop_kind))
    return [*out, ("haproxy", "-", "-")]


def run(
    seconds: float, rounds: int, paths: Sequence[str]
) -> tuple[list[Sample], dict[str, PathResults]]:
    """``rounds`` interleaved rounds over ``paths``; returns the direct samples taken before
    any rule existed in the node, and each path's (path, direct) pairs."""
    bare: list[Sample] = []
    chosen = [v for v in variants() if v[0] in paths]
    results = {name: PathResults() for name, _, _ in chosen}
    with tempfile.TemporaryDirectory(prefix="kt-bench-") as tmp:
        bench = Bench(Path(tmp), seconds)
        try:
            bench.setup()
            server = bench.ip("server")
            gateway = SUBNET.rsplit(".", 1)[0] + ".1"
            direct = (server, TPUT_PORT, CPS_PORT)
            # Informational: the node namespace has no netfilter table yet, so bridged frames
            # skip conntrack and the filter chains that every pod's traffic meets on a node
            # running kube-proxy. The pairs below compare with direct under the same rules.
            bare.extend(bench.sample(*direct) for _ in range(rounds))
            for r in range(rounds):
                for name, copier, loop_kind in chosen:
                    if name == "haproxy":
                        proc = bench.haproxy()
                        target = (gateway, HAPROXY_TPUT, HAPROXY_CPS)
                    else:
                        mode = name.split("/")[0]
                        proc = bench.start(bench.node, "proxy", mode, copier, loop_kind, server)
                        target = (VIP, VIP_TPUT, VIP_CPS)
                    try:
                        results[name].pairs.append(bench.pair(target, direct_first=r % 2 == 0))
                        if name.startswith("userspace/") and "haproxy" in results:
                            _vs_haproxy(bench, results[name], target, gateway, r)
                    finally:
                        stop(proc)
        finally:
            bench.close()
    return bare, results


def _vs_haproxy(
    bench: Bench, results: PathResults, target: tuple[str, int, int], gateway: str, r: int
) -> None:
    """haproxy beside the userspace proxy, paired with it in the same window: a ratio of
    two ratios from different windows would carry both windows' noise."""
    proc = bench.haproxy()
    try:
        other = (gateway, HAPROXY_TPUT, HAPROXY_CPS)
        results.vs_haproxy.append(bench.pair(target, direct_first=r % 2 == 1, other=other))
    finally:
        stop(proc)


def spread(values: Sequence[float], fmt: str, scale: float = 1.0) -> str:
    """median (min-max)"""
    lo, mid, hi = (scale * v for v in (min(values), statistics.median(values), max(values)))
    return f"{mid:{fmt}} ({lo:{fmt}}-{hi:{fmt}})"


def report(bare: list[Sample], results: dict[str, PathResults], show_pairs: bool) -> None:
    directs = [d for r in results.values() for _, d in r.pairs]
    if show_pairs:
        for name, r in results.items():
            for path, direct in r.pairs:
                print(f"pair {name:27} {path.gbit:6.2f} vs direct {direct.gbit:6.2f} Gbit/s")
    print(
        f"{'path':27} {'Gbit/s median (range)':>23} {'% of paired direct':>19} "
        f"{'conn/s median (range)':>22} {'% of paired direct':>19} errors"
    )
    rows = [("direct (all pairs)", [(d, d) for d in directs])]
    rows += [(name, r.pairs) for name, r in results.items()]
    for name, pairs in rows:
        pr = PathResults(pairs)
        gbit, cps = pr.values("gbit"), pr.values("cps")
        errors = sum(p.errors for p, _ in pairs)
        print(
            f"{name:27} {spread(gbit, '.2f'):>23} {spread(pr.ratios('gbit'), '.0f', 100):>19} "
            f"{spread(cps, '.0f'):>22} {spread(pr.ratios('cps'), '.0f', 100):>19} {errors:6d}"
        )
    bare_gbit = [b.gbit for b in bare]
    direct_gbit = statistics.median(d.gbit for d in directs)
    print(
        f"\ndirect before any rule in the node (no conntrack, no filter chains): "
        f"{spread(bare_gbit, '.2f')} Gbit/s, "
        f"{100 * statistics.median(bare_gbit) / direct_gbit:.0f}% of direct with rules (unpaired)"
    )
    print("floors on the median of paired ratios:")
    for what, ratio, floor in floors(results):
        print(f"{'ok  ' if ratio >= floor else 'FAIL'} {what}: {100 * ratio:.0f}%")
    paired = {k: r for k, r in results.items() if r.vs_haproxy}
    if paired:
        print("\nuserspace vs haproxy, paired in the same window (median (range) of ratios):")
        for name, r in paired.items():
            print(
                f"{name:27} throughput {spread(r.haproxy_ratios('gbit'), '.0f', 100)}%, "
                f"conn/s {spread(r.haproxy_ratios('cps'), '.0f', 100)}%"
            )


DEFAULT_USERSPACE = "userspace/splice/asyncio"  # what kproxy --proxy-mode userspace runs


def judged_userspace(results: dict[str, PathResults]) -> str | None:
    """The variant the floors are judged on: kproxy's default, not the luckiest of several
    noisy medians."""
    if DEFAULT_USERSPACE in results:
        return DEFAULT_USERSPACE
    return next((k for k in results if k.startswith("userspace/")), None)


def floors(results: dict[str, PathResults]) -> list[tuple[str, float, float]]:
    """(what, measured ratio, floor) for the floors whose paths were measured."""
    out = []
    if "iptables" in results:
        ipt = statistics.median(results["iptables"].ratios("gbit"))
        out.append(("iptables >= 90% of direct throughput", ipt, 0.9))
    judged = judged_userspace(results)
    if judged:
        r = results[judged]
        out.append(
            (f"{judged} >= 36% of direct throughput", statistics.median(r.ratios("gbit")), 0.36)
        )
        if r.vs_haproxy:
            gbit = statistics.median(r.haproxy_ratios("gbit"))
            cps = statistics.median(r.haproxy_ratios("cps"))
            out.append((f"{judged} >= 50% of haproxy throughput (same window)", gbit, 0.5))
            out.append((f"{judged} >= 60% of haproxy conn/s (same window)", cps, 0.6))
    return out


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
    p.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    p.add_argument("--timeout", type=float, default=900.0, help="whole run bound (default 900)")
    names = [name for name, _, _ in variants()]
    p.add_argument(
        "--paths",
        default=",".join(names),
        help=f"comma-separated subset of {','.join(names)} (default: all)",
    )
    p.add_argument("--pairs", action="store_true", help="also print every (path, direct) pair")
    args = p.parse_args(argv)
    paths = args.paths.split(",")
    if args.rounds < 1 or args.seconds <= 0:
        p.error("--rounds must be >= 1 and --seconds > 0")
    if unknown := sorted(set(paths) - set(names)):
        p.error(f"unknown paths {unknown}; choose from {names}")
    if os.geteuid() != 0:
        print("needs root (network namespaces, iptables)", file=sys.stderr)
        return 2

    def expired(*_: object) -> None:
        raise TimeoutError(f"benchmark exceeded --timeout {args.timeout}s")

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(int(args.timeout))
    try:
        bare, results = run(args.seconds, args.rounds, paths)
    finally:
        signal.alarm(0)
    report(bare, results, args.pairs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
