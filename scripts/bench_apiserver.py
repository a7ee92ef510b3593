#!/usr/bin/env python3
"""API server benchmark: mutating latency under concurrency, large lists, watch fan-out.

Starts a real `knet apiserver` process on 127.0.0.1 (own temp data dir, removed at the end) and
prints figures. Reproduce with:

    .venv/bin/python scripts/bench_apiserver.py [--pods 10000] [--clients 50] [--watchers 500]
        [--store sqlite|etcd|both] [--watch-cache true|false|both] [--secure off|on|both]

`--store etcd` runs the same figures on a real one-member etcd (Debian's etcd-server, started on
free 127.0.0.1 ports in the temp dir, stopped at the end); `both` runs SQLite then etcd.
`--watch-cache both` runs each store with the API server's watch cache on, then off.

Floors from the issue: create p99 <= 50 ms, list of 10k pods <= 1 s, a write reaches 500 watchers
with p99 <= 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

from knet.pki import bundle
from knet.testing.apiserver import ApiServerProcess, free_port
from knet.testing.etcd import running_etcd

# With --secure: the cluster CA and a component's client certificate, for every connection.
TLS: ssl.SSLContext | None = None


def _connector(limit: int) -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(limit=limit, ssl=TLS if TLS is not None else True)


def secure_args(tmp: Path) -> tuple[tuple[str, ...], Path, ssl.SSLContext]:
    """TLS, x509 client authentication, Node,RBAC and ServiceAccount keys, as a secure cluster
    runs. The client is system:kube-controller-manager, not the admin: system:masters would
    skip RBAC, and the point is to pay for a real RBAC decision on every request."""
    pki = bundle.ensure(tmp / "pki", ["127.0.0.1"])
    crt, key = pki.serving
    args = (
        *("--tls-cert-file", str(crt), "--tls-private-key-file", str(key)),
        *("--client-ca-file", str(pki.ca_cert), "--authorization-mode", "Node,RBAC"),
        *("--service-account-signing-key-file", str(pki.sa_key)),
    )
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ccrt, ckey = pki.client("controller-manager")
    ctx.load_cert_chain(str(ccrt), str(ckey))
    return args, pki.ca_cert, ctx


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def pod(name: str) -> bytes:
    return orjson.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "bench", "shard": name[-1]}},
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "registry.k8s.io/e2e-test-images/agnhost:2.47",
                        "args": ["netexec", "--http-port=8080"],
                        "ports": [{"containerPort": 8080}],
                    }
                ]
            },
        }
    )


async def creates(url: str, total: int, clients: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    counter = iter(range(total))
    conn = _connector(clients)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=conn) as s:

        async def worker() -> None:
            for i in counter:
                body = pod(f"bench-{i:06d}")
                t0 = time.perf_counter()
                async with s.post(
                    f"{url}/api/v1/namespaces/default/pods", data=body, headers=headers
                ) as r:
                    await r.read()
                    if r.status != 201:
                        raise RuntimeError(f"create failed: {r.status}")
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
    return latencies, wall


def creates_ab(
    url: str, total: int, clients: int, workdir: Path, time_limit: float
) -> tuple[float, float, float, float, int]:
    """The same creates driven by ApacheBench (C, keep-alive), so the load generator does not
    compete with the server for this machine's two cores. Names come from generateName, so one
    body serves every request. Returns (rate/s, p50 s, p99 s, max s, requests)."""
    body = orjson.loads(pod("x"))
    del body["metadata"]["name"]
    body["metadata"]["generateName"] = "bench-"
    path = workdir / "pod.json"
    path.write_bytes(orjson.dumps(body))
    out = subprocess.run(
        [
            "ab",
            "-q",
            "-k",
            "-n",
            str(total),
            "-c",
            str(clients),
            "-p",
            str(path),
            "-T",
            "application/json",
            f"{url}/api/v1/namespaces/default/pods",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=time_limit,
    ).stdout
    if "Non-2xx responses" in out:
        raise RuntimeError("some creates failed:\n" + out)
    fields = {}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests per second:"):
            fields["rate"] = float(parts[3])
        elif line.startswith("Complete requests:"):
            fields["n"] = float(parts[2])
        elif len(parts) >= 2 and parts[0] in ("50%", "99%", "100%"):
            fields[parts[0]] = float(parts[1]) / 1e3
    return fields["rate"], fields["50%"], fields["99%"], fields["100%"], int(fields["n"])


async def list_time(url: str, accept: str, rounds: int = 3, query: str = "") -> tuple[float, int]:
    best = float("inf")
    size = 0
    async with aiohttp.ClientSession(connector=_connector(100)) as s:
        for _ in range(rounds):
            t0 = time.perf_counter()
            async with s.get(
                f"{url}/api/v1/namespaces/default/pods{query}", headers={"Accept": accept}
            ) as r:
                body = await r.read()
            best = min(best, time.perf_counter() - t0)
            size = len(body)
    return best, size


async def fanout(url: str, watchers: int, writes: int) -> list[float]:
    """Delivery latency: from the write's acknowledgement (its response read) to the moment each
    watcher reads it; a watcher that reads it before the ack arrives counts 0."""
    sent: dict[str, float] = {}
    acked: dict[str, float] = {}
    received: list[tuple[str, float]] = []
    delays: list[float] = []
    conn = _connector(watchers + 10)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as s:
        async with s.get(f"{url}/api/v1/namespaces/default/pods?limit=1") as r:
            rv = orjson.loads(await r.read())["metadata"]["resourceVersion"]
        ready = asyncio.Semaphore(0)

        async def watch() -> None:
            async with s.get(
                f"{url}/api/v1/namespaces/default/events?watch=true&resourceVersion={rv}"
                f"&timeoutSeconds=600"
            ) as r:
                ready.release()
                seen = 0
                async for line in r.content:
                    now = time.perf_counter()
                    received.append((orjson.loads(line)["object"]["metadata"]["name"], now))
                    seen += 1
                    if seen == writes:
                        return

        tasks = [asyncio.create_task(watch()) for _ in range(watchers)]
        for _ in range(watchers):
            await ready.acquire()
        await asyncio.sleep(0.5)
        for i in range(writes):
            name = f"fan-{i}"
            ev = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name},
                "involvedObject": {"kind": "Pod", "name": "x", "namespace": "default"},
                "reason": "Bench",
                "message": "fan-out",
            }
            sent[name] = time.perf_counter()
            async with s.post(
                f"{url}/api/v1/namespaces/default/events",
                data=orjson.dumps(ev),
                headers={"Content-Type": "application/json"},
            ) as r:
                await r.read()
            acked[name] = time.perf_counter()
            await asyncio.sleep(0.2)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    delays.extend(max(0.0, at - acked[name]) for name, at in received)
    return delays


async def main_async(args: argparse.Namespace) -> int:
    stores = ("sqlite", "etcd") if args.store == "both" else (args.store,)
    caches = ("true", "false") if args.watch_cache == "both" else (args.watch_cache,)
    secures = ("off", "on") if args.secure == "both" else (args.secure,)
    for store, cache, sec in ((st, c, x) for st in stores for c in caches for x in secures):
        with (
            tempfile.TemporaryDirectory(prefix="knet-bench-") as tmp,
            contextlib.ExitStack() as stack,
        ):
            extra: tuple[str, ...] = ()
            what = "SQLite WAL, synchronous=FULL"
            if store == "etcd":
                etcd = stack.enter_context(running_etcd(Path(tmp)))
                extra = ("--etcd-servers", etcd.url)
                what = f"etcd 1 member at {etcd.url}"
            extra += (f"--watch-cache={cache}",)
            await bench_one(args, Path(tmp), extra, f"{what}, --watch-cache={cache}", sec == "on")
    return 0


async def bench_one(
    args: argparse.Namespace, tmp: Path, extra: tuple[str, ...], what: str, secure: bool
) -> None:
    global TLS
    ca = None
    TLS = None
    if secure:
        more, ca, TLS = secure_args(tmp)
        extra += more
        what += ", TLS + x509 authn + RBAC (as system:kube-controller-manager)"
    server = ApiServerProcess(
        data_dir=tmp / "data",
        port=free_port(),
        log_path=tmp / "apiserver.log",
        extra_args=extra,
        tls_ca=ca,
    )
    server.start()
    try:
        url = server.url
        print(f"knet apiserver at {url}, data in a temp dir ({what})")
        if shutil.which("ab") and not args.python_client and not secure:
            rate, p50, p99, mx, n = creates_ab(url, args.pods, args.clients, tmp, args.time_limit)
            how = "ab"
        else:
            lat, wall = await creates(url, args.pods, args.clients)
            rate, p50, p99, mx, n = (
                args.pods / wall,
                pct(lat, 50),
                pct(lat, 99),
                max(lat),
                len(lat),
            )
            how = "python aiohttp client"
        print(
            f"creates ({how}): {n} pods from {args.clients} concurrent clients = {rate:.0f}/s; "
            f"latency p50 {p50 * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms, max {mx * 1e3:.1f} ms"
        )
        t_json, size = await list_time(url, "application/json")
        print(f"list {args.pods} pods (JSON): {t_json * 1e3:.0f} ms, {size / 1e6:.1f} MB")
        t_table, size = await list_time(
            url, "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        )
        print(
            f"list {args.pods} pods (Table, as kubectl get): {t_table * 1e3:.0f} ms, "
            f"{size / 1e6:.1f} MB"
        )
        t_cached, _ = await list_time(url, "application/json", query="?resourceVersion=0")
        print(f"list {args.pods} pods (JSON, resourceVersion=0): {t_cached * 1e3:.0f} ms")
        delays = await fanout(url, args.watchers, args.writes)
        print(
            f"fan-out (ack to watcher): {args.writes} writes x {args.watchers} watchers = "
            f"{len(delays)} "
            f"deliveries; p50 {pct(delays, 50) * 1e3:.1f} ms, "
            f"p99 {pct(delays, 99) * 1e3:.1f} ms, mean {statistics.mean(delays) * 1e3:.1f} ms"
        )
    finally:
        server.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pods", type=int, default=10_000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--watchers", type=int, default=500)
    p.add_argument("--writes", type=int, default=20)
    p.add_argument("--store", choices=("sqlite", "etcd", "both"), default="sqlite")
    p.add_argument("--watch-cache", choices=("true", "false", "both"), default="true")
    p.add_argument(
        "--time-limit", type=float, default=300.0, help="seconds the creates may take (ab only)"
    )
    p.add_argument(
        "--secure",
        choices=("off", "on", "both"),
        default="off",
        help="TLS + authentication + RBAC on (both: off then on; use --python-client with both "
        "so the two runs share a load generator)",
    )
    p.add_argument(
        "--python-client",
        action="store_true",
        help="drive the creates from Python even when ab (apache2-utils) is installed",
    )
    return asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
