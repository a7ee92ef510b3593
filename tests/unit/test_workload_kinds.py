"""The workload kinds on the API side: defaulting, validation, Table cells, field selectors and
the scale body, for DaemonSet, StatefulSet, ControllerRevision, ReplicationController, Job and
CronJob."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from knet.api import registry
from knet.apiserver import (
    printers_workloads,  # noqa: F401  (registers the printers)
    validation_workloads,  # noqa: F401  (registers the validators)
)
from knet.apiserver.handlers import scale_of
from knet.apiserver.printers import column_definitions, row_cells
from knet.apiserver.selection import object_fields
from knet.apiserver.strategy import prepare_for_create, prepare_for_update
from knet.apiserver.validation import validate_object

Obj = dict[str, Any]
NOW = datetime(2026, 11, 22, 16, 0, 0, tzinfo=UTC)


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def template(labels: dict[str, str], restart: str | None = None) -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "nginx:1.25"}]}
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": {"labels": labels}, "spec": spec}


def daemonset() -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": template({"app": "agent"}),
        },
    }


def statefulset() -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {
            "serviceName": "db",
            "replicas": 3,
            "selector": {"matchLabels": {"app": "db"}},
            "template": template({"app": "db"}),
        },
    }


def rc() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "old", "namespace": "default"},
        "spec": {"replicas": 2, "template": template({"app": "old"})},
    }


def job() -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default"},
        "spec": {"template": template({}, restart="Never")},
    }


def cronjob() -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "tick", "namespace": "default"},
        "spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": template({}, restart="OnFailure")}},
        },
    }


def created(obj: Obj) -> Obj:
    out = copy.deepcopy(obj)
    prepare_for_create(registry.by_kind(out["kind"]), out, "default")
    return out


# ------------------------------------------------------------------------------ defaulting


def test_daemonset_defaults_and_zero_status() -> None:
    ds = created(daemonset())
    assert ds["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert ds["spec"]["revisionHistoryLimit"] == 10
    assert ds["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert ds["status"]["desiredNumberScheduled"] == 0
    assert validate_object("DaemonSet", ds) == []


def test_statefulset_defaults() -> None:
    sts = created(statefulset())
    spec = sts["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    assert validate_object("StatefulSet", sts) == []


def test_rc_selector_and_labels_default_to_the_template_labels() -> None:
    obj = created(rc())
    assert obj["spec"]["selector"] == {"app": "old"}
    assert obj["metadata"]["labels"] == {"app": "old"}
    assert validate_object("ReplicationController", obj) == []


def test_job_gets_a_selector_on_its_own_uid() -> None:
    obj = created(job())
    uid = obj["metadata"]["uid"]
    spec = obj["spec"]
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    labels = spec["template"]["metadata"]["labels"]
    assert labels["batch.kubernetes.io/job-name"] == "pi"
    assert labels["controller-uid"] == uid
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed"
    assert spec["suspend"] is False
    assert validate_object("Job", obj) == []


def test_job_with_parallelism_only_has_no_completions() -> None:
    obj = job()
    obj["spec"]["parallelism"] = 3
    obj = created(obj)
    assert "completions" not in obj["spec"]
    assert obj["spec"]["parallelism"] == 3


def test_cronjob_defaults() -> None:
    obj = created(cronjob())
    spec = obj["spec"]
    assert spec["concurrencyPolicy"] == "Allow"
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    assert spec["suspend"] is False
    assert validate_object("CronJob", obj) == []


# ------------------------------------------------------------------------------ validation


def fields(kind: str, obj: Obj, old: Obj | None = None) -> dict[str, str]:
    return {c.field: c.message for c in validate_object(kind, obj, old=old)}


def test_daemonset_template_must_restart_always_and_selector_match() -> None:
    obj = created(daemonset())
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    obj["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    got = fields("DaemonSet", obj)
    assert "spec.template.spec.restartPolicy" in got
    assert "does not match template" in got["spec.template.metadata.labels"]


def test_daemonset_empty_selector_names_the_kind() -> None:
    obj = created(daemonset())
    obj["spec"]["selector"] = {}
    assert "invalid for daemonset" in fields("DaemonSet", obj)["spec.selector"]


def test_daemonset_rolling_update_may_not_be_all_zero() -> None:
    obj = created(daemonset())
    obj["spec"]["updateStrategy"]["rollingUpdate"] = {"maxUnavailable": 0, "maxSurge": 0}
    assert "spec.updateStrategy.rollingUpdate.maxUnavailable" in fields("DaemonSet", obj)
    obj["spec"]["updateStrategy"] = {"type": "Sometimes"}
    assert "Unsupported value" in fields("DaemonSet", obj)["spec.updateStrategy.type"]


def test_statefulset_only_some_spec_fields_may_change() -> None:
    old = created(statefulset())
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 5
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    assert fields("StatefulSet", new, old) == {}
    new["spec"]["serviceName"] = "other"
    assert "are forbidden" in fields("StatefulSet", new, old)["spec"]


def test_rc_needs_a_selector_matching_its_template() -> None:
    obj = created(rc())
    obj["spec"]["selector"] = {"app": "else"}
    assert "does not match" in fields("ReplicationController", obj)["spec.template.metadata.labels"]


def test_job_restart_policy_and_counts() -> None:
    obj = created(job())
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    obj["spec"]["parallelism"] = -1
    obj["spec"]["activeDeadlineSeconds"] = 0
    got = fields("Job", obj)
    assert got["spec.template.spec.restartPolicy"] == (
        'Unsupported value: "Always": supported values: "OnFailure", "Never"'
    )
    assert "spec.parallelism" in got
    assert "spec.activeDeadlineSeconds" in got


def test_pod_failure_policy_needs_restart_policy_never() -> None:
    obj = job()
    obj["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    obj["spec"]["podFailurePolicy"] = {
        "rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1]}}]
    }
    got = fields("Job", created(obj))
    assert 'only "Never" is supported' in got["spec.template.spec.restartPolicy"]


def test_indexed_job_needs_completions() -> None:
    obj = job()
    obj["spec"].update(completionMode="Indexed", parallelism=2)
    obj = created(obj)
    assert "spec.completions" in fields("Job", obj)


def test_job_selector_and_template_are_immutable_unless_suspended() -> None:
    old = created(job())
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox"
    assert "field is immutable" in fields("Job", new, old)["spec.template"]
    old["spec"]["suspend"] = True
    assert "spec.template" not in fields("Job", new, old)
    new["spec"]["selector"] = {"matchLabels": {"a": "b"}}
    assert "spec.selector" in fields("Job", new, old)


def test_cronjob_schedule_time_zone_and_name() -> None:
    obj = created(cronjob())
    obj["spec"]["schedule"] = "every minute"
    obj["spec"]["timeZone"] = "Mars/Olympus"
    obj["metadata"]["name"] = "x" * 53
    got = fields("CronJob", obj)
    assert got["spec.schedule"] == (
        'Invalid value: "every minute": expected exactly 5 fields, found 2: every minute'
    )
    assert "unknown time zone" in got["spec.timeZone"]
    assert "52 characters" in got["metadata.name"]
    obj = created(cronjob())
    obj["spec"]["schedule"] = "TZ=UTC 0 * * * *"
    assert "use timeZone field" in fields("CronJob", obj)["spec.schedule"]
    obj["spec"]["timeZone"] = ""
    assert "non-empty" in fields("CronJob", obj)["spec.timeZone"]
    obj["spec"]["timeZone"] = "Local"
    assert "explicit time zone" in fields("CronJob", obj)["spec.timeZone"]
    obj["spec"]["schedule"] = "@hourly"
    obj["spec"]["timeZone"] = "Europe/Berlin"
    assert fields("CronJob", obj) == {}


def test_controllerrevision_data_is_immutable() -> None:
    old: Obj = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": "agent-1", "namespace": "default"},
        "data": {"spec": {"template": {}}},
        "revision": 1,
    }
    new = copy.deepcopy(old)
    new["data"] = {"spec": {}}
    assert "data" in fields("ControllerRevision", new, old)
    new["revision"] = -1
    assert "revision" in fields("ControllerRevision", new)


def test_status_update_keeps_spec() -> None:
    old = created(job())
    new = copy.deepcopy(old)
    new["spec"]["parallelism"] = 9
    new["status"] = {"active": 1}
    prepare_for_update(registry.by_kind("Job"), new, old, "status")
    assert new["spec"]["parallelism"] == 1
    assert new["status"] == {"active": 1}


# ------------------------------------------------------------------------------ printing


@pytest.mark.parametrize(
    "resource",
    [
        "daemonsets",
        "statefulsets",
        "controllerrevisions",
        "replicationcontrollers",
        "jobs",
        "cronjobs",
    ],
)
def test_every_row_has_a_cell_per_column(resource: str) -> None:
    cells = row_cells(resource, {"metadata": {"name": "x"}}, NOW)
    assert len(cells) == len(column_definitions(resource))
    assert cells[0] == "x"


def test_daemonset_row() -> None:
    obj = created(daemonset())
    obj["metadata"]["creationTimestamp"] = ago(90)
    obj["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/os": "linux"}
    obj["status"].update(
        desiredNumberScheduled=3,
        currentNumberScheduled=3,
        numberReady=2,
        updatedNumberScheduled=1,
        numberAvailable=2,
    )
    assert row_cells("daemonsets", obj, NOW) == [
        "agent",
        3,
        3,
        2,
        1,
        2,
        "kubernetes.io/os=linux",
        "90s",
        "c",
        "nginx:1.25",
        "app=agent",
    ]


def test_job_rows() -> None:
    obj = created(job())
    obj["metadata"]["creationTimestamp"] = ago(600)
    obj["spec"]["completions"] = 5
    obj["status"] = {"succeeded": 2, "startTime": ago(300)}
    cells = row_cells("jobs", obj, NOW)
    assert cells[:5] == ["pi", "Running", "2/5", "5m", "10m"]
    obj["status"].update(
        succeeded=5,
        completionTime=ago(280),
        conditions=[{"type": "Complete", "status": "True"}],
    )
    assert row_cells("jobs", obj, NOW)[1:4] == ["Complete", "5/5", "20s"]
    obj["spec"] = {"parallelism": 3}
    obj["status"] = {"conditions": [{"type": "Suspended", "status": "True"}]}
    assert row_cells("jobs", obj, NOW)[1:4] == ["Suspended", "0/1 of 3", ""]


def test_cronjob_row() -> None:
    obj = created(cronjob())
    obj["metadata"]["creationTimestamp"] = ago(3600)
    obj["status"] = {"active": [{"name": "tick-1"}], "lastScheduleTime": ago(120)}
    assert row_cells("cronjobs", obj, NOW)[:7] == [
        "tick",
        "*/5 * * * *",
        "<none>",
        "False",
        1,
        "2m",
        "60m",
    ]


def test_statefulset_and_rc_and_revision_rows() -> None:
    sts = created(statefulset())
    sts["status"]["readyReplicas"] = 2
    assert row_cells("statefulsets", sts, NOW)[:2] == ["db", "2/3"]
    obj = created(rc())
    obj["status"] = {"replicas": 2, "readyReplicas": 1}
    assert row_cells("replicationcontrollers", obj, NOW)[:4] == ["old", 2, 2, 1]
    assert row_cells("replicationcontrollers", obj, NOW)[-1] == "app=old"
    revision = {
        "metadata": {
            "name": "agent-5d8",
            "creationTimestamp": ago(30),
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "controller": True}
            ],
        },
        "revision": 2,
    }
    assert row_cells("controllerrevisions", revision, NOW) == [
        "agent-5d8",
        "daemonset.apps/agent",
        2,
        "30s",
    ]


# ------------------------------------------------------------------------------ selectors, scale


def test_job_status_successful_field_selector() -> None:
    info = registry.by_kind("Job")
    assert object_fields(info, {"status": {"succeeded": 3}})["status.successful"] == "3"
    assert object_fields(info, {"status": {}})["status.successful"] == "0"


def test_rc_scale_selector_is_its_label_map() -> None:
    obj = created(rc())
    obj["metadata"]["resourceVersion"] = "7"
    scale = scale_of(obj)
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"]["selector"] == "app=old"


def test_registry_short_names_and_subresources() -> None:
    assert registry.by_kind("DaemonSet").short_names == ("ds",)
    assert registry.by_kind("StatefulSet").subresource("scale") is not None
    assert registry.by_kind("ReplicationController").subresource("scale") is not None
    assert registry.by_kind("CronJob").short_names == ("cj",)
    assert registry.by_kind("Job").subresource("scale") is None


# ------------------------------------------------------------------------------ protobuf


def test_workload_kinds_round_trip_through_protobuf() -> None:
    from knet.apiserver.protobuf import decode_k8s_protobuf, encode_k8s_protobuf

    ds = created(daemonset())
    sts = created(statefulset())
    sts["spec"]["volumeClaimTemplates"] = [
        {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    ]
    sts["status"] = {"replicas": 2, "readyReplicas": 1, "currentRevision": "db-abc"}
    revision = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": "agent-abc", "namespace": "default"},
        "data": {"spec": {"template": {"$patch": "replace", "spec": {"containers": []}}}},
        "revision": 3,
    }
    policy = {
        "rules": [
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [3, 42]}},
            {
                "action": "Ignore",
                "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
            },
        ]
    }
    j = job()
    j["spec"].update(podFailurePolicy=policy, activeDeadlineSeconds=60, ttlSecondsAfterFinished=5)
    j = created(j)
    j["status"] = {"active": 1, "succeeded": 2, "completedIndexes": "0-1"}
    cj = created(cronjob())
    cj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"] = {"app": "tick"}
    for obj in (ds, sts, created(rc()), revision, j, cj):
        obj["metadata"].pop("creationTimestamp", None)
        assert decode_k8s_protobuf(encode_k8s_protobuf(obj)) == obj, obj["kind"]
