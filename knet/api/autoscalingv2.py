"""autoscaling/v2: HorizontalPodAutoscaler.

Stored and served only: knet has no metrics API yet, so no controller scales on it.
"""

from knet.api.base import JSONObject, KubeModel, Time
from knet.api.meta import KubeList, KubeObject


class CrossVersionObjectReference(KubeModel):
    kind: str
    name: str
    api_version: str | None = None


class HorizontalPodAutoscalerSpec(KubeModel):
    scale_target_ref: CrossVersionObjectReference
    min_replicas: int | None = None
    max_replicas: int
    # MetricSpec (type + resource/pods/object/external/containerResource), kept as given.
    metrics: list[JSONObject] | None = None
    behavior: JSONObject | None = None


class HorizontalPodAutoscalerStatus(KubeModel):
    observed_generation: int | None = None
    last_scale_time: Time | None = None
    current_replicas: int | None = None
    desired_replicas: int | None = None
    current_metrics: list[JSONObject] | None = None
    conditions: list[JSONObject] | None = None


class HorizontalPodAutoscaler(KubeObject):
    api_version: str = "autoscaling/v2"
    kind: str = "HorizontalPodAutoscaler"
    spec: HorizontalPodAutoscalerSpec | None = None
    status: HorizontalPodAutoscalerStatus | None = None


class HorizontalPodAutoscalerList(KubeList[HorizontalPodAutoscaler]):
    api_version: str = "autoscaling/v2"
    kind: str = "HorizontalPodAutoscalerList"
