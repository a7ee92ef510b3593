"""The API objects a pod refers to (ConfigMaps, Secrets), as one snapshot, and the values read
from them and from the container's resources. Pure.

``referenced`` lists what the pod's env, envFrom and volumes name; the kubelet fetches those
(fetch.py) into a ``Sources``; env (pods/container_spec.py) and volumes (projection.py) read
from it. Errors carry the kubelet's own messages.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from knet.scheduler.resources import parse_quantity

CONFIGMAP, SECRET = "ConfigMap", "Secret"


class RefError(Exception):
    """A referenced object or key is missing, or a value cannot be made."""


@dataclass(frozen=True)
class Sources:
    """(kind, name) → the object, or None when the API answered 404."""

    namespace: str = "default"
    objects: Mapping[tuple[str, str], Mapping[str, Any] | None] = field(default_factory=dict)

    def get(self, kind: str, name: str) -> Mapping[str, Any]:
        """The object; RefError with the kubelet's words when it is missing."""
        obj = self.objects.get((kind, name))
        if obj is None:
            raise RefError(f'{kind.lower()} "{name}" not found')
        return obj

    def data(self, kind: str, name: str) -> dict[str, bytes]:
        """Every key of the object with its value as bytes (Secrets and binaryData decoded)."""
        return object_data(kind, self.get(kind, name))

    def value(self, kind: str, name: str, key: str) -> str:
        """One key's value as text, for an env var."""
        data = self.data(kind, name)
        if key not in data:
            raise RefError(f"couldn't find key {key} in {kind} {self.namespace}/{name}")
        return data[key].decode("utf-8", "replace")


def object_data(kind: str, obj: Mapping[str, Any]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    try:
        if kind == CONFIGMAP:
            for k, v in (obj.get("data") or {}).items():
                out[str(k)] = str(v).encode()
            for k, v in (obj.get("binaryData") or {}).items():
                out[str(k)] = base64.b64decode(str(v), validate=True)
        else:
            for k, v in (obj.get("data") or {}).items():
                out[str(k)] = base64.b64decode(str(v), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RefError(f"{kind} {obj.get('metadata', {}).get('name')}: bad base64: {exc}") from None
    return out


def _env_refs(c: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for var in c.get("env") or []:
        vf = var.get("valueFrom") or {}
        if (ref := vf.get("configMapKeyRef")) and ref.get("name"):
            yield CONFIGMAP, str(ref["name"])
        if (ref := vf.get("secretKeyRef")) and ref.get("name"):
            yield SECRET, str(ref["name"])
    for src in c.get("envFrom") or []:
        if (ref := src.get("configMapRef")) and ref.get("name"):
            yield CONFIGMAP, str(ref["name"])
        if (ref := src.get("secretRef")) and ref.get("name"):
            yield SECRET, str(ref["name"])


def _volume_refs(vol: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    if (cm := vol.get("configMap")) and cm.get("name"):
        yield CONFIGMAP, str(cm["name"])
    if (sec := vol.get("secret")) and sec.get("secretName"):
        yield SECRET, str(sec["secretName"])
    for src in (vol.get("projected") or {}).get("sources") or []:
        if (cm := src.get("configMap")) and cm.get("name"):
            yield CONFIGMAP, str(cm["name"])
        if (sec := src.get("secret")) and sec.get("name"):
            yield SECRET, str(sec["name"])


def referenced(spec: Mapping[str, Any]) -> set[tuple[str, str]]:
    """Every (kind, name) the pod's containers and volumes refer to."""
    out: set[tuple[str, str]] = set()
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            out.update(_env_refs(c))
    for vol in spec.get("volumes") or []:
        out.update(_volume_refs(vol))
    return out


@dataclass(frozen=True)
class NodeCapacity:
    """What a container without limits may use (the kubelet says: the node's allocatable)."""

    cpu: Decimal
    memory: int
    ephemeral_storage: int = 0


RESOURCES = {
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
}


def resource_value(
    resources: Mapping[str, Any] | None,
    resource: str,
    divisor: Any,
    node: NodeCapacity,
) -> str:
    """A resourceFieldRef's value as the kubelet gives it: the quantity divided by the divisor,
    rounded up (CPU in millicores first), limits defaulting to the node's capacity and
    requests to the limits."""
    if resource not in RESOURCES:
        raise RefError(f"unsupported container resource : {resource}")
    res = resources or {}
    limits, requests = res.get("limits") or {}, res.get("requests") or {}
    kind, _, name = resource.partition(".")
    node_value = {
        "cpu": node.cpu,
        "memory": Decimal(node.memory),
        "ephemeral-storage": Decimal(node.ephemeral_storage),
    }[name]
    raw: Any
    if kind == "limits":
        raw = limits.get(name)
        value = parse_quantity(raw) if raw is not None else node_value
    else:
        raw = requests.get(name, limits.get(name))
        value = parse_quantity(raw) if raw is not None else Decimal(0)
    try:
        div = parse_quantity(divisor) if divisor not in (None, "") else Decimal(1)
    except ValueError as exc:
        raise RefError(f"resourceFieldRef {resource}: divisor: {exc}") from None
    if div <= 0:
        raise RefError(f"resourceFieldRef {resource}: divisor must be positive")
    if name == "cpu":
        milli_value = math.ceil(value * 1000)
        milli_div = math.ceil(div * 1000)
        return str(math.ceil(Decimal(milli_value) / Decimal(milli_div)))
    return str(math.ceil(value / div))
