"""Table printers for the stored core/v1 kinds: PersistentVolumeClaim, PersistentVolume,
ResourceQuota, LimitRange, PodTemplate, ServiceAccount and ComponentStatus.

Columns and cells follow kube-apiserver 1.32's printers. printers.py
registers them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from knet.api.selectors import format_labels
from knet.apiserver.printcells import (
    _AGE_DESC,
    _NAME_DESC,
    NONE,
    UNSET,
    _col,
    _containers_cells,
    _created_at,
    _dict,
    _dicts,
    _get,
    _list,
    _since,
    _str,
)

# Upstream prints access modes in this fixed order whatever order they were given in.
_ACCESS_MODES: Final = (
    ("ReadWriteOnce", "RWO"),
    ("ReadOnlyMany", "ROX"),
    ("ReadWriteMany", "RWX"),
    ("ReadWriteOncePod", "RWOP"),
)


def access_modes(value: Any) -> str:
    given = set(_list(value))
    return ",".join(short for mode, short in _ACCESS_MODES if mode in given)


def _quantity(value: Any) -> str:
    return str(value) if isinstance(value, str | int | float) and value != "" else ""


def _storage_class(obj: dict[str, Any]) -> str:
    beta = _dict(_get(obj, "metadata", "annotations")).get(
        "volume.beta.kubernetes.io/storage-class"
    )
    return _str(beta) or _str(_get(obj, "spec", "storageClassName"))


def _vac(obj: dict[str, Any]) -> str:
    return _str(_get(obj, "spec", "volumeAttributesClassName")) or UNSET


def _pvc_cells(pvc: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec, status = (_dict(pvc.get(k)) for k in ("metadata", "spec", "status"))
    phase = _str(status.get("phase"))
    if meta.get("deletionTimestamp"):
        phase = "Terminating"
    bound = bool(_str(spec.get("volumeName")))
    return [
        _str(meta.get("name")),
        phase,
        _str(spec.get("volumeName")),
        _quantity(_dict(status.get("capacity")).get("storage")) if bound else "",
        access_modes(status.get("accessModes")) if bound else "",
        _storage_class(pvc),
        _vac(pvc),
        _since(meta.get("creationTimestamp"), now),
        _str(spec.get("volumeMode")) or "Filesystem",
    ]


def _pv_cells(pv: dict[str, Any], now: datetime) -> list[Any]:
    meta, spec, status = (_dict(pv.get(k)) for k in ("metadata", "spec", "status"))
    claim = _dict(spec.get("claimRef"))
    claim_text = f"{_str(claim.get('namespace'))}/{_str(claim.get('name'))}" if claim else ""
    phase = _str(status.get("phase"))
    if meta.get("deletionTimestamp"):
        phase = "Terminating"
    return [
        _str(meta.get("name")),
        _quantity(_dict(spec.get("capacity")).get("storage")),
        access_modes(spec.get("accessModes")),
        _str(spec.get("persistentVolumeReclaimPolicy")),
        phase,
        claim_text,
        _storage_class(pv),
        _vac(pv),
        _str(status.get("reason")),
        _since(meta.get("creationTimestamp"), now),
        _str(spec.get("volumeMode")) or "Filesystem",
    ]


def _quota_cells(quota: dict[str, Any], now: datetime) -> list[Any]:
    meta = _dict(quota.get("metadata"))
    hard = _dict(_get(quota, "status", "hard"))
    used = _dict(_get(quota, "status", "used"))
    requests: list[str] = []
    limits: list[str] = []
    for key in sorted(hard):
        text = f"{key}: {_quantity(used.get(key)) or '0'}/{_quantity(hard[key])}"
        (limits if key.startswith("limits.") else requests).append(text)
    return [
        _str(meta.get("name")),
        _since(meta.get("creationTimestamp"), now),
        ", ".join(requests),
        ", ".join(limits),
    ]


def _limitrange_cells(lr: dict[str, Any], now: datetime) -> list[Any]:
    meta = _dict(lr.get("metadata"))
    return [_str(meta.get("name")), _created_at(meta.get("creationTimestamp"))]


def _podtemplate_cells(pt: dict[str, Any], now: datetime) -> list[Any]:
    template = _dict(pt.get("template"))
    names, images = _containers_cells(template.get("spec"))
    return [
        _str(_get(pt, "metadata", "name")),
        names,
        images,
        format_labels(_dict(_get(template, "metadata", "labels"))),
    ]


def _serviceaccount_cells(sa: dict[str, Any], now: datetime) -> list[Any]:
    meta = _dict(sa.get("metadata"))
    return [
        _str(meta.get("name")),
        len(_list(sa.get("secrets"))),
        _since(meta.get("creationTimestamp"), now),
    ]


def _componentstatus_cells(cs: dict[str, Any], now: datetime) -> list[Any]:
    status, message, error = "Unknown", "", ""
    for cond in _dicts(cs.get("conditions")):
        if cond.get("type") == "Healthy":
            status = "Healthy" if cond.get("status") == "True" else "Unhealthy"
            message = _str(cond.get("message"))
            error = _str(cond.get("error"))
    return [_str(_get(cs, "metadata", "name")), status, message, error]


COLUMNS: Final[dict[str, tuple[dict[str, Any], ...]]] = {
    "persistentvolumeclaims": (
        _col("Name", _NAME_DESC),
        _col("Status", "Phase of the claim (Pending, Bound, Lost)."),
        _col("Volume", "Name of the bound PersistentVolume."),
        _col("Capacity", "Capacity of the bound volume."),
        _col("Access Modes", "Access modes of the bound volume."),
        _col("StorageClass", "Storage class of the claim."),
        _col("VolumeAttributesClass", "Volume attributes class of the claim."),
        _col("Age", _AGE_DESC),
        _col("VolumeMode", "Filesystem or Block.", priority=1),
    ),
    "persistentvolumes": (
        _col("Name", _NAME_DESC),
        _col("Capacity", "Capacity of the volume."),
        _col("Access Modes", "Ways the volume can be mounted."),
        _col("Reclaim Policy", "What happens to the volume when its claim goes."),
        _col("Status", "Phase of the volume (Available, Bound, Released, Failed)."),
        _col("Claim", "The claim bound to the volume."),
        _col("StorageClass", "Storage class of the volume."),
        _col("VolumeAttributesClass", "Volume attributes class of the volume."),
        _col("Reason", "Why the volume is in its phase."),
        _col("Age", _AGE_DESC),
        _col("VolumeMode", "Filesystem or Block.", priority=1),
    ),
    "resourcequotas": (
        _col("Name", _NAME_DESC),
        _col("Age", _AGE_DESC),
        _col("Request", "Used over hard for each requested resource."),
        _col("Limit", "Used over hard for each resource limit."),
    ),
    "limitranges": (
        _col("Name", _NAME_DESC),
        _col("Created At", "Creation time of the object.", type_="date"),
    ),
    "podtemplates": (
        _col("Template", _NAME_DESC),
        _col("Containers", "Names of the containers in the template."),
        _col("Images", "Images of the containers in the template."),
        _col("Pod Labels", "Labels of the template's pods."),
    ),
    "serviceaccounts": (
        _col("Name", _NAME_DESC),
        _col("Secrets", "Number of secrets listed by the service account.", type_="integer"),
        _col("Age", _AGE_DESC),
    ),
    "componentstatuses": (
        _col("Name", _NAME_DESC),
        _col("Status", "Whether the component answered healthy."),
        _col("Message", "What the component's check reported."),
        _col("Error", "Why the check failed."),
    ),
}

PRINTERS: Final[dict[str, Callable[[dict[str, Any], datetime], list[Any]]]] = {
    "persistentvolumeclaims": _pvc_cells,
    "persistentvolumes": _pv_cells,
    "resourcequotas": _quota_cells,
    "limitranges": _limitrange_cells,
    "podtemplates": _podtemplate_cells,
    "serviceaccounts": _serviceaccount_cells,
    "componentstatuses": _componentstatus_cells,
}

__all__ = ["COLUMNS", "NONE", "PRINTERS", "access_modes"]
