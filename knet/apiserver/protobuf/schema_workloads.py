"""Protobuf field numbers of the workload kinds: batch/v1 Job and CronJob (the ones kubectl's
typed commands send: `kubectl create job|cronjob`), apps/v1 DaemonSet, StatefulSet and
ControllerRevision, core/v1 ReplicationController; upstream's generated.proto of Kubernetes 1.32
(api/batch/v1, api/apps/v1, api/core/v1). The package's `__init__` adds these to
`schema.MESSAGES` (without replacing a message another table already has) and `schema.KINDS`."""

from __future__ import annotations

from knet.apiserver.protobuf.schema import (
    BOOL,
    FIELDS_V1,
    INT32,
    INT64,
    INT_OR_STRING,
    QUANTITY,
    STRING,
    TIME,
    Message,
    kv,
    opt,
    ptr,
    rep,
    req,
)

MESSAGES: dict[str, Message] = {
    "batch.Job": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "batch.JobSpec"),
        3: opt("status", "batch.JobStatus"),
    },
    "batch.JobSpec": {
        1: ptr("parallelism", INT32),
        2: ptr("completions", INT32),
        3: ptr("activeDeadlineSeconds", INT64),
        4: ptr("selector", "meta.LabelSelector"),
        5: ptr("manualSelector", BOOL),
        6: req("template", "core.PodTemplateSpec"),
        7: ptr("backoffLimit", INT32),
        8: ptr("ttlSecondsAfterFinished", INT32),
        9: ptr("completionMode", STRING),
        10: ptr("suspend", BOOL),
        11: ptr("podFailurePolicy", "batch.PodFailurePolicy"),
        12: ptr("backoffLimitPerIndex", INT32),
        13: ptr("maxFailedIndexes", INT32),
        14: ptr("podReplacementPolicy", STRING),
        15: ptr("managedBy", STRING),
        16: ptr("successPolicy", "batch.SuccessPolicy"),
    },
    "batch.PodFailurePolicy": {1: rep("rules", "batch.PodFailurePolicyRule")},
    "batch.PodFailurePolicyRule": {
        1: req("action", STRING),
        2: ptr("onExitCodes", "batch.PodFailurePolicyOnExitCodesRequirement"),
        3: rep("onPodConditions", "batch.PodFailurePolicyOnPodConditionsPattern"),
    },
    "batch.PodFailurePolicyOnExitCodesRequirement": {
        1: ptr("containerName", STRING),
        2: req("operator", STRING),
        3: rep("values", INT32),
    },
    "batch.PodFailurePolicyOnPodConditionsPattern": {
        1: req("type", STRING),
        2: req("status", STRING),
    },
    "batch.SuccessPolicy": {1: rep("rules", "batch.SuccessPolicyRule")},
    "batch.SuccessPolicyRule": {
        1: ptr("succeededIndexes", STRING),
        2: ptr("succeededCount", INT32),
    },
    "batch.JobStatus": {
        1: rep("conditions", "batch.JobCondition"),
        2: opt("startTime", TIME),
        3: opt("completionTime", TIME),
        4: opt("active", INT32),
        5: opt("succeeded", INT32),
        6: opt("failed", INT32),
        7: opt("completedIndexes", STRING),
        10: ptr("failedIndexes", STRING),
        9: ptr("ready", INT32),
        11: ptr("terminating", INT32),
    },
    "batch.JobCondition": {
        1: req("type", STRING),
        2: req("status", STRING),
        3: opt("lastProbeTime", TIME),
        4: opt("lastTransitionTime", TIME),
        5: opt("reason", STRING),
        6: opt("message", STRING),
    },
    "batch.CronJob": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "batch.CronJobSpec"),
        3: opt("status", "batch.CronJobStatus"),
    },
    "batch.CronJobSpec": {
        1: req("schedule", STRING),
        8: ptr("timeZone", STRING),
        2: ptr("startingDeadlineSeconds", INT64),
        3: opt("concurrencyPolicy", STRING),
        4: ptr("suspend", BOOL),
        5: req("jobTemplate", "batch.JobTemplateSpec"),
        6: ptr("successfulJobsHistoryLimit", INT32),
        7: ptr("failedJobsHistoryLimit", INT32),
    },
    "batch.JobTemplateSpec": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "batch.JobSpec"),
    },
    "batch.CronJobStatus": {
        1: rep("active", "core.ObjectReference"),
        4: opt("lastScheduleTime", TIME),
        5: opt("lastSuccessfulTime", TIME),
    },
}

_CONDITION: Message = {
    1: req("type", STRING),
    2: req("status", STRING),
    3: opt("lastTransitionTime", TIME),
    4: opt("reason", STRING),
    5: opt("message", STRING),
}

