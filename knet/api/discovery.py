"""discovery.k8s.io/v1: EndpointSlice, what kproxy programs Services from."""

from knet.api.base import JSONObject, KubeModel
from knet.api.core import ObjectReference
from knet.api.meta import KubeList, KubeObject


class EndpointConditions(KubeModel):
    # Unset means "unknown"; consumers treat a missing `ready` as ready, as kube-proxy does.
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class Endpoint(KubeModel):
    addresses: list[str]
    conditions: EndpointConditions | None = None
    hostname: str | None = None
    target_ref: ObjectReference | None = None
    node_name: str | None = None
    zone: str | None = None
    hints: JSONObject | None = None


class EndpointPort(KubeModel):
    name: str | None = None
    protocol: str | None = None
    port: int | None = None
    app_protocol: str | None = None


class EndpointSlice(KubeObject):
    """`endpoints` is required (possibly empty), as the API schema and the Python client say."""

    api_version: str = "discovery.k8s.io/v1"
    kind: str = "EndpointSlice"
    address_type: str
    endpoints: list[Endpoint]
    ports: list[EndpointPort] | None = None


class EndpointSliceList(KubeList[EndpointSlice]):
    api_version: str = "discovery.k8s.io/v1"
    kind: str = "EndpointSliceList"
