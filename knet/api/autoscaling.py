"""autoscaling/v1: Scale, the body of the `scale` subresource (`kubectl scale`)."""

from knet.api.base import KubeModel
from knet.api.meta import KubeObject


class ScaleSpec(KubeModel):
    replicas: int | None = None


class ScaleStatus(KubeModel):
    replicas: int
    # The label selector in query-string form ("app=web,tier=front").
    selector: str | None = None


class Scale(KubeObject):
    api_version: str = "autoscaling/v1"
    kind: str = "Scale"
    spec: ScaleSpec | None = None
    status: ScaleStatus | None = None
