"""core/v1 ReplicationController: the ReplicaSet's predecessor, with an equality selector."""

from knet.api.base import KubeModel
from knet.api.core import PodTemplateSpec
from knet.api.meta import ConditionBase, KubeList, KubeObject


class ReplicationControllerSpec(KubeModel):
    replicas: int | None = None
    min_ready_seconds: int | None = None
    # label -> value, all of which a pod must carry (no set-based expressions here).
    selector: dict[str, str] | None = None
    template: PodTemplateSpec | None = None


class ReplicationControllerCondition(ConditionBase):
    pass


class ReplicationControllerStatus(KubeModel):
    replicas: int
    fully_labeled_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    observed_generation: int | None = None
    conditions: list[ReplicationControllerCondition] | None = None


class ReplicationController(KubeObject):
    api_version: str = "v1"
    kind: str = "ReplicationController"
    spec: ReplicationControllerSpec | None = None
    status: ReplicationControllerStatus | None = None


class ReplicationControllerList(KubeList[ReplicationController]):
    api_version: str = "v1"
    kind: str = "ReplicationControllerList"
