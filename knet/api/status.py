"""Protocol bodies that are not stored objects: Status (errors), WatchEvent and Table."""

from typing import Any

from knet.api.base import JSONObject, KubeModel
from knet.api.meta import ListMeta, TypeMeta


class StatusCause(KubeModel):
    reason: str | None = None
    message: str | None = None
    field: str | None = None


class StatusDetails(KubeModel):
    name: str | None = None
    group: str | None = None
    # The resource (plural) for NotFound/AlreadyExists/Conflict, the Kind for Invalid.
    kind: str | None = None
    uid: str | None = None
    causes: list[StatusCause] | None = None
    retry_after_seconds: int | None = None


class Status(TypeMeta):
    """The error (and some success) body; the HTTP status equals `code`."""

    api_version: str = "v1"
    kind: str = "Status"
    metadata: ListMeta | None = None
    status: str | None = None
    message: str | None = None
    reason: str | None = None
    details: StatusDetails | None = None
    code: int | None = None


class WatchEvent(KubeModel):
    """One line of a watch stream. `object` stays raw: its kind depends on the resource watched,
    and for ERROR it is a Status."""

    type: str
    object: JSONObject


class TableColumnDefinition(KubeModel):
    name: str
    type: str
    format: str
    description: str
    # 0 is shown by default; higher only with `-o wide`.
    priority: int


class TableRow(KubeModel):
    cells: list[Any]
    # Usually PartialObjectMetadata; kubectl reads namespace and name from it.
    object: JSONObject | None = None
    conditions: list[JSONObject] | None = None


class Table(TypeMeta):
    """meta.k8s.io/v1 Table, for server-side printing. In a watch, events after the first carry
    `columnDefinitions: null`."""

    api_version: str = "meta.k8s.io/v1"
    kind: str = "Table"
    metadata: ListMeta | None = None
    column_definitions: list[TableColumnDefinition] | None = None
    rows: list[TableRow]
