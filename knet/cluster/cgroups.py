"""The pod cgroups a cluster's kubelets made, removed when the cluster goes.

`knet cluster down` stops the kubelets as a node's shutdown would (their pods' processes are
then killed by namespace), so nothing else removes the pods' groups. kubelet-lite names them
``/sys/fs/cgroup[/<controller>]/knet[/<qos tier>]/pod<uid>`` (kubelet_lite/runtime/cgroups.py,
the one writer); the UIDs come from the pods' checkpoints under the kubelets' root
directories.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
GROUP = "knet"  # as kubelet_lite.runtime.cgroups.GROUP
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids")
QOS_TIERS = ("", "burstable", "besteffort")  # as kubelet_lite.runtime.cgroups.QOS_TIERS


def pod_uids(cluster_dir: Path) -> set[str]:
    """The UIDs of every pod some kubelet of the cluster recorded (checkpoint.json files)."""
    uids: set[str] = set()
    for checkpoint in cluster_dir.glob("nodes/*/kubelet/pods/*/checkpoint.json"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            uids.add(str(json.loads(checkpoint.read_text())["uid"]))
    return uids


def _rmdir_tree(path: Path) -> bool:
    """Remove a group and its child groups, deepest first; whether it is gone."""
    if not path.is_dir():
        return True
    for child in (p for p in path.iterdir() if p.is_dir()):
        _rmdir_tree(child)
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False  # still busy
    return True


def remove_pod_cgroups(uids: set[str], root: Path = ROOT) -> list[str]:
    """Remove the pods' groups (their processes must be gone), then knet's own group where no
    other pod is left in it; the groups that stay (still busy)."""
    bases = [root / GROUP, *(root / c / GROUP for c in V1_CONTROLLERS)]
    stayed = []
    for base in bases:
        if not base.is_dir():
            continue
        for uid in sorted(uids):
            for tier in QOS_TIERS:
                group = base / tier / f"pod{uid}" if tier else base / f"pod{uid}"
                if not _rmdir_tree(group):
                    stayed.append(str(group))
        for tier in ("burstable", "besteffort", ""):
            with contextlib.suppress(OSError):  # other clusters' or tests' pods still in it
                os.rmdir(base / tier if tier else base)
    return stayed
