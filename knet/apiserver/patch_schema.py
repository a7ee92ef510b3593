"""Strategic-merge-patch metadata for the built-in kinds: which lists merge, and by which key.

Upstream keeps this in Go struct tags (`patchStrategy:"merge" patchMergeKey:"name"` in
k8s.io/api core/v1 and apps/v1 types.go). Here it is a small declarative table of the fields that
matter for the kinds knet serves. Anything not in the table follows the defaults: maps merge
recursively and lists are replaced wholesale, as upstream does for atomic lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

Schema = Mapping[str, "Field"]

EMPTY: Schema = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Field:
    """How one field merges.

    `merge` is patchStrategy=merge (a list that merges instead of being replaced); with
    `merge_key` it is a list of maps matched by that key, without one a set of primitives.
    `of` is the schema of the field's map, or of each item of a list of maps.
    """

    merge: bool = False
    merge_key: str | None = None
    of: Schema = field(default_factory=lambda: EMPTY)


ATOMIC = Field()


def struct(**fields: Field) -> Field:
    """A nested map whose own fields have metadata."""
    return Field(of=MappingProxyType(fields))


def keyed_list(merge_key: str, **item_fields: Field) -> Field:
    """patchStrategy=merge, patchMergeKey=merge_key: a list of maps merged item by item."""
    return Field(merge=True, merge_key=merge_key, of=MappingProxyType(item_fields))


def primitive_set() -> Field:
    """patchStrategy=merge without a key: a list of primitives merged as a set."""
    return Field(merge=True)


def _schema(**fields: Field) -> Schema:
    return MappingProxyType(fields)


# metav1.ObjectMeta
OBJECT_META = struct(
    ownerReferences=keyed_list("uid"),
    finalizers=primitive_set(),
)

# core/v1 Container (also used for initContainers and ephemeralContainers).
# envFrom, resizePolicy and the rest carry no strategy upstream: replaced.
_CONTAINER: dict[str, Field] = {
    "ports": keyed_list("containerPort"),
    "env": keyed_list("name"),
    "volumeMounts": keyed_list("mountPath"),
    "volumeDevices": keyed_list("devicePath"),
}

# core/v1 PodSpec. tolerations, readinessGates and dnsConfig lists are atomic upstream.
POD_SPEC = struct(
    containers=keyed_list("name", **_CONTAINER),
    initContainers=keyed_list("name", **_CONTAINER),
    ephemeralContainers=keyed_list("name", **_CONTAINER),
    volumes=keyed_list("name"),
    imagePullSecrets=keyed_list("name"),
    hostAliases=keyed_list("ip"),
    topologySpreadConstraints=keyed_list("topologyKey"),
    schedulingGates=keyed_list("name"),
    resourceClaims=keyed_list("name"),
)

POD_STATUS = struct(
    conditions=keyed_list("type"),
    podIPs=keyed_list("ip"),
    hostIPs=keyed_list("ip"),
)

POD_TEMPLATE_SPEC = struct(metadata=OBJECT_META, spec=POD_SPEC)

# Workload status conditions (Deployment, ReplicaSet, DaemonSet, StatefulSet, Job, RC).
_CONDITIONS_STATUS = struct(conditions=keyed_list("type"))

_WORKLOAD = _schema(
    metadata=OBJECT_META,
    spec=struct(template=POD_TEMPLATE_SPEC),
    status=_CONDITIONS_STATUS,
)

_KINDS: Mapping[str, Schema] = MappingProxyType(
    {
        "Pod": _schema(metadata=OBJECT_META, spec=POD_SPEC, status=POD_STATUS),
        "PodTemplate": _schema(metadata=OBJECT_META, template=POD_TEMPLATE_SPEC),
        "Deployment": _WORKLOAD,
        "ReplicaSet": _WORKLOAD,
        "DaemonSet": _WORKLOAD,
        "StatefulSet": _WORKLOAD,
        "ReplicationController": _WORKLOAD,
        "Job": _WORKLOAD,
        "CronJob": _schema(
            metadata=OBJECT_META,
            spec=struct(
                jobTemplate=struct(metadata=OBJECT_META, spec=struct(template=POD_TEMPLATE_SPEC))
            ),
        ),
        "Service": _schema(
            metadata=OBJECT_META,
            spec=struct(ports=keyed_list("port")),
            status=_CONDITIONS_STATUS,
        ),
        # spec.taints is atomic upstream; podCIDRs is a merged set.
        "Node": _schema(
            metadata=OBJECT_META,
            spec=struct(podCIDRs=primitive_set()),
            status=struct(conditions=keyed_list("type"), addresses=keyed_list("type")),
        ),
        # spec.finalizers is atomic upstream.
        "Namespace": _schema(metadata=OBJECT_META, status=_CONDITIONS_STATUS),
        # data, binaryData and stringData are maps: they merge key by key, the default.
        "ConfigMap": _schema(metadata=OBJECT_META),
        "Secret": _schema(metadata=OBJECT_META),
    }
)

# Kinds with no list that merges outside their metadata (Endpoints subsets, EndpointSlice
# endpoints and ports, Event, Lease, Scale, ConfigMap, ...) and kinds knet does not know.
_METADATA_ONLY = _schema(metadata=OBJECT_META)


def schema_for_kind(kind: str) -> Schema:
    """The merge metadata for a top-level object of this Kind."""
    return _KINDS.get(kind, _METADATA_ONLY)
