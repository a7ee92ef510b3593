"""core/v1: Namespace, Pod, Service, Endpoints, Node, Event, Binding and their parts.

Only what knet reads or writes is typed; everything else (volumes, affinity, security
contexts, ...) is either a loose JSON object or an unmodelled field kept as-is.
Kubernetes spells initialisms in capitals (podIP, clusterIPs, podCIDR, providerID), which the
camelCase generator cannot guess, so those fields carry explicit aliases.
"""

from pydantic import Field

from knet.api.base import IntOrString, JSONObject, KubeModel, Quantity, Time
from knet.api.meta import (
    Condition,
    ConditionBase,
    KubeList,
    KubeObject,
    ObjectMeta,
)

# ---------------------------------------------------------------------------- references


class ObjectReference(KubeModel):
    api_version: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    field_path: str | None = None


# ---------------------------------------------------------------------------- Namespace


class NamespaceSpec(KubeModel):
    finalizers: list[str] | None = None


class NamespaceCondition(ConditionBase):
    pass


class NamespaceStatus(KubeModel):
    phase: str | None = None
    conditions: list[NamespaceCondition] | None = None


class Namespace(KubeObject):
    api_version: str = "v1"
    kind: str = "Namespace"
    spec: NamespaceSpec | None = None
    status: NamespaceStatus | None = None


# ---------------------------------------------------------------------------- containers


class ContainerPort(KubeModel):
    container_port: int
    name: str | None = None
    protocol: str | None = None
    host_port: int | None = None
    host_ip: str | None = Field(default=None, alias="hostIP")


class EnvVar(KubeModel):
    name: str
    value: str | None = None
    value_from: JSONObject | None = None


class ResourceRequirements(KubeModel):
    limits: dict[str, Quantity] | None = None
    requests: dict[str, Quantity] | None = None


class ExecAction(KubeModel):
    command: list[str] | None = None


class HTTPHeader(KubeModel):
    name: str
    value: str


class HTTPGetAction(KubeModel):
    port: IntOrString
    path: str | None = None
    host: str | None = None
    scheme: str | None = None
    http_headers: list[HTTPHeader] | None = None


class TCPSocketAction(KubeModel):
    port: IntOrString
    host: str | None = None


class GRPCAction(KubeModel):
    port: int
    service: str | None = None


class Probe(KubeModel):
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    grpc: GRPCAction | None = None
    initial_delay_seconds: int | None = None
    timeout_seconds: int | None = None
    period_seconds: int | None = None
    success_threshold: int | None = None
    failure_threshold: int | None = None
    termination_grace_period_seconds: int | None = None


class Container(KubeModel):
    name: str
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    ports: list[ContainerPort] | None = None
    env: list[EnvVar] | None = None
    resources: ResourceRequirements | None = None
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None
    image_pull_policy: str | None = None
    # A stdin the container reads and `kubectl attach -i` writes to (kubectl run -i).
    stdin: bool | None = None
    stdin_once: bool | None = None
    tty: bool | None = None
    # Set on an init container to make it a sidecar ("Always").
    restart_policy: str | None = None


# ---------------------------------------------------------------------------- Pod


class Toleration(KubeModel):
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = None


class PodSpec(KubeModel):
    containers: list[Container]
    init_containers: list[Container] | None = None
    restart_policy: str | None = None
    termination_grace_period_seconds: int | None = None
    active_deadline_seconds: int | None = None
    dns_policy: str | None = None
    node_selector: dict[str, str] | None = None
    node_name: str | None = None
    service_account_name: str | None = None
    host_network: bool | None = None
    hostname: str | None = None
    subdomain: str | None = None
    affinity: JSONObject | None = None
    scheduler_name: str | None = None
    tolerations: list[Toleration] | None = None
    priority: int | None = None
    volumes: list[JSONObject] | None = None
    security_context: JSONObject | None = None


class PodCondition(ConditionBase):
    last_probe_time: Time | None = None


