"""apps/v1: Deployment, ReplicaSet, DaemonSet, StatefulSet and ControllerRevision."""

from knet.api.base import IntOrString, JSONObject, KubeModel, Time
from knet.api.core import PodTemplateSpec
from knet.api.meta import ConditionBase, KubeList, KubeObject, LabelSelector


class RollingUpdateDeployment(KubeModel):
    # A count or a percentage such as "25%".
    max_unavailable: IntOrString | None = None
    max_surge: IntOrString | None = None


class DeploymentStrategy(KubeModel):
    type: str | None = None
    rolling_update: RollingUpdateDeployment | None = None


class DeploymentSpec(KubeModel):
    selector: LabelSelector
    template: PodTemplateSpec
    replicas: int | None = None
    strategy: DeploymentStrategy | None = None
    min_ready_seconds: int | None = None
    revision_history_limit: int | None = None
    progress_deadline_seconds: int | None = None
    paused: bool | None = None


class DeploymentCondition(ConditionBase):
    last_update_time: Time | None = None


class DeploymentStatus(KubeModel):
    observed_generation: int | None = None
    replicas: int | None = None
    updated_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    unavailable_replicas: int | None = None
    conditions: list[DeploymentCondition] | None = None
    collision_count: int | None = None


class Deployment(KubeObject):
    api_version: str = "apps/v1"
    kind: str = "Deployment"
    spec: DeploymentSpec | None = None
    status: DeploymentStatus | None = None


class ReplicaSetSpec(KubeModel):
    selector: LabelSelector
    replicas: int | None = None
    template: PodTemplateSpec | None = None
    min_ready_seconds: int | None = None


class ReplicaSetCondition(ConditionBase):
    pass


class ReplicaSetStatus(KubeModel):
    replicas: int
    fully_labeled_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    observed_generation: int | None = None
    conditions: list[ReplicaSetCondition] | None = None


class ReplicaSet(KubeObject):
    api_version: str = "apps/v1"
    kind: str = "ReplicaSet"
    spec: ReplicaSetSpec | None = None
    status: ReplicaSetStatus | None = None


class DeploymentList(KubeList[Deployment]):
    api_version: str = "apps/v1"
    kind: str = "DeploymentList"


class ReplicaSetList(KubeList[ReplicaSet]):
    api_version: str = "apps/v1"
    kind: str = "ReplicaSetList"


# ---------------------------------------------------------------------------- DaemonSet


class RollingUpdateDaemonSet(KubeModel):
    max_unavailable: IntOrString | None = None
    max_surge: IntOrString | None = None


class DaemonSetUpdateStrategy(KubeModel):
    type: str | None = None
    rolling_update: RollingUpdateDaemonSet | None = None


class DaemonSetSpec(KubeModel):
    selector: LabelSelector
    template: PodTemplateSpec
    update_strategy: DaemonSetUpdateStrategy | None = None
    min_ready_seconds: int | None = None
    revision_history_limit: int | None = None


class DaemonSetCondition(ConditionBase):
    pass


class DaemonSetStatus(KubeModel):
    current_number_scheduled: int | None = None
    number_misscheduled: int | None = None
    desired_number_scheduled: int | None = None
    number_ready: int | None = None
    observed_generation: int | None = None
    updated_number_scheduled: int | None = None
    number_available: int | None = None
    number_unavailable: int | None = None
    collision_count: int | None = None
    conditions: list[DaemonSetCondition] | None = None


class DaemonSet(KubeObject):
    api_version: str = "apps/v1"
    kind: str = "DaemonSet"
    spec: DaemonSetSpec | None = None
    status: DaemonSetStatus | None = None


class DaemonSetList(KubeList[DaemonSet]):
    api_version: str = "apps/v1"
    kind: str = "DaemonSetList"


# ---------------------------------------------------------------------------- StatefulSet


class RollingUpdateStatefulSetStrategy(KubeModel):
    partition: int | None = None
    max_unavailable: IntOrString | None = None


class StatefulSetUpdateStrategy(KubeModel):
    type: str | None = None
    rolling_update: RollingUpdateStatefulSetStrategy | None = None


class StatefulSetPersistentVolumeClaimRetentionPolicy(KubeModel):
    when_deleted: str | None = None
    when_scaled: str | None = None


class StatefulSetOrdinals(KubeModel):
    start: int | None = None


class StatefulSetSpec(KubeModel):
    selector: LabelSelector
    template: PodTemplateSpec
    replicas: int | None = None
    # PersistentVolumeClaim bodies, carried as given (the PVC kind has its own model, if any).
    volume_claim_templates: list[JSONObject] | None = None
    service_name: str | None = None
    pod_management_policy: str | None = None
    update_strategy: StatefulSetUpdateStrategy | None = None
    revision_history_limit: int | None = None
    min_ready_seconds: int | None = None
    persistent_volume_claim_retention_policy: (
        StatefulSetPersistentVolumeClaimRetentionPolicy | None
    ) = None
    ordinals: StatefulSetOrdinals | None = None


class StatefulSetCondition(ConditionBase):
    pass


class StatefulSetStatus(KubeModel):
    observed_generation: int | None = None
    replicas: int | None = None
    ready_replicas: int | None = None
    current_replicas: int | None = None
    updated_replicas: int | None = None
    current_revision: str | None = None
    update_revision: str | None = None
    collision_count: int | None = None
    conditions: list[StatefulSetCondition] | None = None
    available_replicas: int | None = None


class StatefulSet(KubeObject):
    api_version: str = "apps/v1"
    kind: str = "StatefulSet"
    spec: StatefulSetSpec | None = None
    status: StatefulSetStatus | None = None


class StatefulSetList(KubeList[StatefulSet]):
    api_version: str = "apps/v1"
    kind: str = "StatefulSetList"


# ---------------------------------------------------------------------------- ControllerRevision


class ControllerRevision(KubeObject):
    api_version: str = "apps/v1"
    kind: str = "ControllerRevision"
    # A patch of the owner (DaemonSet, StatefulSet) that restores this revision's template.
    data: JSONObject | None = None
    revision: int


class ControllerRevisionList(KubeList[ControllerRevision]):
    api_version: str = "apps/v1"
    kind: str = "ControllerRevisionList"
