"""The base model and the wire codec every Kubernetes kind in knet shares.

Python attributes are snake_case; the wire is camelCase. Fields we do not model are kept (in
pydantic's extras) at every depth, so an object read from the wire and written back is unchanged.
Only keys present on input are written back (`exclude_unset`), which keeps sparse objects sparse
and explicit `null`s intact.

Validation is strict, as Kubernetes' own JSON decoding is: `"80"` is not a port and `1` is not a
string.
"""

from collections.abc import Mapping
from typing import Any, TypeAlias, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# Kubernetes' IntOrString (targetPort, maxSurge, probe ports): a number or a name/percentage.
IntOrString: TypeAlias = int | str
# resource.Quantity. Manifests write `cpu: 1` or `cpu: 0.5` as often as `"500m"`; the apiserver
# accepts all three, so numbers are allowed and kept as given.
Quantity: TypeAlias = str | int | float
# metav1.Time / MicroTime: RFC 3339 strings, kept as text so they round-trip exactly.
Time: TypeAlias = str
# Parts of the API we carry without modelling (affinity, volumes, securityContext, ...).
JSONObject: TypeAlias = dict[str, Any]

# Marks validation that reads an object off the wire (see `TypeMeta` in meta.py).
WIRE_CONTEXT_KEY = "knet.wire"


class KubeModel(BaseModel):
    """Base of every API model: camelCase aliases, unknown fields kept, strict types."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        strict=True,
    )


ModelT = TypeVar("ModelT", bound=KubeModel)


def from_wire(cls: type[ModelT], data: Mapping[str, Any]) -> ModelT:
    """Parse a decoded JSON object into `cls`; raises `pydantic.ValidationError` on bad input."""
    return cls.model_validate(data, context={WIRE_CONTEXT_KEY: True})


def to_wire(model: KubeModel) -> dict[str, Any]:
    """The JSON-ready dict for `model`: Kubernetes' spellings, only the keys that are set."""
    return model.model_dump(by_alias=True, exclude_unset=True, mode="json")


def is_wire_context(context: Any) -> bool:
    return isinstance(context, dict) and context.get(WIRE_CONTEXT_KEY) is True