class PodIP(KubeModel):
    ip: str


class HostIP(KubeModel):
    ip: str


class ContainerStateWaiting(KubeModel):
    reason: str | None = None
    message: str | None = None


class ContainerStateRunning(KubeModel):
    started_at: Time | None = None


class ContainerStateTerminated(KubeModel):
    exit_code: int
    signal: int | None = None
    reason: str | None = None
    message: str | None = None
    started_at: Time | None = None
    finished_at: Time | None = None
    container_id: str | None = Field(default=None, alias="containerID")


class ContainerState(KubeModel):
    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


class ContainerStatus(KubeModel):
    name: str
    image: str
    image_id: str = Field(alias="imageID")
    ready: bool
    restart_count: int
    state: ContainerState | None = None
    last_state: ContainerState | None = None
    container_id: str | None = Field(default=None, alias="containerID")
    started: bool | None = None


class PodStatus(KubeModel):
    phase: str | None = None
    conditions: list[PodCondition] | None = None
    message: str | None = None
    reason: str | None = None
    nominated_node_name: str | None = None
    host_ip: str | None = Field(default=None, alias="hostIP")
    host_ips: list[HostIP] | None = Field(default=None, alias="hostIPs")
    pod_ip: str | None = Field(default=None, alias="podIP")
    pod_ips: list[PodIP] | None = Field(default=None, alias="podIPs")
    start_time: Time | None = None
    init_container_statuses: list[ContainerStatus] | None = None
    container_statuses: list[ContainerStatus] | None = None
    qos_class: str | None = None


class Pod(KubeObject):
    api_version: str = "v1"
    kind: str = "Pod"
    spec: PodSpec | None = None
    status: PodStatus | None = None


class PodTemplateSpec(KubeModel):
    metadata: ObjectMeta | None = None
    spec: PodSpec | None = None


# ---------------------------------------------------------------------------- Service


class ServicePort(KubeModel):
    port: int
    name: str | None = None
    protocol: str | None = None
    target_port: IntOrString | None = None
    node_port: int | None = None
    app_protocol: str | None = None


class ClientIPConfig(KubeModel):
    timeout_seconds: int | None = None


class SessionAffinityConfig(KubeModel):
    client_ip: ClientIPConfig | None = Field(default=None, alias="clientIP")


class ServiceSpec(KubeModel):
    type: str | None = None
    selector: dict[str, str] | None = None
    ports: list[ServicePort] | None = None
    cluster_ip: str | None = Field(default=None, alias="clusterIP")
    cluster_ips: list[str] | None = Field(default=None, alias="clusterIPs")
    external_ips: list[str] | None = Field(default=None, alias="externalIPs")
    external_name: str | None = None
    session_affinity: str | None = None
    session_affinity_config: SessionAffinityConfig | None = None
    external_traffic_policy: str | None = None
    internal_traffic_policy: str | None = None
    health_check_node_port: int | None = None
    ip_families: list[str] | None = None
    ip_family_policy: str | None = None
    publish_not_ready_addresses: bool | None = None
    load_balancer_ip: str | None = Field(default=None, alias="loadBalancerIP")
    load_balancer_source_ranges: list[str] | None = None
    load_balancer_class: str | None = None
    allocate_load_balancer_node_ports: bool | None = None
    traffic_distribution: str | None = None


class LoadBalancerIngress(KubeModel):
    ip: str | None = None
    hostname: str | None = None
    ip_mode: str | None = None
    ports: list[JSONObject] | None = None


class LoadBalancerStatus(KubeModel):
    ingress: list[LoadBalancerIngress] | None = None


class ServiceStatus(KubeModel):
    load_balancer: LoadBalancerStatus | None = None
    conditions: list[Condition] | None = None


class Service(KubeObject):
    api_version: str = "v1"
    kind: str = "Service"
    spec: ServiceSpec | None = None
    status: ServiceStatus | None = None


# ---------------------------------------------------------------------------- Endpoints


