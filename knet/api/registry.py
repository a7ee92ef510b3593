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
            Subresource("eviction", "Eviction", "policy", "v1", ("create",)),
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
    # Workload kinds (daemon sets, stateful sets, jobs, cron jobs, replication controllers).
    ResourceInfo(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        "daemonset",
        True,
        short_names=("ds",),
        categories=("all",),
        subresources=(_status("apps", "v1", "DaemonSet"),),
    ),
    ResourceInfo(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        True,
        short_names=("sts",),
        categories=("all",),
        subresources=(_status("apps", "v1", "StatefulSet"), _scale("StatefulSet")),
    ),
    ResourceInfo(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        "controllerrevision",
        True,
        has_status=False,
    ),
    ResourceInfo(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        "replicationcontroller",
        True,
        short_names=("rc",),
        categories=("all",),
        subresources=(
            _status("", "v1", "ReplicationController"),
            _scale("ReplicationController"),
        ),
        fields=("status.replicas",),
    ),
    ResourceInfo(
        "batch",
        "v1",
        "Job",
        "jobs",
        "job",
        True,
        categories=("all",),
        subresources=(_status("batch", "v1", "Job"),),
        fields=("status.successful",),
    ),
    ResourceInfo(
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        "cronjob",
        True,
        short_names=("cj",),
        categories=("all",),
        subresources=(_status("batch", "v1", "CronJob"),),
    ),
)

# Kinds stored and served with no loop of knet's own, or a small one (PodDisruptionBudget status),
# and ComponentStatus, which the API server computes on each read (componentstatus.py).
RESOURCES += (
    ResourceInfo(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        True,
        short_names=("pvc",),
        subresources=(_status("", "v1", "PersistentVolumeClaim"),),
    ),
    ResourceInfo(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        "persistentvolume",
        False,
        short_names=("pv",),
        subresources=(_status("", "v1", "PersistentVolume"),),
    ),
    ResourceInfo(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        "resourcequota",
        True,
        short_names=("quota",),
        subresources=(_status("", "v1", "ResourceQuota"),),
    ),
    ResourceInfo(
        "", "v1", "LimitRange", "limitranges", "limitrange", True, ("limits",), has_status=False
    ),
    ResourceInfo("", "v1", "PodTemplate", "podtemplates", "podtemplate", True, has_status=False),
    ResourceInfo(
        "",
        "v1",
        "ComponentStatus",
        "componentstatuses",
        "componentstatus",
        False,
        short_names=("cs",),
        verbs=("get", "list"),
        has_status=False,
    ),
    ResourceInfo(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        True,
        short_names=("pdb",),
        subresources=(_status("policy", "v1", "PodDisruptionBudget"),),
    ),
    ResourceInfo(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        "ingress",
        True,
        short_names=("ing",),
        subresources=(_status("networking.k8s.io", "v1", "Ingress"),),
    ),
    ResourceInfo(
        "networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", False
    ),
    ResourceInfo(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        "networkpolicy",
        True,
        short_names=("netpol",),
    ),
    ResourceInfo(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        True,
        short_names=("hpa",),
        categories=("all",),
        subresources=(_status("autoscaling", "v2", "HorizontalPodAutoscaler"),),
    ),
    # Also served in v1 (`kubectl autoscale` posts v1), converted to and from the stored v2
    # (knet/api/hpaconvert.py). Listed after v2, so v2 stays the preferred version.
    ResourceInfo(
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        True,
        short_names=("hpa",),
        categories=("all",),
        subresources=(_status("autoscaling", "v1", "HorizontalPodAutoscaler"),),
        verbs=("create", "delete", "get", "list", "patch", "update"),
    ),
    ResourceInfo(
        "apiregistration.k8s.io",
        "v1",
        "APIService",
        "apiservices",
        "apiservice",
        False,
        categories=("api-extensions",),
        subresources=(_status("apiregistration.k8s.io", "v1", "APIService"),),
    ),
)


# Kinds the API server computes on each request instead of storing (metrics.k8s.io, read from
# the kubelets): in discovery only; nothing stores, watches, collects or deletes them.
COMPUTED: tuple[ResourceInfo, ...] = tuple(
    ResourceInfo("metrics.k8s.io", "v1beta1", kind, plural, "", namespaced, verbs=("get", "list"))
    for kind, plural, namespaced in (("NodeMetrics", "nodes", False), ("PodMetrics", "pods", True))
)


def group_versions(computed: bool = False) -> list[tuple[str, str]]:
    """(group, version) pairs in serving order; the core group first (``computed``: with the
    computed kinds' groups too, for discovery)."""
    seen: list[tuple[str, str]] = []
    for info in RESOURCES + (COMPUTED if computed else ()):
        gv = (info.group, info.version)
        if gv not in seen:
            seen.append(gv)
    return seen


def resources_in(group: str, version: str, computed: bool = False) -> list[ResourceInfo]:
    infos = RESOURCES + (COMPUTED if computed else ())
    return [r for r in infos if r.group == group and r.version == version]


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
