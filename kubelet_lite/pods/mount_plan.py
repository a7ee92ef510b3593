"""What a container's mount namespace holds, from the pod spec. Pure.

The node's root read-only with private /tmp and /run (runtime/mounts.py), the kubelet's
/etc/hosts, /etc/hostname and /etc/resolv.conf, and the container's ``volumeMounts`` of the
volume kinds kubelet-lite carries out: ``emptyDir`` (in the pod's directory; a tmpfs for
``medium: Memory``), ``configMap``, ``secret``, ``downwardAPI`` and ``projected`` (filled by
volumes/pod_volumes.py, always read-only) and ``hostPath``. Any other kind is refused with the
field it is in (the container waits in CreateContainerConfigError), never silently left out.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knet.api.core import Container
from kubelet_lite.pods.container_spec import ContainerConfigError
from kubelet_lite.runtime.mounts import Bind, MountPlan

# Where each kind of volume the kubelet makes lives, under the pod's ``volumes`` directory.
VOLUME_DIRS = {
    "emptyDir": "empty-dir",
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
}
# Made by the kubelet from API objects: always mounted read-only (as upstream, since 1.10).
READ_ONLY_KINDS = ("configMap", "secret", "downwardAPI", "projected")
SUPPORTED_VOLUMES = (*VOLUME_DIRS, "hostPath")
EMPTY_DIR_MEDIA = ("", "Memory")
ETC_FILES = ("hosts", "hostname", "resolv.conf")


@dataclass(frozen=True)
class VolumeSource:
    path: str
    read_only: bool = False


def volume_kind(volume: Mapping[str, Any]) -> str | None:
    kinds = [k for k in volume if k != "name"]
    return kinds[0] if kinds else None


def volume_dir(volume_root: Path, kind: str, name: str) -> Path:
    """The node directory the kubelet fills for a volume of one of VOLUME_DIRS' kinds."""
    return volume_root / VOLUME_DIRS[kind] / name


def volume_sources(
    volumes: Sequence[Mapping[str, Any]], volume_root: Path
) -> dict[str, VolumeSource]:
    """Volume name → the node path it is served from. Raises ContainerConfigError naming the
    field of a volume kind not carried out."""
    out: dict[str, VolumeSource] = {}
    for i, vol in enumerate(volumes):
        name, kind = str(vol.get("name") or ""), volume_kind(vol)
        if kind == "emptyDir":
            medium = (vol.get("emptyDir") or {}).get("medium") or ""
            if medium not in EMPTY_DIR_MEDIA:
                raise ContainerConfigError(
                    f"spec.volumes[{i}].emptyDir.medium: {medium!r} is not supported by "
                    "kubelet-lite (the node's disk, or Memory)"
                )
            out[name] = VolumeSource(str(volume_dir(volume_root, kind, name)))
        elif kind in READ_ONLY_KINDS:
            out[name] = VolumeSource(str(volume_dir(volume_root, kind, name)), read_only=True)
        elif kind == "hostPath":
            path = str((vol.get("hostPath") or {}).get("path") or "")
            if not path.startswith("/"):
                raise ContainerConfigError(f"spec.volumes[{i}].hostPath.path must be absolute")
            out[name] = VolumeSource(posixpath.normpath(path))
        else:
            raise ContainerConfigError(
                f"spec.volumes[{i}].{kind}: volume {name!r} of this kind is not supported by "
                f"kubelet-lite yet (supported: {', '.join(SUPPORTED_VOLUMES)})"
            )
    return out


def _sub_path(source: str, sub: str, where: str) -> str:
    norm = posixpath.normpath(sub)
    if sub.startswith("/") or norm == ".." or norm.startswith("../"):
        raise ContainerConfigError(f"{where}.subPath: {sub!r} must be a relative path inside")
    return posixpath.join(source, norm)


def _inside(source: str, volume: str, resolve: Callable[[str], str], why: str) -> str:
    """The subPath's real path, refused if a symlink leads it out of its volume (the
    kubelet's guard: a container could otherwise plant a link to any node file)."""
    real, base = resolve(source), resolve(volume)
    if real != base and not real.startswith(base.rstrip("/") + "/"):
        raise ContainerConfigError(why)
    return real


def volume_binds(
    c: Container,
    sources: Mapping[str, VolumeSource],
    resolve: Callable[[str], str] | None = None,
) -> list[Bind]:
    """``resolve`` (os.path.realpath on the node) checks and pins subPaths; without it they
    are taken as written."""
    binds = []
    mounts = (c.model_extra or {}).get("volumeMounts") or []
    for i, vm in enumerate(mounts):
        where = f"container {c.name!r}: volumeMounts[{i}]"
        name, target = str(vm.get("name") or ""), str(vm.get("mountPath") or "")
        if name not in sources:
            raise ContainerConfigError(f"{where}: no volume named {name!r} in the pod")
        if not target.startswith("/"):
            raise ContainerConfigError(f"{where}.mountPath must be absolute")
        src = sources[name]
        source = src.path
        if vm.get("subPath"):
            # Bound as it resolves now (through ``..data``): later updates do not reach it.
            source = _sub_path(source, str(vm["subPath"]), where)
            if resolve is not None:
                why = f'failed to prepare subPath for volumeMount "{name}" of container "{c.name}"'
                source = _inside(source, src.path, resolve, why)
        read_only = bool(vm.get("readOnly")) or src.read_only
        binds.append(Bind(source, posixpath.normpath(target), read_only))
    return binds


def container_mounts(
    c: Container,
    sources: Mapping[str, VolumeSource],
    etc_dir: Path,
    resolve: Callable[[str], str] | None = None,
) -> MountPlan:
    """The container's mounts: the kubelet's /etc files, then its volumes."""
    etc = [Bind(str(etc_dir / f), f"/etc/{f}") for f in ETC_FILES]
    return MountPlan(binds=(*etc, *volume_binds(c, sources, resolve)))