class EndpointAddress(KubeModel):
    ip: str
    hostname: str | None = None
    node_name: str | None = None
    target_ref: ObjectReference | None = None


class CoreEndpointPort(KubeModel):
    """core/v1 EndpointPort (the discovery/v1 one, with an optional port, is `EndpointPort`)."""

    port: int
    name: str | None = None
    protocol: str | None = None
    app_protocol: str | None = None


class EndpointSubset(KubeModel):
    addresses: list[EndpointAddress] | None = None
    not_ready_addresses: list[EndpointAddress] | None = None
    ports: list[CoreEndpointPort] | None = None


class Endpoints(KubeObject):
    api_version: str = "v1"
    kind: str = "Endpoints"
    subsets: list[EndpointSubset] | None = None


# ---------------------------------------------------------------------------- Node


class Taint(KubeModel):
    key: str
    effect: str
    value: str | None = None
    time_added: Time | None = None


class NodeSpec(KubeModel):
    pod_cidr: str | None = Field(default=None, alias="podCIDR")
    pod_cidrs: list[str] | None = Field(default=None, alias="podCIDRs")
    provider_id: str | None = Field(default=None, alias="providerID")
    unschedulable: bool | None = None
    taints: list[Taint] | None = None


class NodeCondition(ConditionBase):
    last_heartbeat_time: Time | None = None


class NodeAddress(KubeModel):
    type: str
    address: str


class NodeSystemInfo(KubeModel):
    """All required: the official Python client refuses a Node whose nodeInfo lacks any of them."""

    machine_id: str = Field(alias="machineID")
    system_uuid: str = Field(alias="systemUUID")
    boot_id: str = Field(alias="bootID")
    kernel_version: str
    os_image: str
    container_runtime_version: str
    kubelet_version: str
    kube_proxy_version: str
    operating_system: str
    architecture: str


class NodeStatus(KubeModel):
    capacity: dict[str, Quantity] | None = None
    allocatable: dict[str, Quantity] | None = None
    phase: str | None = None
    conditions: list[NodeCondition] | None = None
    addresses: list[NodeAddress] | None = None
    daemon_endpoints: JSONObject | None = None
    node_info: NodeSystemInfo | None = None


class Node(KubeObject):
    api_version: str = "v1"
    kind: str = "Node"
    spec: NodeSpec | None = None
    status: NodeStatus | None = None


# ---------------------------------------------------------------------------- Event, Binding


class EventSource(KubeModel):
    component: str | None = None
    host: str | None = None


class Event(KubeObject):
    """core/v1 Event (the one `kubectl get events` reads)."""

    api_version: str = "v1"
    kind: str = "Event"
    metadata: ObjectMeta
    involved_object: ObjectReference
    reason: str | None = None
    message: str | None = None
    source: EventSource | None = None
    first_timestamp: Time | None = None
    last_timestamp: Time | None = None
    count: int | None = None
    type: str | None = None
    event_time: Time | None = None
    series: JSONObject | None = None
    action: str | None = None
    related: ObjectReference | None = None
    reporting_component: str | None = None
    reporting_instance: str | None = None


class Binding(KubeObject):
    """pods/binding: what the scheduler posts to put a pod on a node."""

    api_version: str = "v1"
    kind: str = "Binding"
    target: ObjectReference


# ---------------------------------------------------------------------------- lists


class NamespaceList(KubeList[Namespace]):
    api_version: str = "v1"
    kind: str = "NamespaceList"


class PodList(KubeList[Pod]):
    api_version: str = "v1"
    kind: str = "PodList"


class ServiceList(KubeList[Service]):
    api_version: str = "v1"
    kind: str = "ServiceList"


class EndpointsList(KubeList[Endpoints]):
    api_version: str = "v1"
    kind: str = "EndpointsList"


class NodeList(KubeList[Node]):
    api_version: str = "v1"
    kind: str = "NodeList"


class EventList(KubeList[Event]):
    api_version: str = "v1"
    kind: str = "EventList"
