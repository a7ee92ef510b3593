"""What the API serves: each resource's group, version, kind, plural, scope and subresources.

Pure data. The API server builds its routes, discovery, OpenAPI and storage keys from this table;
clients use it to turn a kind into a path.
"""

from __future__ import annotations

from dataclasses import dataclass

from knet.storage.layout import resource_prefix

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

# Fields every resource can be selected by, as upstream.
COMMON_FIELDS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class Subresource:
    name: str
    kind: str
    group: str
    version: str
    verbs: tuple[str, ...]


@dataclass(frozen=True)
class ResourceInfo:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    # Field selectors this resource supports beyond metadata.name / metadata.namespace.
    fields: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # Whether a spec change bumps metadata.generation (objects with a spec/status split).
    has_status: bool = True

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified(self) -> str:
        """`pods`, `deployments.apps`: the name used in upstream's error messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def selectable_fields(self) -> tuple[str, ...]:
        return COMMON_FIELDS + self.fields

    def subresource(self, name: str) -> Subresource | None:
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None

    def key_prefix(self, namespace: str | None) -> str:
        """Store key prefix of this resource, within one namespace or across all of them."""
        return resource_prefix(self.group, self.plural, namespace if self.namespaced else None)

    def key(self, namespace: str | None, name: str) -> str:
        return f"{self.key_prefix(namespace)}{name}"


def _status(group: str, version: str, kind: str) -> Subresource:
    return Subresource("status", kind, group, version, ("get", "patch", "update"))


def _scale(kind: str) -> Subresource:
    del kind
    return Subresource("scale", "Scale", "autoscaling", "v1", ("get", "patch", "update"))


RESOURCES: tuple[ResourceInfo, ...] = (
    ResourceInfo(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        False,
        short_names=("ns",),
        subresources=(_status("", "v1", "Namespace"),),
        fields=("status.phase",),
    ),
    ResourceInfo(
        "",
        "v1",
        "Pod",
        "pods",
        "pod",
        True,
        short_names=("po",),
        categories=("all",),
        subresources=(
            _status("", "v1", "Pod"),
            Subresource("binding", "Binding", "", "v1", ("create",)),
            Subresource("log", "Pod", "", "v1", ("get",)),
            Subresource("exec", "PodExecOptions", "", "v1", ("create", "get")),
            Subresource("attach", "PodAttachOptions", "", "v1", ("create", "get")),
            Subresource("portforward", "PodPortForwardOptions", "", "v1", ("create", "get")),
        ),
        fields=(
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ),
    ),
    ResourceInfo(
        "",
        "v1",
        "Service",
        "services",
        "service",
        True,
        short_names=("svc",),
        categories=("all",),
        subresources=(_status("", "v1", "Service"),),
        fields=("spec.clusterIP", "spec.type"),
    ),
    ResourceInfo(
        "",
        "v1",
        "Endpoints",
        "endpoints",
        "endpoints",
        True,
        short_names=("ep",),
        has_status=False,
    ),
    ResourceInfo(
        "",
        "v1",
        "Node",
        "nodes",
        "node",
        False,
        short_names=("no",),
        subresources=(_status("", "v1", "Node"),),
        fields=("spec.unschedulable",),
    ),
    ResourceInfo(
        "",
        "v1",
        "Event",
        "events",
        "event",
        True,
        short_names=("ev",),
        has_status=False,
        fields=(
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ),
    ),
    ResourceInfo(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        "configmap",
        True,
        short_names=("cm",),
        has_status=False,
    ),
    ResourceInfo(
        "",
        "v1",
        "Secret",
        "secrets",
        "secret",
        True,
        has_status=False,
        fields=("type",),
    ),
    ResourceInfo(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        "endpointslice",
        True,
        has_status=False,
        fields=("addressType",),
    ),
    ResourceInfo(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "lease",
        True,
        has_status=False,
    ),
    ResourceInfo(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        True,
        short_names=("deploy",),
        categories=("all",),
        subresources=(_status("apps", "v1", "Deployment"), _scale("Deployment")),
    ),
    ResourceInfo(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        True,
        short_names=("rs",),
        categories=("all",),
        subresources=(_status("apps", "v1", "ReplicaSet"), _scale("ReplicaSet")),
        fields=("status.replicas",),
    ),
)


def group_versions() -> list[tuple[str, str]]:
    """(group, version) pairs in serving order; the core group first."""
    seen: list[tuple[str, str]] = []
    for info in RESOURCES:
        gv = (info.group, info.version)
        if gv not in seen:
            seen.append(gv)
    return seen


def resources_in(group: str, version: str) -> list[ResourceInfo]:
    return [r for r in RESOURCES if r.group == group and r.version == version]


def lookup(group: str, version: str, plural: str) -> ResourceInfo | None:
    for info in RESOURCES:
        if info.group == group and info.version == version and info.plural == plural:
            return info
    return None


def by_kind(kind: str) -> ResourceInfo:
    for info in RESOURCES:
        if info.kind == kind:
            return info
    raise KeyError(f"no resource of kind {kind!r}")


# Kinds defined in their own modules, appended here (one line each keeps merges easy).
from knet.api import rbac_kinds  # noqa: E402

RESOURCES = RESOURCES + tuple(
    ResourceInfo(*args, subresources=tuple(Subresource(*s) for s in subs), **kw)
    for args, kw, subs in rbac_kinds.KINDS
)
