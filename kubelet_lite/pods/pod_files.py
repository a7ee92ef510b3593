"""The pod's files on this node: the kubelet-written /etc files and its emptyDir volumes, in
the pod's directory (so they go when it goes). I/O around etc_files.py and mount_plan.py."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from knet.api.core import Container
from kubelet_lite.config import KubeletConfig
from kubelet_lite.pods import etc_files
from kubelet_lite.pods.container_spec import pod_hostname
from kubelet_lite.pods.mount_plan import container_mounts, volume_sources
from kubelet_lite.runtime.mounts import MountPlan
from kubelet_lite.status.checkpoint import PodDir


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write_new(path: Path, text: str) -> None:
    """Written once: the containers bind-mount this very inode."""
    if path.exists():
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


class PodFiles:
    def __init__(self, pod_dir: PodDir, config: KubeletConfig) -> None:
        self.dir = pod_dir
        self.config = config
        self.written = False

    def ensure(
        self, pod: Mapping[str, Any], namespace: str, pod_ip: str | None, host_network: bool
    ) -> str | None:
        """write() once; None when done, else why it could not be."""
        if not self.written:
            try:
                self.write(pod, namespace, pod_ip, host_network)
            except OSError as exc:
                return f"failed to write the pod's files: {exc}"
            self.written = True
        return None

    @property
    def etc_dir(self) -> Path:
        return self.dir.path / "etc"

    @property
    def volume_root(self) -> Path:
        return self.dir.path / "volumes"

    @property
    def empty_dirs(self) -> Path:
        return self.volume_root / "empty-dir"

    def write(
        self, pod: Mapping[str, Any], namespace: str, pod_ip: str | None, host_network: bool
    ) -> None:
        """The pod's /etc files and emptyDir directories, made once (before its containers)."""
        spec = pod.get("spec") or {}
        name = str((pod.get("metadata") or {}).get("name"))
        cfg = self.config
        hostname = cfg.node_name if host_network else pod_hostname(name, spec.get("hostname"))
        node = etc_files.parse_resolv_conf(_read(cfg.resolv_conf))
        resolver = etc_files.pod_resolver(
            spec.get("dnsPolicy"),
            host_network,
            spec.get("dnsConfig"),
            namespace,
            cfg.cluster_dns,
            cfg.cluster_domain,
            node,
        )
        hosts = etc_files.hosts_file(
            pod_ip,
            hostname,
            spec.get("subdomain"),
            namespace,
            cfg.cluster_domain,
            spec.get("hostAliases") or [],
            _read(Path("/etc/hosts")) if host_network else None,
        )
        self.etc_dir.mkdir(parents=True, exist_ok=True)
        _write_new(self.etc_dir / "resolv.conf", resolver.render())
        _write_new(self.etc_dir / "hosts", hosts)
        _write_new(self.etc_dir / "hostname", hostname + "\n")
        for vol in spec.get("volumes") or []:
            if "emptyDir" in vol and vol.get("name"):
                path = self.empty_dirs / str(vol["name"])
                path.mkdir(parents=True, exist_ok=True)
                os.chmod(path, 0o777)  # as the kubelet makes them: any container user writes

    def mounts(self, pod: Mapping[str, Any], c: Container) -> MountPlan:
        """Raises ContainerConfigError for volumes that cannot be carried out."""
        volumes = (pod.get("spec") or {}).get("volumes") or []
        sources = volume_sources(volumes, self.volume_root)
        return container_mounts(c, sources, self.etc_dir, os.path.realpath)
