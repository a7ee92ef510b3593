"""Which typed model checks each kind's wire body (pydantic, from knet.api)."""

from __future__ import annotations

import functools

import pydantic

import knet.api


@functools.cache
def model_for(kind: str) -> type[pydantic.BaseModel] | None:
    model = getattr(knet.api, kind, None)
    if isinstance(model, type) and issubclass(model, pydantic.BaseModel):
        return model
    return None


_OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)


def known_metadata_fields() -> frozenset[str]:
    return _OBJECT_META_FIELDS


@functools.cache
def top_level_fields(kind: str) -> frozenset[str]:
    """Wire names of a kind's top-level fields, from its model."""
    model = model_for(kind)
    if model is None:
        return frozenset()
    return frozenset(f.alias or name for name, f in model.model_fields.items())
