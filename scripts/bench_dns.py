#!/usr/bin/env python3
"""`knet dns` under load, side by side with dnsmasq, both on 127.0.0.1 ports, each pinned to
one core (taskset), dnsperf on another.

A real `knet apiserver` gets --services ClusterIP Services and --headless headless Services
(3 ready endpoints each); `knet dns` serves them from its informers, dnsmasq serves the same A
records from a hosts file (`--local=/<zone>/` so it answers the zone itself). Two query files:
- `hits`: A for existing Services (what dnsmasq can answer too);
- `mix`: 40% A hits, 40% A NXDOMAIN as a pod's search list makes them (ndots:5: a short name
  tried under `<ns>.svc.<zone>` first, an external name under every search domain), 10% SRV,
  10% PTR.
Each file runs flat out for --seconds (qps, p50/p99 from dnsperf's per-query latencies), then at
a fixed --fixed-qps (p99). Freshness: --fresh Services created one at a time, each timed from
its create request to the first UDP answer with its ClusterIP (p50/p99).

Floors (issue #17): knet dns ≥ 30% of dnsmasq's qps, p99 ≤ 5 ms at 5,000 qps, freshness p99 ≤ 1 s.

Run as root (dnsmasq runs with --user=root):
    .venv/bin/python scripts/bench_dns.py [--services 1000] [--headless 100] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import dns.exception
import dns.message
import dns.rdatatype

from knet.client import ApiClient
from knet.testing.apiserver import free_port, running_apiserver

NS = "bench"
ZONE = "cluster.local"


def pct(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1] * 1000


# ---------------------------------------------------------------------------- load the cluster


async def create_all(client: ApiClient, objs: list[dict[str, Any]], width: int = 32) -> list[Any]:
    sem = asyncio.Semaphore(width)

    async def one(obj: dict[str, Any]) -> Any:
        async with sem:
            return await client.create(obj, namespace=NS)

    return list(await asyncio.gather(*(one(o) for o in objs)))


def service(name: str, headless: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    if headless:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def endpoint_slice(svc: str, i: int) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{svc}-a", "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [f"10.{200 + i // 250}.{i % 250}.{k}"], "conditions": {"ready": True}}
            for k in range(1, 4)
        ],
    }


async def load(client: ApiClient, services: int, headless: int) -> dict[str, str]:
    """Create the Services; their names → ClusterIPs."""
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    made = await create_all(client, [service(f"svc-{i}") for i in range(services)])
    await create_all(client, [service(f"hl-{i}", headless=True) for i in range(headless)])
    await create_all(client, [endpoint_slice(f"hl-{i}", i) for i in range(headless)])
    return {m["metadata"]["name"]: m["spec"]["clusterIP"] for m in made}


def query_files(workdir: Path, ips: dict[str, str], headless: int) -> dict[str, Path]:
    rng = random.Random(5)
    names = sorted(ips)
    fqdn = [f"{n}.{NS}.svc.{ZONE}" for n in names]
    hits = [f"{rng.choice(fqdn)} A" for _ in range(5000)]
    mix: list[str] = []
    for _ in range(5000):
        roll = rng.random()
        if roll < 0.4:
            mix.append(f"{rng.choice(fqdn)} A")
        elif roll < 0.6:  # "svc-N.bench" under <ns>.svc.<zone> first
            mix.append(f"{rng.choice(names)}.{NS}.{NS}.svc.{ZONE} A")
        elif roll < 0.8:  # an external name under each search domain
            mix.append(f"www.example.com.{rng.choice([f'{NS}.svc.', 'svc.', ''])}{ZONE} A")
        elif roll < 0.9 and headless:
            mix.append(f"_http._tcp.hl-{rng.randrange(headless)}.{NS}.svc.{ZONE} SRV")
        else:
            rev = ipaddress.ip_address(ips[rng.choice(names)]).reverse_pointer
            mix.append(f"{rev} PTR")
    out = {"hits": workdir / "hits.txt", "mix": workdir / "mix.txt"}
    out["hits"].write_text("\n".join(hits) + "\n")
    out["mix"].write_text("\n".join(mix) + "\n")
    return out


# ---------------------------------------------------------------------------- processes


class Processes:
    """Every process this run starts, by its Popen: stopped at the end, whatever happens."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as f:
            proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} never answered 200")


