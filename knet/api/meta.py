"""meta/v1: object and list metadata, owner references, label selectors, conditions, and the
apiVersion/kind header every top-level object carries."""

from typing import Any, Generic, TypeVar

from pydantic import Field

from knet.api.base import JSONObject, KubeModel, Time, is_wire_context


class TypeMeta(KubeModel):
    """apiVersion and kind. Subclasses give both defaults.

    An object built in Python writes its apiVersion/kind to the wire even when left at their
    defaults, so it always says what it is. An object read with `from_wire` keeps exactly the keys
    it came with (list items, for one, usually have neither), so round trips stay exact.
    """

    api_version: str
    kind: str

    def model_post_init(self, context: Any, /) -> None:
        if not is_wire_context(context):
            self.model_fields_set.update(("api_version", "kind"))


class OwnerReference(KubeModel):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ManagedFieldsEntry(KubeModel):
    manager: str | None = None
    operation: str | None = None
    api_version: str | None = None
    time: Time | None = None
    fields_type: str | None = None
    fields_v1: JSONObject | None = Field(default=None, alias="fieldsV1")
    subresource: str | None = None


class ObjectMeta(KubeModel):
    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    self_link: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: Time | None = None
    deletion_timestamp: Time | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: list[OwnerReference] | None = None
    finalizers: list[str] | None = None
    managed_fields: list[ManagedFieldsEntry] | None = None


class ListMeta(KubeModel):
    self_link: str | None = None
    resource_version: str | None = None
    # `continue` is a Python keyword.
    continue_: str | None = Field(default=None, alias="continue")
    remaining_item_count: int | None = None


class LabelSelectorRequirement(KubeModel):
    key: str
    operator: str
    values: list[str] | None = None


class LabelSelector(KubeModel):
    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class Condition(KubeModel):
    """metav1.Condition, the standard condition shape (all but observedGeneration required)."""

    type: str
    status: str
    last_transition_time: Time
    reason: str
    message: str
    observed_generation: int | None = None


class ConditionBase(KubeModel):
    """The shape shared by the older per-kind conditions (PodCondition, NodeCondition, ...)."""

    type: str
    status: str
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class KubeObject(TypeMeta):
    """A top-level object with ObjectMeta (Pod, Service, ...)."""

    metadata: ObjectMeta | None = None


ItemT = TypeVar("ItemT")


class KubeList(TypeMeta, Generic[ItemT]):
    """`<Kind>List`: list metadata (resourceVersion, continue) and the items."""

    metadata: ListMeta | None = None
    items: list[ItemT]
