"""policy/v1: PodDisruptionBudget and Eviction (the body of `pods/eviction`, `kubectl drain`)."""

from knet.api.base import IntOrString, KubeModel, Time
from knet.api.meta import Condition, KubeList, KubeObject, LabelSelector


class PodDisruptionBudgetSpec(KubeModel):
    min_available: IntOrString | None = None
    max_unavailable: IntOrString | None = None
    selector: LabelSelector | None = None
    unhealthy_pod_eviction_policy: str | None = None


class PodDisruptionBudgetStatus(KubeModel):
    observed_generation: int | None = None
    # Pods evicted but not yet seen deleted, by name, with the time of the eviction.
    disrupted_pods: dict[str, Time] | None = None
    disruptions_allowed: int | None = None
    current_healthy: int | None = None
    desired_healthy: int | None = None
    expected_pods: int | None = None
    conditions: list[Condition] | None = None


class PodDisruptionBudget(KubeObject):
    api_version: str = "policy/v1"
    kind: str = "PodDisruptionBudget"
    spec: PodDisruptionBudgetSpec | None = None
    status: PodDisruptionBudgetStatus | None = None


class PodDisruptionBudgetList(KubeList[PodDisruptionBudget]):
    api_version: str = "policy/v1"
    kind: str = "PodDisruptionBudgetList"


class DeleteOptionsBody(KubeModel):
    """meta/v1 DeleteOptions as an Eviction carries it (only the fields eviction reads)."""

    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    dry_run: list[str] | None = None


class Eviction(KubeObject):
    api_version: str = "policy/v1"
    kind: str = "Eviction"
    delete_options: DeleteOptionsBody | None = None
