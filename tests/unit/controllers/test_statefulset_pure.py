"""The StatefulSet controller's pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from knet.controllers import statefulsetutil as su
from knet.controllers.history import REVISION_HASH_LABEL, new_revision

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
Obj = dict[str, Any]


def sts(replicas: int = 3, **spec: Any) -> Obj:
    return {
        "metadata": {"name": "db", "namespace": "default", "uid": "s-1", "generation": 1},
        "spec": {
            "replicas": replicas,
            "serviceName": "db-svc",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            **spec,
        },
    }


def pod(ordinal: int, revision: str = "r1", healthy: bool = True, deleting: bool = False) -> Obj:
    meta: Obj = {"name": f"db-{ordinal}", "labels": {REVISION_HASH_LABEL: revision}}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T12:00:00Z"
    return {
        "metadata": meta,
        "status": {
            "phase": "Running",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if healthy else "False",
                    "lastTransitionTime": "2026-12-01T11:00:00Z",
                }
            ],
        },
    }


def test_pod_identity() -> None:
    p = su.stateful_pod(sts(), 2, sts()["spec"]["template"], "db-abc")
    assert p["metadata"]["name"] == "db-2"
    assert p["spec"]["hostname"] == "db-2"
    assert p["spec"]["subdomain"] == "db-svc"
    labels = p["metadata"]["labels"]
    assert labels[su.POD_NAME_LABEL] == "db-2"
    assert labels[su.POD_INDEX_LABEL] == "2"
    assert labels[REVISION_HASH_LABEL] == "db-abc"
    assert su.ordinal_of(sts(), p) == 2
    assert su.ordinal_of(sts(), {"metadata": {"name": "db-x"}}) is None


def test_claims_and_their_volumes() -> None:
    claim_template = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
    s = sts(
        volumeClaimTemplates=[claim_template],
        persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Retain"},
    )
    claims = su.claims_for(s, 1)
    assert [c["metadata"]["name"] for c in claims] == ["data-db-1"]
    assert claims[0]["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"
    assert claims[0]["metadata"]["labels"] == {"app": "db"}
    p = su.stateful_pod(s, 1, s["spec"]["template"], "r")
    assert p["spec"]["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}}
    ]
    assert (
        "volumes"
        not in su.stateful_pod(s, 1, s["spec"]["template"], "r", with_claims=False)["spec"]
    )


def test_ordered_ready_creates_one_at_a_time() -> None:
    assert su.next_step(sts(), {}, "r1", "r1").create == [0]
    assert su.next_step(sts(), {0: pod(0, healthy=False)}, "r1", "r1").create == []
    assert su.next_step(sts(), {0: pod(0)}, "r1", "r1").create == [1]


def test_parallel_creates_all() -> None:
    assert su.next_step(sts(podManagementPolicy="Parallel"), {1: pod(1)}, "r1", "r1").create == [
        0,
        2,
    ]


def test_scale_down_highest_first() -> None:
    pods = {i: pod(i) for i in range(3)}
    step = su.next_step(sts(1), pods, "r1", "r1")
    assert [p["metadata"]["name"] for p in step.delete] == ["db-2"]
    pods[2] = pod(2, deleting=True)
    assert su.next_step(sts(1), pods, "r1", "r1").delete == []  # waits for db-2 to go
    step = su.next_step(sts(1, podManagementPolicy="Parallel"), pods, "r1", "r1")
    assert [p["metadata"]["name"] for p in step.delete] == ["db-1"]


def test_update_goes_down_to_the_partition() -> None:
    s = sts(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}})
    pods = {i: pod(i, "r1") for i in range(3)}
    assert [p["metadata"]["name"] for p in su.next_step(s, pods, "r1", "r2").delete] == ["db-2"]
    pods[2] = pod(2, "r2")
    assert [p["metadata"]["name"] for p in su.next_step(s, pods, "r1", "r2").delete] == ["db-1"]
    pods[1] = pod(1, "r2")
    assert su.next_step(s, pods, "r1", "r2").delete == []  # db-0 is below the partition
    assert su.wanted_revision(s, 0, "r1", "r2") == "r1"
    assert su.wanted_revision(s, 2, "r1", "r2") == "r2"
    # An unhealthy pod holds the update.
    pods[2] = pod(2, "r2", healthy=False)
    assert su.next_step(sts(), pods, "r1", "r2").delete == []
    on_delete = sts(updateStrategy={"type": "OnDelete"})
    assert su.next_step(on_delete, {i: pod(i, "r1") for i in range(3)}, "r1", "r2").delete == []


def test_status_promotes_a_finished_update() -> None:
    pods = [pod(i, "r2") for i in range(3)]
    st = su.set_status(sts(), pods, "r1", "r2", NOW)
    assert (st["currentRevision"], st["updateRevision"]) == ("r2", "r2")
    assert (st["replicas"], st["readyReplicas"], st["updatedReplicas"]) == (3, 3, 3)
    st = su.set_status(sts(), [pod(0, "r1"), *pods[1:]], "r1", "r2", NOW)
    assert (st["currentRevision"], st["currentReplicas"], st["updatedReplicas"]) == ("r1", 1, 2)


def test_revision_template_round_trip() -> None:
    s = sts()
    rev = new_revision(s, "apps/v1", "StatefulSet", 1)
    assert su.template_of_revision(rev) == s["spec"]["template"]
