#!/usr/bin/env python3
"""Benchmark the store: concurrent writers (throughput, p50/p99 latency), a 10k-key range,
watch fan-out and reopen time. Prints figures; asserts nothing.

    .venv/bin/python scripts/bench_store.py [--clients 50] [--seconds 4] [--store sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from knet.storage import MemoryStore, SqliteStore, Store


@dataclass(frozen=True)
class Options:
    store: str
    clients: int
    seconds: float
    range_keys: int
    watchers: int
    watch_events: int
    data_dir: Path


@dataclass(frozen=True)
class Storm:
    writes: int
    elapsed: float
    latencies: list[float]

    def line(self, name: str, clients: int) -> str:
        lat = sorted(self.latencies)
        p50 = lat[len(lat) // 2] * 1e3
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3
        return (
            f"{name:<8} {clients:>3} clients  {self.writes / self.elapsed:>8.0f} writes/s  "
            f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  max {lat[-1] * 1e3:6.2f} ms  "
            f"({self.writes} writes in {self.elapsed:.1f} s)"
        )


async def open_store(opts: Options) -> Store:
    if opts.store == "memory":
        return MemoryStore()
    return await SqliteStore.open(opts.data_dir)


async def storm(
    clients: int, seconds: float, write: Callable[[int, int], Awaitable[object]]
) -> Storm:
    """Each client calls `write(client, i)` back to back until the time is up."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client(n: int) -> None:
        i = 0
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            await write(n, i)
            latencies.append(time.perf_counter() - start)
            i += 1

    start = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return Storm(len(latencies), time.perf_counter() - start, latencies)


async def bench_writes(store: Store, opts: Options) -> None:
    async def create(n: int, i: int) -> object:
        return await store.create(f"/bench/create/{n}/{i:08d}", b"x" * 512)

    print(Storm.line(await storm(opts.clients, opts.seconds, create), "create", opts.clients))

    for n in range(opts.clients):
        await store.create(f"/bench/cas/{n}", b"0")

    async def cas_update(n: int, i: int) -> object:
        current = await store.get(f"/bench/cas/{n}")
        assert current is not None
        return await store.update(
            current.key, str(i).encode() * 64, expected_mod_revision=current.mod_revision
        )

    line = Storm.line(await storm(opts.clients, opts.seconds, cas_update), "get+cas", opts.clients)
    print(line)


async def bench_range(store: Store, opts: Options) -> None:
    have = len((await store.range("/bench/range/"))[0])
    missing = list(range(have, opts.range_keys))
    for chunk in range(0, len(missing), 500):
        await asyncio.gather(
            *(
                store.create(f"/bench/range/{i:08d}", b"y" * 1024)
                for i in missing[chunk : chunk + 500]
            )
        )
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        kvs, _ = await store.range("/bench/range/")
        timings.append(time.perf_counter() - start)
    median = statistics.median(timings) * 1e3
    print(
        f"range    {len(kvs)} keys (1 KiB values): median {median:.1f} ms, "
        f"best {min(timings) * 1e3:.1f} ms (5 runs)"
    )


async def bench_watch(store: Store, opts: Options) -> None:
    start_rev = store.revision
    watches = [store.watch("/bench/watch/", start_rev) for _ in range(opts.watchers)]

    async def drain(index: int) -> float:
        seen = 0
        async for _ in watches[index]:
            seen += 1
            if seen == opts.watch_events:
                break
        return time.perf_counter()

    readers = [asyncio.create_task(drain(i)) for i in range(len(watches))]
    start = time.perf_counter()
    for chunk in range(0, opts.watch_events, 50):
        count = min(50, opts.watch_events - chunk)
        await asyncio.gather(
            *(store.create(f"/bench/watch/{chunk + i:08d}", b"z" * 256) for i in range(count))
        )
    written = time.perf_counter()
    done = max(await asyncio.gather(*readers))
    for watch in watches:
        watch.close()
    print(
        f"watch    {opts.watchers} watchers x {opts.watch_events} events: writes took "
        f"{written - start:.2f} s, all delivered after {done - start:.2f} s "
        f"({opts.watchers * opts.watch_events / (done - start):.0f} deliveries/s)"
    )


async def bench_reopen(opts: Options) -> None:
    start = time.perf_counter()
    store = await SqliteStore.open(opts.data_dir)
    opened = time.perf_counter()
    _, revision = await store.range("")
    listed = time.perf_counter()
    await store.close()
    print(
        f"reopen   at revision {revision}: open {(opened - start) * 1e3:.1f} ms, "
        f"full range {(listed - opened) * 1e3:.1f} ms"
    )


async def run(opts: Options) -> None:
    print(f"store: {opts.store}  data: {opts.data_dir}")
    store = await open_store(opts)
    try:
        await bench_writes(store, opts)
        await bench_range(store, opts)
        await bench_watch(store, opts)
    finally:
        await store.close()
    if opts.store == "sqlite":
        await bench_reopen(opts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--store", choices=["sqlite", "memory"], default="sqlite")
    parser.add_argument("--clients", type=int, default=50, help="concurrent writers")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each write storm")
    parser.add_argument("--range-keys", type=int, default=10_000)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--watch-events", type=int, default=1000)
    parser.add_argument("--dir", type=Path, help="data dir (default: a fresh temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kt-bench-store-") as tmp:
        opts = Options(
            store=args.store,
            clients=args.clients,
            seconds=args.seconds,
            range_keys=args.range_keys,
            watchers=args.watchers,
            watch_events=args.watch_events,
            data_dir=args.dir if args.dir is not None else Path(tmp),
        )
        asyncio.run(run(opts))


if __name__ == "__main__":
    main()
