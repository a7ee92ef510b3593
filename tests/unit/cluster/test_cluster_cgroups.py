"""`knet cluster down` removes the cgroups its kubelets made for their pods, and only those."""

from __future__ import annotations

import json
from pathlib import Path

from knet.cluster import cgroups


def checkpoint(cluster: Path, node: str, uid: str) -> None:
    d = cluster / "nodes" / node / "kubelet" / "pods" / uid
    d.mkdir(parents=True)
    (d / "checkpoint.json").write_text(json.dumps({"uid": uid, "name": "p"}))


def test_the_clusters_pod_groups_go_and_others_stay(tmp_path: Path) -> None:
    cluster, root = tmp_path / "cluster", tmp_path / "cgroup"
    checkpoint(cluster, "n1", "u1")
    checkpoint(cluster, "n2", "u2")
    (cluster / "nodes" / "n2" / "kubelet" / "pods" / "junk").mkdir()  # no checkpoint: ignored
    assert cgroups.pod_uids(cluster) == {"u1", "u2"}
    for ctrl in ("cpu", "memory"):
        for uid in ("u1", "other"):
            (root / ctrl / "knet" / f"pod{uid}" / "main").mkdir(parents=True)
        (root / ctrl / "knet" / "burstable" / "podu2" / "main").mkdir(parents=True)
    assert cgroups.remove_pod_cgroups({"u1", "u2"}, root) == []
    for ctrl in ("cpu", "memory"):
        # The QoS tier goes with its last pod.
        assert sorted(p.name for p in (root / ctrl / "knet").iterdir()) == ["podother"]
    assert cgroups.remove_pod_cgroups({"other"}, root) == []
    assert not (root / "cpu" / "knet").exists()  # knet's own group goes once empty
