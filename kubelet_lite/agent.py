"""kubelet-lite, wired together: registration, the pod informer, the workers, heartbeats.

Start-up order matters for restart safety: the Node is registered (and the podCIDR known)
before the network is configured; the pod informer has listed every pod of this node before
anything is cleaned up, so only pods that really are gone lose their sandbox; and workers only
start once that clean-up is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from knet.client import ApiClient, Informer
from knet.client.recorder import EventRecorder, EventSource
from kubelet_lite import gc
from kubelet_lite.config import KubeletConfig
from kubelet_lite.network.conf import NetConf
from kubelet_lite.network.pod_network import PodNetwork
from kubelet_lite.network.worker_pool import SandboxWorkers
from kubelet_lite.node import NodeAgent, Readiness
from kubelet_lite.pods.pod_workers import PodWorkers, pod_uid
from kubelet_lite.pods.sync import Deps, PodSync
from kubelet_lite.runtime.process import ProcessRuntime
from kubelet_lite.server import serve
from kubelet_lite.server.app import KubeletServer
from kubelet_lite.status.checkpoint import StateStore
from kubelet_lite.status.writer import StatusManager

log = logging.getLogger(__name__)

NETWORK_THREADS = 2  # checks and clean-up; sandboxes are made in worker processes
SANDBOX_WORKERS = 2
EVENT_MAX_DEFER = 2.0  # seconds
RUNTIME_CHECK_PERIOD = 2.0  # seconds


class AlreadyRunning(Exception):
    """Another kubelet-lite uses the same --root-dir."""


class Kubelet:
    def __init__(self, config: KubeletConfig) -> None:
        self.config = config
        self.client = ApiClient.from_kubeconfig(config.kubeconfig)
        self.runtime = ProcessRuntime(config.runtime_dir)
        self.node = NodeAgent(self.client, config, self.readiness)
        self.statuses = StatusManager(self.client)
        self.events = EventRecorder(
            self.client, EventSource("kubelet", host=config.node_name), wait_turn=self._events_turn
        )
        self.store = StateStore(config.pods_dir)
        self.network: PodNetwork | None = None
        self.sandbox_workers: SandboxWorkers | None = None
        self.workers: PodWorkers | None = None
        self.informer: Informer | None = None
        self.services = Informer(self.client, "Service")
        self._pool = ThreadPoolExecutor(NETWORK_THREADS, thread_name_prefix="kubelet-net")
        self._lock_fd: int | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.api: KubeletServer | None = None
        self.ready = asyncio.Event()  # set once pods are being handled

    async def _events_turn(self) -> None:
        """Events wait while pods are being worked on and statuses written (those matter more
        to the cluster), but never for long."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(EVENT_MAX_DEFER):
                if self.workers is not None:
                    await self.workers.idle.wait()
                await self.statuses.wait_idle()

    def readiness(self) -> Readiness:
        if self.network is None:
            return Readiness(False, "network not ready: pod CIDR not known yet")
        if not self.runtime.healthy:
            return Readiness(False, "container runtime is down")
        return Readiness(True)

    def _lock_root(self) -> None:
        self.config.root_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.config.root_dir / "kubelet.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(
                f"another kubelet-lite is using --root-dir {self.config.root_dir}"
            ) from None
        self._lock_fd = fd

    async def run_blocking(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args))

    async def start(self) -> None:
        cfg = self.config
        self._lock_root()
        cidr = await self.node.register()
        log.info("node %s registered; pod CIDR %s", cfg.node_name, cidr)
        conf = NetConf(
            ipam_dir=cfg.ipam_dir,
            subnet=str(cidr),
            bridge=cfg.bridge,
            node_netns=cfg.node_netns,
            netns_prefix=cfg.pod_netns_prefix,
        )
        self.network = PodNetwork(conf)
        await self.run_blocking(self.network.ensure_node)
        self.sandbox_workers = SandboxWorkers(conf, cfg.pods_dir, SANDBOX_WORKERS)
        await self.sandbox_workers.warm()
        await self.runtime.start()
        self.events.start()
        # As the kubelet, containers start only once the Services are known (their env).
        self.services.start()
        await self.services.wait_for_sync()
        deps = Deps(
            config=cfg,
            client=self.client,
            network=self.network,
            sandbox_workers=self.sandbox_workers,
            runtime=self.runtime,
            events=self.events,
            statuses=self.statuses,
            store=self.store,
            run_blocking=self.run_blocking,
            wake=lambda uid: self._workers().wake(uid),
            wake_later=lambda uid, d: self._workers().wake_later(uid, d),
            services=self.services.cache.list,
        )
        self.workers = PodWorkers(lambda pod: PodSync(deps, pod))
        workers = self.workers
        self.informer = Informer(
            self.client, "Pod", field_selector=f"spec.nodeName={cfg.node_name}"
        )
        self.informer.add_handler(
            on_add=workers.update,
            on_update=lambda old, new: workers.update(new),
            on_delete=workers.deleted,
        )
        self.informer.start()
        await self.informer.wait_for_sync()
        live = [pod_uid(p) for p in self.informer.cache.list()]
        for pod in self.informer.cache.list():  # what the API holds already needs no rewrite
            meta = pod.get("metadata") or {}
            self.statuses.seed(
                pod_uid(pod),
                meta.get("namespace", ""),
                meta.get("name", ""),
                pod.get("status") or {},
            )
        report = await self.run_blocking(gc.collect_orphans, self.store, self.network, live)
        if report.pods or report.ips:
            log.info("start-up clean-up: pods %s, IPs %s", report.pods, report.ips)
        workers.start()
        informer = self.informer
        self.api = await serve(cfg, informer.cache.list, self.store.pod)
        self._tasks.append(asyncio.create_task(self.node.run(), name="heartbeats"))
        self._tasks.append(asyncio.create_task(self._resync_loop(), name="resync"))
        self._tasks.append(asyncio.create_task(self._runtime_watch(), name="runtime-watch"))
        self.ready.set()
        log.info("kubelet-lite %s is handling %d pods", cfg.node_name, len(workers))

    def _workers(self) -> PodWorkers:
        assert self.workers is not None
        return self.workers

    async def _runtime_watch(self) -> None:
        """Bring the zygote back if it dies (the node is NotReady meanwhile)."""
        while True:
            await asyncio.sleep(RUNTIME_CHECK_PERIOD)
            if not self.runtime.healthy:
                log.warning("container runtime is down; restarting it")
                try:
                    await self.runtime.start()
                except Exception as exc:
                    log.error("restarting the container runtime failed: %s", exc)

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.sync_frequency)
            self._workers().wake_all()

    async def stop(self) -> None:
        """Stop handling pods. Containers keep running; a restart adopts them."""
        if self.api is not None:
            await self.api.stop()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self.informer is not None:
            await self.informer.stop()
        await self.services.stop()
        if self.workers is not None:
            await self.workers.stop()
        await self.events.close()
        await self.runtime.close()
        await self.client.close()
        if self.sandbox_workers is not None:
            self.sandbox_workers.close()
        if self.network is not None:
            network = self.network
            await self.run_blocking(network.close)
        self._pool.shutdown(wait=False)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self.start()
            await stop.wait()
        finally:
            await self.stop()
