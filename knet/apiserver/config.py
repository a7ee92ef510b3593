"""The API server's settings (flags share upstream's names where upstream has them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from knet.apiserver.auth_config import AuthConfig
from knet.storage.options import StoreOptions


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
    # Serve watches and resourceVersion=0 lists from memory (kube-apiserver's --watch-cache).
    watch_cache: bool = True
    # SQLite in data_dir (the default) or etcd (--etcd-servers).
    store: StoreOptions = field(default_factory=StoreOptions)
    # The network namespace (name under /run/netns, or a path) from which kubelets are dialed;
    # None: this process's own.
    kubelet_netns: str | None = None
    # The address published in the ``kubernetes`` Service's endpoints (None: no such Service),
    # and the namespace in which to open an extra listener on it (None: no extra listener).
    advertise_address: str | None = None
    advertise_netns: str | None = None
    advertise_port: int | None = None  # None: the same as ``port``

    @property
    def public_port(self) -> int:
        """The port in the ``kubernetes`` Service's endpoints: several API servers on one
        machine listen on distinct loopback ports but advertise one port on distinct
        addresses, as API servers on separate machines do."""
        return self.advertise_port if self.advertise_port is not None else self.port

    # TLS, authentication and authorization (off unless their flags are given).
    auth: AuthConfig = field(default_factory=AuthConfig)
