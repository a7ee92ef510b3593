"""What every pod's sync shares: the node's configuration and its services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from knet.client import ApiClient
from knet.client.recorder import EventRecorder
from knet.netlink import netns as netns_mod
from kubelet_lite.config import KubeletConfig
from kubelet_lite.network.pod_network import PodNetwork
from kubelet_lite.network.worker_pool import SandboxWorkers
from kubelet_lite.runtime import cgroups
from kubelet_lite.runtime.process import ProcessRuntime
from kubelet_lite.status.checkpoint import StateStore
from kubelet_lite.status.writer import StatusManager


@dataclass
class Deps:
    """What every pod's sync shares: the node's configuration and its services."""

    config: KubeletConfig
    client: ApiClient
    network: PodNetwork  # for checks; sandboxes are made and removed by ``sandbox_workers``
    sandbox_workers: SandboxWorkers
    runtime: ProcessRuntime
    events: EventRecorder
    statuses: StatusManager
    store: StateStore
    run_blocking: Callable[..., Any]  # run a blocking network call off the event loop
    wake: Callable[[str], None]  # ask for the pod's next sync
    wake_later: Callable[[str, float], None]
    # The node's cgroup driver, detected at start-up (None: no controllers to use).
    cgroups: cgroups.Cgroups | None = field(default_factory=cgroups.detect)
    # Every Service, as the kubelet's informer holds them (for the containers' Service env).
    services: Callable[[], list[dict[str, Any]]] = field(default=lambda: [])

    @property
    def node_netns_path(self) -> str | None:
        nn = self.config.node_netns
        return netns_mod.path(nn) if nn else None
