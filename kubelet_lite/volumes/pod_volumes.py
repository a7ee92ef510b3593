"""Setting up a pod's volumes on the node, and keeping the API ones up to date (I/O).

Each sync: emptyDirs get their tmpfs (``medium: Memory``) and fsGroup once; hostPaths are
checked once (their ``type``); configMap, secret, downwardAPI and projected volumes are
(re)written through the atomic writer from the sources read this sync — a changed ConfigMap or
Secret reaches the files at the next sync. These volumes live on a tmpfs each (TMPFS_KINDS).
A volume that cannot be set up is reported by name with the kubelet's message; once set up, a
later failure leaves its files as they were.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from knet.scheduler.resources import parse_quantity
from kubelet_lite.pods.mount_plan import VOLUME_DIRS, volume_dir, volume_kind
from kubelet_lite.volumes import atomic_writer, host_path, projection, tmpfs
from kubelet_lite.volumes.sources import NodeCapacity, Sources

log = logging.getLogger(__name__)

# On a tmpfs: Secrets as the kubelet keeps them (off the disk), and the other API volumes too
# (the kubelet writes those on disk): a 20-file volume costs ~1 ms there against tens of ms of
# file and link creation on a busy disk (scripts/bench_volumes.py), at a pod's start.
TMPFS_KINDS = projection.API_VOLUMES


def not_honoured(spec: Mapping[str, Any]) -> list[str]:
    """Volume fields kubelet-lite does not carry out, by path (for a NotHonoured event)."""
    out = []
    for i, vol in enumerate(spec.get("volumes") or []):
        src = vol.get("emptyDir")
        if isinstance(src, dict) and src.get("sizeLimit") and src.get("medium") != "Memory":
            # The kubelet evicts a pod over it; kubelet-lite does not evict.
            out.append(f"spec.volumes[{i}].emptyDir.sizeLimit (on the node's disk)")
    return out


def refreshed(spec: Mapping[str, Any]) -> bool:
    """Whether the pod has volumes made from the API (re-read while the pod runs)."""
    return any(volume_kind(v) in projection.API_VOLUMES for v in spec.get("volumes") or [])


def _resources(spec: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if c.get("name") == name:
                res = c.get("resources")
                return res if isinstance(res, dict) else None
    raise projection.ProjectionError(f"no container named {name!r} in the pod")


def _size(raw: Any) -> int | None:
    if raw in (None, ""):
        return None
    return int(parse_quantity(raw))


class PodVolumes:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ready: set[str] = set()  # set up at least once
        self.warned = False  # the NotHonoured events were given
        # What each API volume was last written with: an unchanged one is not read back.
        self.written: dict[str, tuple[dict[str, atomic_writer.File], int | None]] = {}

    def setup(
        self,
        spec: Mapping[str, Any],
        sources: Sources,
        fields: projection.Fields,
        node: NodeCapacity,
    ) -> list[tuple[str, str]]:
        """Set up or refresh every volume; (volume, why) for those that failed."""
        gid = (spec.get("securityContext") or {}).get("fsGroup")
        gid = int(gid) if isinstance(gid, int) else None
        errors = []
        for i, vol in enumerate(spec.get("volumes") or []):
            name, kind = str(vol.get("name") or ""), volume_kind(vol) or ""
            try:
                self._one(i, name, kind, vol, spec, sources, fields, node, gid)
            except (
                projection.ProjectionError,
                atomic_writer.PayloadError,
                host_path.HostPathError,
                OSError,
                ValueError,
            ) as exc:
                errors.append((name, str(exc)))
            else:
                self.ready.add(name)
        return errors

    def _one(
        self,
        i: int,
        name: str,
        kind: str,
        vol: Mapping[str, Any],
        spec: Mapping[str, Any],
        sources: Sources,
        fields: projection.Fields,
        node: NodeCapacity,
        gid: int | None,
    ) -> None:
        if kind in projection.API_VOLUMES:
            path = volume_dir(self.root, kind, name)
            files = projection.payload(
                vol, f"spec.volumes[{i}]", sources, fields, lambda c: _resources(spec, c), node
            )
            if self.written.get(name) == (files, gid):
                return
            if kind in TMPFS_KINDS:
                tmpfs.mount_tmpfs(path, None, 0o755)
            if atomic_writer.write(path, files, gid):
                log.debug("volume %s written (%d files)", path, len(files))
            self.written[name] = (files, gid)
            return
        if name in self.ready:
            return
        if kind == "emptyDir":
            src = vol.get("emptyDir") or {}
            path = volume_dir(self.root, kind, name)
            if src.get("medium") == "Memory":
                tmpfs.mount_tmpfs(path, _size(src.get("sizeLimit")))
            path.mkdir(parents=True, exist_ok=True)
            if gid is not None:
                atomic_writer.set_group(path, gid, read_only=False)
        elif kind == "hostPath":
            src = vol.get("hostPath") or {}
            host_path.check(str(src.get("path") or ""), str(src.get("type") or ""))
        elif kind not in VOLUME_DIRS:
            return  # refused with its field when the container's mounts are planned
