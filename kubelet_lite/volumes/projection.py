"""What files a configMap, secret, downwardAPI or projected volume holds. Pure.

As the kubelet plans them: every key of the object (or only ``items``, each at its ``path``
with its ``mode``), files mode ``defaultMode`` (0644 unless set); a missing object or key is
an error unless ``optional``; downward API files hold one field each (labels and annotations
as sorted ``key="value"`` lines). ``serviceAccountToken`` sources are not carried out yet (the
security issue brings tokens): they are refused with the field, never left out silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from kubelet_lite.volumes.atomic_writer import File, PayloadError, check_path
from kubelet_lite.volumes.sources import (
    CONFIGMAP,
    SECRET,
    NodeCapacity,
    RefError,
    Sources,
    resource_value,
)

DEFAULT_MODE = 0o644
API_VOLUMES = ("configMap", "secret", "downwardAPI", "projected")


class ProjectionError(Exception):
    """The volume cannot be set up (a FailedMount event says why)."""


class Fields(Protocol):
    """What downward API files may hold (pods.container_spec.PodFields)."""

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def annotations(self) -> Mapping[str, str]: ...

    def get(self, path: str) -> str: ...


def format_map(m: Mapping[str, str]) -> str:
    """The kubelet's rendering of labels and annotations: sorted, one ``k="v"`` a line."""
    return "\n".join(f"{k}={json.dumps(m[k], ensure_ascii=False)}" for k in sorted(m))


def _mode(raw: Any, default: int, where: str) -> int:
    if raw is None:
        return default
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= 0o777:
        raise ProjectionError(f"{where}: mode {raw!r} must be between 0 and 0777")
    return raw


def _keyed(
    kind: str, name: str, src: Mapping[str, Any], sources: Sources, default_mode: int, where: str
) -> dict[str, File]:
    """The files of one ConfigMap or Secret (all keys, or ``items``)."""
    optional = bool(src.get("optional"))
    try:
        data = sources.data(kind, name)
    except RefError:
        if optional:
            return {}
        raise ProjectionError(f'{kind.lower()} "{name}" not found') from None
    items = src.get("items")
    if not items:
        return {k: File(v, default_mode) for k, v in data.items()}
    out: dict[str, File] = {}
    for j, item in enumerate(items):
        key, path = str(item.get("key") or ""), str(item.get("path") or "")
        if key not in data:
            if optional:
                continue
            what = "config" if kind == CONFIGMAP else "secret"
            raise ProjectionError(f"{kind.lower()} references non-existent {what} key: {key}")
        mode = _mode(item.get("mode"), default_mode, f"{where}.items[{j}]")
        out[path] = File(data[key], mode)
    return out


def _downward(
    items: Sequence[Mapping[str, Any]],
    fields: Fields,
    resources: Callable[[str], Mapping[str, Any] | None],
    node: NodeCapacity,
    default_mode: int,
    where: str,
) -> dict[str, File]:
    out: dict[str, File] = {}
    for j, item in enumerate(items):
        path = str(item.get("path") or "")
        mode = _mode(item.get("mode"), default_mode, f"{where}.items[{j}]")
        if (ref := item.get("fieldRef")) is not None:
            field_path = str(ref.get("fieldPath") or "")
            if field_path == "metadata.labels":
                text = format_map(fields.labels)
            elif field_path == "metadata.annotations":
                text = format_map(fields.annotations)
            else:
                try:
                    text = fields.get(field_path)
                except Exception as exc:
                    raise ProjectionError(f"{where}.items[{j}].fieldRef: {exc}") from None
        elif (ref := item.get("resourceFieldRef")) is not None:
            container = str(ref.get("containerName") or "")
            try:
                text = resource_value(
                    resources(container), str(ref.get("resource")), ref.get("divisor"), node
                )
            except (RefError, ValueError) as exc:
                raise ProjectionError(f"{where}.items[{j}].resourceFieldRef: {exc}") from None
        else:
            raise ProjectionError(f"{where}.items[{j}]: one of fieldRef, resourceFieldRef")
        out[path] = File(text.encode(), mode)
    return out


def payload(
    vol: Mapping[str, Any],
    where: str,
    sources: Sources,
    fields: Fields,
    resources: Callable[[str], Mapping[str, Any] | None],
    node: NodeCapacity,
) -> dict[str, File]:
    """The files of one API volume. Raises ProjectionError."""
    kind = next((k for k in API_VOLUMES if k in vol), None)
    if kind is None:
        raise ProjectionError(f"{where}: not a configMap, secret, downwardAPI or projected volume")
    src = vol[kind] or {}
    default = _mode(src.get("defaultMode"), DEFAULT_MODE, f"{where}.{kind}.defaultMode")
    if kind == "configMap":
        out = _keyed(CONFIGMAP, str(src.get("name") or ""), src, sources, default, where)
    elif kind == "secret":
        out = _keyed(SECRET, str(src.get("secretName") or ""), src, sources, default, where)
    elif kind == "downwardAPI":
        out = _downward(src.get("items") or [], fields, resources, node, default, where)
    else:
        out = _projected(src.get("sources") or [], where, sources, fields, resources, node, default)
    for path in out:
        try:
            check_path(path)
        except PayloadError as exc:
            raise ProjectionError(f"{where}: path {exc}") from None
    return out


def _projected(
    srcs: Sequence[Mapping[str, Any]],
    where: str,
    sources: Sources,
    fields: Fields,
    resources: Callable[[str], Mapping[str, Any] | None],
    node: NodeCapacity,
    default: int,
) -> dict[str, File]:
    out: dict[str, File] = {}
    for j, src in enumerate(srcs):
        at = f"{where}.projected.sources[{j}]"
        if (cm := src.get("configMap")) is not None:
            part = _keyed(CONFIGMAP, str(cm.get("name") or ""), cm, sources, default, at)
        elif (sec := src.get("secret")) is not None:
            part = _keyed(SECRET, str(sec.get("name") or ""), sec, sources, default, at)
        elif (dw := src.get("downwardAPI")) is not None:
            part = _downward(dw.get("items") or [], fields, resources, node, default, at)
        else:
            kinds = ", ".join(sorted(src)) or "nothing"
            raise ProjectionError(
                f"{at}: {kinds} is not supported by kubelet-lite yet (configMap, secret, "
                "downwardAPI are; service account tokens come with the security issue)"
            )
        out.update(part)  # as the kubelet does: a later source's file wins
    return out
