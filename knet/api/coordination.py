"""coordination.k8s.io/v1: Lease (node heartbeats, leader election)."""

from knet.api.base import KubeModel, Time
from knet.api.meta import KubeList, KubeObject


class LeaseSpec(KubeModel):
    holder_identity: str | None = None
    lease_duration_seconds: int | None = None
    # MicroTime: RFC 3339 with microseconds.
    acquire_time: Time | None = None
    renew_time: Time | None = None
    lease_transitions: int | None = None
    strategy: str | None = None
    preferred_holder: str | None = None


class Lease(KubeObject):
    api_version: str = "coordination.k8s.io/v1"
    kind: str = "Lease"
    spec: LeaseSpec | None = None


class LeaseList(KubeList[Lease]):
    api_version: str = "coordination.k8s.io/v1"
    kind: str = "LeaseList"