def ask(port: int, name: str, rdtype: str = "A", timeout: float = 0.5) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q.to_wire(), ("127.0.0.1", port))
        return dns.message.from_wire(s.recv(65535))


def answer_ips(resp: dns.message.Message) -> set[str]:
    return {rd.to_text() for rr in resp.answer if rr.rdtype == dns.rdatatype.A for rd in rr}


def start_knet_dns(
    procs: Processes, kubeconfig: Path, workdir: Path, core: str
) -> tuple[subprocess.Popen[bytes], int]:
    port, ready = free_port(), free_port()
    argv = [
        "taskset", "-c", core, sys.executable, "-m", "knet.cli", "dns",
        "--kubeconfig", str(kubeconfig), "--bind-address", "127.0.0.1",
        "--dns-port", str(port), "--health-port", str(free_port()),
        "--ready-port", str(ready), "--metrics-port", str(free_port()),
        "--upstream", f"127.0.0.1:{free_port()}",  # nothing listens: the bench never forwards
    ]  # fmt: skip
    proc = procs.start(argv, workdir / "knet-dns.log")
    wait_http(f"http://127.0.0.1:{ready}/ready", proc)
    return proc, port


def start_dnsmasq(procs: Processes, ips: dict[str, str], workdir: Path, core: str) -> int:
    hosts = workdir / "hosts"
    hosts.write_text("".join(f"{ip} {n}.{NS}.svc.{ZONE}\n" for n, ip in ips.items()))
    port = free_port()
    argv = [
        "taskset", "-c", core, "dnsmasq", "--keep-in-foreground", "--port", str(port),
        "--listen-address", "127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
        f"--addn-hosts={hosts}", f"--local=/{ZONE}/", "--cache-size=10000",
        f"--pid-file={workdir / 'dnsmasq.pid'}", "--user=root", "--group=root",
        f"--log-facility={workdir / 'dnsmasq.log'}",
    ]  # fmt: skip
    procs.start(argv, workdir / "dnsmasq.out")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, dns.exception.DNSException):
            if answer_ips(ask(port, next(f"{n}.{NS}.svc.{ZONE}" for n in ips))):
                return port
        time.sleep(0.1)
    raise RuntimeError("dnsmasq did not answer")


# ---------------------------------------------------------------------------- measure

LATENCY_LINE = re.compile(rb"^> \S+ \S+ \S+ ([0-9.]+)$", re.M)


def dnsperf(
    port: int, data: Path, seconds: float, core: str, qps: int | None = None
) -> dict[str, float]:
    argv = [
        "taskset", "-c", core, "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(data),
        "-l", str(seconds), "-q", "200", "-t", "2", "-v",
    ]  # fmt: skip
    if qps:
        argv += ["-Q", str(qps)]
    out = subprocess.run(argv, capture_output=True, timeout=seconds + 30, check=True).stdout
    lat = [float(m) for m in LATENCY_LINE.findall(out)]
    text = out.decode(errors="replace")
    rate = re.search(r"Queries per second:\s+([0-9.]+)", text)
    lost = re.search(r"Queries lost:\s+(\d+)", text)
    return {
        "qps": float(rate.group(1)) if rate else 0.0,
        "p50": pct(lat, 50),
        "p99": pct(lat, 99),
        "lost": float(lost.group(1)) if lost else 0.0,
    }


class Poller(threading.Thread):
    """Asks for one name every 2 ms until the answer has the wanted address (set later)."""

    def __init__(self, port: int, name: str) -> None:
        super().__init__(daemon=True)
        self.port, self.name = port, name
        self.want: str | None = None
        self.first: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(OSError, dns.exception.DNSException):
                ips = answer_ips(ask(self.port, self.name, timeout=0.2))
                if ips and self.want is not None and self.want in ips:
                    self.first = time.monotonic()
                    return
            time.sleep(0.002)


