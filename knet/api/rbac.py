"""rbac.authorization.k8s.io/v1 models (ServiceAccount is in corestore.py): enough for type
checks and for fieldValidation to know their top-level fields."""

from pydantic import Field

from knet.api.base import KubeModel
from knet.api.meta import KubeList, KubeObject


class PolicyRule(KubeModel):
    verbs: list[str] = []
    api_groups: list[str] | None = None
    resources: list[str] | None = None
    resource_names: list[str] | None = None
    non_resource_urls: list[str] | None = Field(default=None, alias="nonResourceURLs")


class AggregationRule(KubeModel):
    cluster_role_selectors: list[dict[str, object]] | None = None


class Role(KubeObject):
    api_version: str = "rbac.authorization.k8s.io/v1"
    kind: str = "Role"
    rules: list[PolicyRule] | None = None


class ClusterRole(KubeObject):
    api_version: str = "rbac.authorization.k8s.io/v1"
    kind: str = "ClusterRole"
    rules: list[PolicyRule] | None = None
    aggregation_rule: AggregationRule | None = None


class Subject(KubeModel):
    kind: str
    name: str
    api_group: str | None = None
    namespace: str | None = None


class RoleRef(KubeModel):
    api_group: str
    kind: str
    name: str


class RoleBinding(KubeObject):
    api_version: str = "rbac.authorization.k8s.io/v1"
    kind: str = "RoleBinding"
    subjects: list[Subject] | None = None
    role_ref: RoleRef | None = None


class ClusterRoleBinding(KubeObject):
    api_version: str = "rbac.authorization.k8s.io/v1"
    kind: str = "ClusterRoleBinding"
    subjects: list[Subject] | None = None
    role_ref: RoleRef | None = None


class RoleList(KubeList[Role]):
    api_version: str = "rbac.authorization.k8s.io/v1"
    kind: str = "RoleList"
