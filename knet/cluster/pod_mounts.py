"""The memory-backed volumes (tmpfs) a cluster's kubelets mounted in their pods' directories,
unmounted when the cluster goes (`knet cluster down` stops the kubelets, whose pods' volumes
then stay mounted; kubelet_lite/volumes/tmpfs.py makes them)."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

from knet.netlink.nsthread import libc

MNT_DETACH = 2
VOLUMES = "nodes/*/kubelet/pods/*/volumes/*/*"


def unmount_pod_volumes(cluster_dir: Path) -> list[str]:
    """Detach every volume mount of the cluster's pods; the ones that stay (with why)."""
    stayed = []
    for path in cluster_dir.glob(VOLUMES):
        if not os.path.ismount(path):
            continue
        if libc().umount2(str(path).encode(), MNT_DETACH) != 0:
            err = ctypes.get_errno()
            if err not in (errno.EINVAL, errno.ENOENT):
                stayed.append(f"{path}: {os.strerror(err)}")
    return stayed
