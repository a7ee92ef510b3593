"""apps/v1: Deployment and ReplicaSet."""

from knet.api.base import IntOrString, KubeModel, Time
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