APPS: dict[str, Message] = {
    "apps.DaemonSet": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "apps.DaemonSetSpec"),
        3: opt("status", "apps.DaemonSetStatus"),
    },
    "apps.DaemonSetSpec": {
        1: ptr("selector", "meta.LabelSelector"),
        2: req("template", "core.PodTemplateSpec"),
        3: opt("updateStrategy", "apps.DaemonSetUpdateStrategy"),
        4: opt("minReadySeconds", INT32),
        6: ptr("revisionHistoryLimit", INT32),
    },
    "apps.DaemonSetUpdateStrategy": {
        1: opt("type", STRING),
        2: ptr("rollingUpdate", "apps.RollingUpdateDaemonSet"),
    },
    "apps.RollingUpdateDaemonSet": {
        1: ptr("maxUnavailable", INT_OR_STRING),
        2: ptr("maxSurge", INT_OR_STRING),
    },
    "apps.DaemonSetStatus": {
        1: req("currentNumberScheduled", INT32),
        2: req("numberMisscheduled", INT32),
        3: req("desiredNumberScheduled", INT32),
        4: req("numberReady", INT32),
        5: opt("observedGeneration", INT64),
        6: opt("updatedNumberScheduled", INT32),
        7: opt("numberAvailable", INT32),
        8: opt("numberUnavailable", INT32),
        9: ptr("collisionCount", INT32),
        10: rep("conditions", "apps.DaemonSetCondition"),
    },
    "apps.DaemonSetCondition": _CONDITION,
    "apps.StatefulSet": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "apps.StatefulSetSpec"),
        3: opt("status", "apps.StatefulSetStatus"),
    },
    "apps.StatefulSetSpec": {
        1: ptr("replicas", INT32),
        2: ptr("selector", "meta.LabelSelector"),
        3: req("template", "core.PodTemplateSpec"),
        4: rep("volumeClaimTemplates", "core.PersistentVolumeClaim"),
        5: opt("serviceName", STRING),
        6: opt("podManagementPolicy", STRING),
        7: opt("updateStrategy", "apps.StatefulSetUpdateStrategy"),
        8: ptr("revisionHistoryLimit", INT32),
        9: opt("minReadySeconds", INT32),
        10: ptr(
            "persistentVolumeClaimRetentionPolicy",
            "apps.StatefulSetPersistentVolumeClaimRetentionPolicy",
        ),
        11: ptr("ordinals", "apps.StatefulSetOrdinals"),
    },
    "apps.StatefulSetUpdateStrategy": {
        1: opt("type", STRING),
        2: ptr("rollingUpdate", "apps.RollingUpdateStatefulSetStrategy"),
    },
    "apps.RollingUpdateStatefulSetStrategy": {
        1: ptr("partition", INT32),
        2: ptr("maxUnavailable", INT_OR_STRING),
    },
    "apps.StatefulSetPersistentVolumeClaimRetentionPolicy": {
        1: opt("whenDeleted", STRING),
        2: opt("whenScaled", STRING),
    },
    "apps.StatefulSetOrdinals": {1: opt("start", INT32)},
    "apps.StatefulSetStatus": {
        1: opt("observedGeneration", INT64),
        2: req("replicas", INT32),
        3: opt("readyReplicas", INT32),
        4: opt("currentReplicas", INT32),
        5: opt("updatedReplicas", INT32),
        6: opt("currentRevision", STRING),
        7: opt("updateRevision", STRING),
        9: ptr("collisionCount", INT32),
        10: rep("conditions", "apps.StatefulSetCondition"),
        11: opt("availableReplicas", INT32),
    },
    "apps.StatefulSetCondition": _CONDITION,
    # `data` is a runtime.RawExtension: {raw = 1}, the JSON document it holds, as FieldsV1.
    "apps.ControllerRevision": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("data", FIELDS_V1),
        3: req("revision", INT64),
    },
}

CORE: dict[str, Message] = {
    "core.ReplicationController": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "core.ReplicationControllerSpec"),
        3: opt("status", "core.ReplicationControllerStatus"),
    },
    "core.ReplicationControllerSpec": {
        1: ptr("replicas", INT32),
        4: opt("minReadySeconds", INT32),
        2: kv("selector"),
        3: ptr("template", "core.PodTemplateSpec"),
    },
    "core.ReplicationControllerStatus": {
        1: req("replicas", INT32),
        2: opt("fullyLabeledReplicas", INT32),
        4: opt("readyReplicas", INT32),
        5: opt("availableReplicas", INT32),
        3: opt("observedGeneration", INT64),
        6: rep("conditions", "core.ReplicationControllerCondition"),
    },
    "core.ReplicationControllerCondition": _CONDITION,
    # A StatefulSet's volumeClaimTemplates (the PVC kind itself may come from another table).
    "core.PersistentVolumeClaim": {
        1: opt("metadata", "meta.ObjectMeta"),
        2: opt("spec", "core.PersistentVolumeClaimSpec"),
    },
    "core.PersistentVolumeClaimSpec": {
        1: rep("accessModes", STRING),
        4: ptr("selector", "meta.LabelSelector"),
        2: opt("resources", "core.VolumeResourceRequirements"),
        3: opt("volumeName", STRING),
        5: ptr("storageClassName", STRING),
        6: ptr("volumeMode", STRING),
        9: ptr("volumeAttributesClassName", STRING),
    },
    "core.VolumeResourceRequirements": {
        1: kv("limits", QUANTITY),
        2: kv("requests", QUANTITY),
    },
}

KINDS: dict[tuple[str, str], str] = {
    ("apps/v1", "DaemonSet"): "apps.DaemonSet",
    ("apps/v1", "StatefulSet"): "apps.StatefulSet",
    ("apps/v1", "ControllerRevision"): "apps.ControllerRevision",
    ("v1", "ReplicationController"): "core.ReplicationController",
    ("batch/v1", "Job"): "batch.Job",
    ("batch/v1", "CronJob"): "batch.CronJob",
}