async def freshness(client: ApiClient, port: int, count: int) -> list[float]:
    """Create → first correct answer, one Service at a time."""
    took: list[float] = []
    for i in range(count):
        name = f"fresh-{i}"
        poller = Poller(port, f"{name}.{NS}.svc.{ZONE}")
        poller.start()
        start = time.monotonic()
        made = await client.create(service(name), namespace=NS)
        poller.want = made["spec"]["clusterIP"]
        await asyncio.to_thread(poller.join, 5)
        poller.stop.set()
        if poller.first is None:
            raise RuntimeError(f"{name} was not answered within 5 s")
        took.append(poller.first - start)
    return took


def report(rows: list[tuple[str, str, dict[str, float]]]) -> None:
    print(f"{'server':<10} {'queries':<14} {'qps':>9} {'p50 ms':>8} {'p99 ms':>8} {'lost':>6}")
    for server, what, r in rows:
        print(
            f"{server:<10} {what:<14} {r['qps']:>9.0f} {r['p50']:>8.3f} {r['p99']:>8.3f}"
            f" {r['lost']:>6.0f}"
        )


async def bench(args: argparse.Namespace, workdir: Path, procs: Processes) -> None:
    with running_apiserver(workdir) as api:
        async with ApiClient.from_url(api.url) as client:
            t = time.monotonic()
            ips = await load(client, args.services, args.headless)
            print(f"loaded {args.services} + {args.headless} headless Services in "
                  f"{time.monotonic() - t:.1f}s")  # fmt: skip
            files = query_files(workdir, ips, args.headless)
            _, knet_port = start_knet_dns(procs, api.kubeconfig, workdir, args.server_core)
            dnsmasq_port = start_dnsmasq(procs, ips, workdir, args.server_core)
            rows: list[tuple[str, str, dict[str, float]]] = []
            for what in ("hits", "mix"):
                for server, port in (("knet dns", knet_port), ("dnsmasq", dnsmasq_port)):
                    r = dnsperf(port, files[what], args.seconds, args.client_core)
                    rows.append((server, what, r))
                    fixed = dnsperf(
                        port, files[what], args.seconds, args.client_core, args.fixed_qps
                    )
                    rows.append((server, f"{what}@{args.fixed_qps}", fixed))
            report(rows)
            knet = next(r for s, w, r in rows if s == "knet dns" and w == "hits")
            masq = next(r for s, w, r in rows if s == "dnsmasq" and w == "hits")
            print(f"knet dns / dnsmasq qps (A hits): {knet['qps'] / max(masq['qps'], 1):.0%}")
            took = await freshness(client, knet_port, args.fresh)
            print(f"freshness over {len(took)} creates: p50 {pct(took, 50):.1f} ms, "
                  f"p99 {pct(took, 99):.1f} ms")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--headless", type=int, default=100)
    p.add_argument("--seconds", type=float, default=5.0, help="per dnsperf run")
    p.add_argument("--fixed-qps", type=int, default=5000)
    p.add_argument("--fresh", type=int, default=50, help="Services timed for freshness")
    p.add_argument("--server-core", default="1")
    p.add_argument("--client-core", default="0")
    p.add_argument("--max-seconds", type=int, default=900, help="the whole run's bound")
    args = p.parse_args(argv)
    if min(args.services, args.fresh, args.fixed_qps) < 1 or args.headless < 0 or args.seconds <= 0:
        p.error("--services, --fresh, --fixed-qps must be >= 1, --headless >= 0, --seconds > 0")
    missing = [tool for tool in ("dnsperf", "dnsmasq", "taskset") if shutil.which(tool) is None]
    if missing:
        print(
            f"bench_dns: missing {', '.join(missing)} (scripts/setup installs them)",
            file=sys.stderr,
        )
        return 1

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(f"bench_dns: stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGALRM, stop)
    signal.alarm(args.max_seconds)
    procs = Processes()
    try:
        with tempfile.TemporaryDirectory(prefix="knet-bench-dns-") as tmp:
            asyncio.run(bench(args, Path(tmp), procs))
    finally:
        procs.stop_all()
        signal.alarm(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
