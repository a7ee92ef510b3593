"""Validation of a pod spec's ``volumes`` and its containers' ``volumeMounts``, with upstream's
field paths and words: one source per volume, unique DNS-1123 names, file modes within 0777,
``items`` paths relative and without '..', hostPath types, mounts naming a volume of the pod
at a unique absolute path, subPaths inside their volume."""

from __future__ import annotations

import posixpath
from typing import Any

from knet.api.names import is_dns1123_label
from knet.apiserver.fielderrors import (
    Cause,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
)

Causes = list[Cause]

SOURCES = (
    "emptyDir",
    "hostPath",
    "configMap",
    "secret",
    "downwardAPI",
    "projected",
    "persistentVolumeClaim",
    "nfs",
    "csi",
    "ephemeral",
    "image",
    "iscsi",
    "local",
)
HOST_PATH_TYPES = (
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
)
MODE_DETAIL = "must be a number between 0 and 0777 (octal), both inclusive"


def _mode(value: Any, path: str, out: Causes) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0o777:
        out.append(invalid(path, value, MODE_DETAIL))


def _local_path(value: Any, path: str, out: Causes, *, descending_only: bool = False) -> None:
    """A path inside the volume: relative, no '..' element (items also may not start '..')."""
    text = str(value)
    if text.startswith("/"):
        out.append(invalid(path, value, "must be a relative path"))
    if ".." in text.split("/"):
        out.append(invalid(path, value, "must not contain '..'"))
    elif not descending_only and text.startswith(".."):
        out.append(invalid(path, value, "must not start with '..'"))


def _items(items: Any, path: str, out: Causes) -> None:
    if not isinstance(items, list):
        return
    for j, item in enumerate(items):
        at = f"{path}[{j}]"
        if not isinstance(item, dict):
            out.append(invalid(at, item, "must be an object"))
            continue
        if "key" in item and not item.get("key"):
            out.append(required(f"{at}.key"))
        if not item.get("path"):
            out.append(required(f"{at}.path"))
        else:
            _local_path(item["path"], f"{at}.path", out)
        _mode(item.get("mode"), f"{at}.mode", out)


def _source(kind: str, src: Any, path: str, out: Causes) -> None:
    if not isinstance(src, dict):
        return
    if kind in ("configMap", "secret", "downwardAPI", "projected"):
        _mode(src.get("defaultMode"), f"{path}.defaultMode", out)
        _items(src.get("items"), f"{path}.items", out)
    if kind == "configMap" and not src.get("name"):
        out.append(required(f"{path}.name"))
    if kind == "secret" and not src.get("secretName"):
        out.append(required(f"{path}.secretName"))
    if kind == "hostPath":
        if not src.get("path"):
            out.append(required(f"{path}.path"))
        kind_of = src.get("type")
        if kind_of is not None and kind_of not in HOST_PATH_TYPES:
            out.append(not_supported(f"{path}.type", kind_of, HOST_PATH_TYPES))
    if kind == "projected":
        for j, s in enumerate(src.get("sources") or []):
            for sub in ("configMap", "secret", "downwardAPI"):
                if isinstance(s, dict) and isinstance(s.get(sub), dict):
                    _items(s[sub].get("items"), f"{path}.sources[{j}].{sub}.items", out)


def validate_volumes(spec: dict[str, Any], path: str) -> Causes:
    out: Causes = []
    volumes = spec.get("volumes")
    names: set[str] = set()
    for i, vol in enumerate(volumes if isinstance(volumes, list) else []):
        at = f"{path}.volumes[{i}]"
        if not isinstance(vol, dict):
            out.append(invalid(at, vol, "must be an object"))
            continue
        name = vol.get("name")
        if not name:
            out.append(required(f"{at}.name"))
        elif name in names:
            out.append(duplicate(f"{at}.name", name))
        else:
            names.add(str(name))
            for msg in is_dns1123_label(str(name)):
                out.append(invalid(f"{at}.name", name, msg))
        kinds = [k for k in vol if k != "name"]
        if not kinds:
            out.append(required(at, "must specify a volume type"))
        for k in kinds[1:]:
            out.append(forbidden(f"{at}.{k}", "may not specify more than 1 volume type"))
        if kinds:
            _source(kinds[0], vol[kinds[0]], f"{at}.{kinds[0]}", out)
    for key in ("initContainers", "containers"):
        containers = spec.get(key)
        for ci, c in enumerate(containers if isinstance(containers, list) else []):
            if isinstance(c, dict):
                out.extend(_mounts(c.get("volumeMounts"), f"{path}.{key}[{ci}]", names))
    return out


def _mounts(mounts: Any, path: str, volumes: set[str]) -> Causes:
    out: Causes = []
    seen: set[str] = set()
    for i, m in enumerate(mounts if isinstance(mounts, list) else []):
        at = f"{path}.volumeMounts[{i}]"
        if not isinstance(m, dict):
            out.append(invalid(at, m, "must be an object"))
            continue
        name, target = m.get("name"), m.get("mountPath")
        if not name:
            out.append(required(f"{at}.name"))
        elif name not in volumes:
            out.append(Cause("FieldValueNotFound", f'Not found: "{name}"', f"{at}.name"))
        if not target:
            out.append(required(f"{at}.mountPath"))
        else:
            norm = posixpath.normpath(str(target))
            if norm in seen:
                out.append(invalid(f"{at}.mountPath", target, "must be unique"))
            seen.add(norm)
        if m.get("subPath"):
            _local_path(m["subPath"], f"{at}.subPath", out, descending_only=True)
    return out
