"""networking.k8s.io/v1: Ingress, IngressClass and NetworkPolicy.

Stored and served only: knet has no ingress controller and does not enforce NetworkPolicy yet.
"""

from pydantic import Field

from knet.api.base import IntOrString, JSONObject, KubeModel
from knet.api.meta import KubeList, KubeObject, LabelSelector


class ServiceBackendPort(KubeModel):
    name: str | None = None
    number: int | None = None


class IngressServiceBackend(KubeModel):
    name: str
    port: ServiceBackendPort | None = None


class IngressBackend(KubeModel):
    service: IngressServiceBackend | None = None
    # A TypedLocalObjectReference (apiGroup, kind, name).
    resource: JSONObject | None = None


class HTTPIngressPath(KubeModel):
    path: str | None = None
    path_type: str
    backend: IngressBackend


class HTTPIngressRuleValue(KubeModel):
    paths: list[HTTPIngressPath]


class IngressRule(KubeModel):
    host: str | None = None
    http: HTTPIngressRuleValue | None = None


class IngressTLS(KubeModel):
    hosts: list[str] | None = None
    secret_name: str | None = None


class IngressSpec(KubeModel):
    ingress_class_name: str | None = None
    default_backend: IngressBackend | None = None
    tls: list[IngressTLS] | None = None
    rules: list[IngressRule] | None = None


class IngressStatus(KubeModel):
    # IngressLoadBalancerStatus: {ingress: [{ip, hostname, ports}]}.
    load_balancer: JSONObject | None = None


class Ingress(KubeObject):
    api_version: str = "networking.k8s.io/v1"
    kind: str = "Ingress"
    spec: IngressSpec | None = None
    status: IngressStatus | None = None


class IngressList(KubeList[Ingress]):
    api_version: str = "networking.k8s.io/v1"
    kind: str = "IngressList"


class IngressClassSpec(KubeModel):
    controller: str | None = None
    # IngressClassParametersReference (apiGroup, kind, name, scope, namespace).
    parameters: JSONObject | None = None


class IngressClass(KubeObject):
    api_version: str = "networking.k8s.io/v1"
    kind: str = "IngressClass"
    spec: IngressClassSpec | None = None


class IngressClassList(KubeList[IngressClass]):
    api_version: str = "networking.k8s.io/v1"
    kind: str = "IngressClassList"


class NetworkPolicyPort(KubeModel):
    protocol: str | None = None
    port: IntOrString | None = None
    end_port: int | None = None


class IPBlock(KubeModel):
    cidr: str
    # `except` is a Python keyword.
    except_: list[str] | None = Field(default=None, alias="except")


class NetworkPolicyPeer(KubeModel):
    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


class NetworkPolicyIngressRule(KubeModel):
    ports: list[NetworkPolicyPort] | None = None
    # `from` is a Python keyword.
    from_: list[NetworkPolicyPeer] | None = Field(default=None, alias="from")


class NetworkPolicyEgressRule(KubeModel):
    ports: list[NetworkPolicyPort] | None = None
    to: list[NetworkPolicyPeer] | None = None


class NetworkPolicySpec(KubeModel):
    pod_selector: LabelSelector | None = None
    ingress: list[NetworkPolicyIngressRule] | None = None
    egress: list[NetworkPolicyEgressRule] | None = None
    policy_types: list[str] | None = None


class NetworkPolicy(KubeObject):
    api_version: str = "networking.k8s.io/v1"
    kind: str = "NetworkPolicy"
    spec: NetworkPolicySpec | None = None


class NetworkPolicyList(KubeList[NetworkPolicy]):
    api_version: str = "networking.k8s.io/v1"
    kind: str = "NetworkPolicyList"
