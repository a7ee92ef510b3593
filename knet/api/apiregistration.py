"""apiregistration.k8s.io/v1: APIService. Stored only: knet does not proxy to aggregated APIs."""

from pydantic import Field

from knet.api.base import JSONObject, KubeModel
from knet.api.meta import KubeList, KubeObject


class ServiceReference(KubeModel):
    namespace: str | None = None
    name: str | None = None
    port: int | None = None


class APIServiceSpec(KubeModel):
    service: ServiceReference | None = None
    group: str | None = None
    version: str | None = None
    insecure_skip_tls_verify: bool | None = Field(default=None, alias="insecureSkipTLSVerify")
    ca_bundle: str | None = None
    group_priority_minimum: int
    version_priority: int


class APIServiceStatus(KubeModel):
    conditions: list[JSONObject] | None = None


class APIService(KubeObject):
    api_version: str = "apiregistration.k8s.io/v1"
    kind: str = "APIService"
    spec: APIServiceSpec | None = None
    status: APIServiceStatus | None = None


class APIServiceList(KubeList[APIService]):
    api_version: str = "apiregistration.k8s.io/v1"
    kind: str = "APIServiceList"
