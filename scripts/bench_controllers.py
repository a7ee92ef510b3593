"""Benchmarks for the scheduler and the workload controllers against a real `knet apiserver`.

    .venv/bin/python scripts/bench_controllers.py [--nodes 500 --pods 5000 --replicas 1000
                                                   --completions 1000 --parallelism 50]

Prints: pods scheduled per second (5,000 pods onto 500 fake nodes, the pods created before the
scheduler starts, so only scheduling and binding are timed), the time until every pod of a
Deployment of 1,000 replicas exists, the time until a DaemonSet has a pod bound on each of the
500 nodes, and the time until a Job of 1,000 completions with parallelism 50 is Complete (its
pods are marked Succeeded by a stand-in kubelet as soon as they appear).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knet.client import ApiClient, Informer
from knet.controllers.manager import ManagerOptions, run_controllers
from knet.scheduler.scheduler import Scheduler
from knet.testing.apiserver import running_apiserver


async def bounded(count: int, limit: int, make: Any) -> None:
    sem = asyncio.Semaphore(limit)

    async def one(i: int) -> None:
        async with sem:
            await make(i)

    await asyncio.gather(*(one(i) for i in range(count)))


def node(i: int) -> dict[str, Any]:
    return {
        "kind": "Node",
        "metadata": {"name": f"kt-bench-{i:04d}"},
        "status": {
            "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pod(i: int) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": f"kt-bench-{i:05d}", "labels": {"bench": "sched"}},
        "spec": {
            "containers": [
                {"name": "c", "image": "pause", "resources": {"requests": {"cpu": "100m"}}}
            ]
        },
    }


async def bench_scheduler(client: ApiClient, nodes: int, pods: int) -> None:
    async def make_node(i: int) -> None:
        created = await client.create(node(i))
        await client.patch_status(
            "Node", created["metadata"]["name"], {"status": node(i)["status"]}
        )

    t0 = time.perf_counter()
    await bounded(nodes, 32, make_node)
    await bounded(pods, 32, lambda i: client.create(pod(i)))
    print(f"setup: {nodes} nodes and {pods} pods created in {time.perf_counter() - t0:.1f}s")
    scheduler = Scheduler(client)
    start = time.perf_counter()
    task = asyncio.create_task(scheduler.run())
    while scheduler.scheduled < pods:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - start
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    print(
        f"scheduler: {pods} pods onto {nodes} nodes in {elapsed:.1f}s = {pods / elapsed:.0f} pods/s"
    )


async def bench_deployment(client: ApiClient, replicas: int) -> None:
    options = ManagerOptions(controllers=("replicaset", "deployment"))
    manager = asyncio.create_task(run_controllers(client, options))
    await asyncio.sleep(1.0)  # let its informers sync before the clock starts
    labels = {"bench": "deploy"}
    start = time.perf_counter()
    await client.create(
        {
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": {"name": "kt-bench"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "pause"}]},
                },
            },
        }
    )
    while True:
        items, _ = await client.list("Pod", "default", label_selector=labels)
        if len(items) >= replicas:
            break
        await asyncio.sleep(0.2)
    elapsed = time.perf_counter() - start
    manager.cancel()
    await asyncio.gather(manager, return_exceptions=True)
    print(f"deployment: {replicas} pods exist {elapsed:.1f}s after the Deployment was created "
          f"({replicas / elapsed:.0f} pods/s)")  # fmt: skip


async def bench_daemonset(client: ApiClient, nodes: int) -> None:
    options = ManagerOptions(controllers=("daemonset",))
    manager = asyncio.create_task(run_controllers(client, options))
    scheduler = asyncio.create_task(Scheduler(client).run())
    await asyncio.sleep(1.0)  # let the informers sync before the clock starts
    labels = {"bench": "daemon"}
    start = time.perf_counter()
    await client.create(
        {
            "kind": "DaemonSet",
            "apiVersion": "apps/v1",
            "metadata": {"name": "kt-bench-ds"},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "pause"}]},
                },
            },
        }
    )
    created = 0.0
    while True:
        items, _ = await client.list("Pod", "default", label_selector=labels)
        if not created and len(items) >= nodes:
            created = time.perf_counter() - start
        if sum(1 for p in items if p["spec"].get("nodeName")) >= nodes:
            break
        await asyncio.sleep(0.2)
    elapsed = time.perf_counter() - start
    for task in (manager, scheduler):
        task.cancel()
    await asyncio.gather(manager, scheduler, return_exceptions=True)
    print(f"daemonset: a pod for each of {nodes} nodes exists after {created:.1f}s, "
          f"all bound after {elapsed:.1f}s")  # fmt: skip


async def bench_job(client: ApiClient, completions: int, parallelism: int) -> None:
    options = ManagerOptions(controllers=("job",))
    manager = asyncio.create_task(run_controllers(client, options))
    # A stand-in kubelet: every pod of the Job succeeds as soon as it is seen.
    pods = Informer(
        client, "Pod", "default", label_selector={"batch.kubernetes.io/job-name": "kt-bench-job"}
    )
    done = asyncio.Queue[str]()

    async def succeed(name: str) -> None:
        await client.patch_status(
            "Pod", name, {"status": {"phase": "Succeeded"}}, namespace="default"
        )

    pods.add_handler(lambda p: done.put_nowait(p["metadata"]["name"]))

    running: set[asyncio.Task[None]] = set()

    async def kubelet() -> None:
        while True:
            task = asyncio.create_task(succeed(await done.get()))
            running.add(task)
            task.add_done_callback(running.discard)

    pods.start()
    worker = asyncio.create_task(kubelet())
    await asyncio.sleep(1.0)
    start = time.perf_counter()
    await client.create(
        {
            "kind": "Job",
            "apiVersion": "batch/v1",
            "metadata": {"name": "kt-bench-job"},
            "spec": {
                "completions": completions,
                "parallelism": parallelism,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "pause"}],
                    }
                },
            },
        }
    )
    while True:
        job = await client.get("Job", "kt-bench-job", "default")
        conds = (job.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Complete" and c["status"] == "True" for c in conds):
            break
        await asyncio.sleep(0.2)
    elapsed = time.perf_counter() - start
    for task in (manager, worker):
        task.cancel()
    await asyncio.gather(manager, worker, return_exceptions=True)
    await pods.stop()
    print(f"job: {completions} completions, parallelism {parallelism}, Complete after "
          f"{elapsed:.1f}s ({completions / elapsed:.0f} pods/s)")  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="kt-bench-") as tmp,
        running_apiserver(Path(tmp)) as server,
    ):
        async with ApiClient.from_url(server.url) as client:
            await bench_scheduler(client, args.nodes, args.pods)
            await bench_deployment(client, args.replicas)
            await bench_daemonset(client, args.nodes)
            await bench_job(client, args.completions, args.parallelism)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--completions", type=int, default=1000)
    parser.add_argument("--parallelism", type=int, default=50)
    asyncio.run(main(parser.parse_args()))
