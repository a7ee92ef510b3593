"""The API server's settings (flags share upstream's names where upstream has them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ApiServerConfig:
    data_dir: Path
    bind_address: str = "127.0.0.1"
    port: int = 6443
    unix_socket: Path | None = None
    service_cluster_ip_range: str = "10.96.0.0/12"
    service_node_port_range: str = "30000-32767"
    # Revisions of history kept for watches to resume from (etcd keeps ~5 minutes).
    history_window: int = 50_000
    # How often a watch that asked for bookmarks gets one (upstream: about a minute).
    bookmark_interval: float = 60.0
    # Watches without timeoutSeconds end after a random time in [min, 2*min), as upstream.
    min_request_timeout: float = 1800.0
    # The network namespace (name under /run/netns, or a path) from which kubelets are dialed;
    # None: this process's own.
    kubelet_netns: str | None = None
