"""core/v1 kinds that are stored and served but driven by no loop of knet's own (beyond a status):
PersistentVolume(Claim)s (no provisioner: a claim stays Pending until a matching volume is bound
by hand), ResourceQuota, LimitRange, PodTemplate, ServiceAccount, and the read-only
ComponentStatus the API server computes on each read."""

from knet.api.base import JSONObject, KubeModel, Quantity
from knet.api.core import ObjectReference, PodTemplateSpec
from knet.api.meta import KubeList, KubeObject, LabelSelector

# ---------------------------------------------------------------------------- volumes


class VolumeResourceRequirements(KubeModel):
    limits: dict[str, Quantity] | None = None
    requests: dict[str, Quantity] | None = None


class PersistentVolumeClaimSpec(KubeModel):
    access_modes: list[str] | None = None
    selector: LabelSelector | None = None
    resources: VolumeResourceRequirements | None = None
    volume_name: str | None = None
    storage_class_name: str | None = None
    volume_mode: str | None = None
    data_source: JSONObject | None = None
    data_source_ref: JSONObject | None = None
    volume_attributes_class_name: str | None = None


class PersistentVolumeClaimStatus(KubeModel):
    phase: str | None = None
    access_modes: list[str] | None = None
    capacity: dict[str, Quantity] | None = None
    conditions: list[JSONObject] | None = None


class PersistentVolumeClaim(KubeObject):
    api_version: str = "v1"
    kind: str = "PersistentVolumeClaim"
    spec: PersistentVolumeClaimSpec | None = None
    status: PersistentVolumeClaimStatus | None = None


class PersistentVolumeClaimList(KubeList[PersistentVolumeClaim]):
    api_version: str = "v1"
    kind: str = "PersistentVolumeClaimList"


class PersistentVolumeSpec(KubeModel):
    capacity: dict[str, Quantity] | None = None
    access_modes: list[str] | None = None
    claim_ref: ObjectReference | None = None
    persistent_volume_reclaim_policy: str | None = None
    storage_class_name: str | None = None
    mount_options: list[str] | None = None
    volume_mode: str | None = None
    node_affinity: JSONObject | None = None
    # The volume sources (hostPath, local, nfs, csi, ...) are kept as given.
    host_path: JSONObject | None = None
    local: JSONObject | None = None
    nfs: JSONObject | None = None
    csi: JSONObject | None = None


class PersistentVolumeStatus(KubeModel):
    phase: str | None = None
    message: str | None = None
    reason: str | None = None
    last_phase_transition_time: str | None = None


class PersistentVolume(KubeObject):
    api_version: str = "v1"
    kind: str = "PersistentVolume"
    spec: PersistentVolumeSpec | None = None
    status: PersistentVolumeStatus | None = None


class PersistentVolumeList(KubeList[PersistentVolume]):
    api_version: str = "v1"
    kind: str = "PersistentVolumeList"


# ---------------------------------------------------------------------------- policy objects


class ResourceQuotaSpec(KubeModel):
    hard: dict[str, Quantity] | None = None
    scopes: list[str] | None = None
    scope_selector: JSONObject | None = None


class ResourceQuotaStatus(KubeModel):
    hard: dict[str, Quantity] | None = None
    used: dict[str, Quantity] | None = None


class ResourceQuota(KubeObject):
    api_version: str = "v1"
    kind: str = "ResourceQuota"
    spec: ResourceQuotaSpec | None = None
    status: ResourceQuotaStatus | None = None


class ResourceQuotaList(KubeList[ResourceQuota]):
    api_version: str = "v1"
    kind: str = "ResourceQuotaList"


class LimitRangeItem(KubeModel):
    type: str
    max: dict[str, Quantity] | None = None
    min: dict[str, Quantity] | None = None
    default: dict[str, Quantity] | None = None
    default_request: dict[str, Quantity] | None = None
    max_limit_request_ratio: dict[str, Quantity] | None = None


class LimitRangeSpec(KubeModel):
    limits: list[LimitRangeItem]


class LimitRange(KubeObject):
    api_version: str = "v1"
    kind: str = "LimitRange"
    spec: LimitRangeSpec | None = None


class LimitRangeList(KubeList[LimitRange]):
    api_version: str = "v1"
    kind: str = "LimitRangeList"


class PodTemplate(KubeObject):
    api_version: str = "v1"
    kind: str = "PodTemplate"
    template: PodTemplateSpec | None = None


class PodTemplateList(KubeList[PodTemplate]):
    api_version: str = "v1"
    kind: str = "PodTemplateList"


class ServiceAccount(KubeObject):
    api_version: str = "v1"
    kind: str = "ServiceAccount"
    secrets: list[ObjectReference] | None = None
    image_pull_secrets: list[JSONObject] | None = None
    automount_service_account_token: bool | None = None


class ServiceAccountList(KubeList[ServiceAccount]):
    api_version: str = "v1"
    kind: str = "ServiceAccountList"


# ---------------------------------------------------------------------------- component health


class ComponentCondition(KubeModel):
    type: str
    status: str
    message: str | None = None
    error: str | None = None


class ComponentStatus(KubeObject):
    api_version: str = "v1"
    kind: str = "ComponentStatus"
    conditions: list[ComponentCondition] | None = None


class ComponentStatusList(KubeList[ComponentStatus]):
    api_version: str = "v1"
    kind: str = "ComponentStatusList"
