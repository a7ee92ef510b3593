"""A container's runtime inputs, from the pod spec. Pure.

The hostname (the pod's name, as Kubernetes truncates it), the environment (``envFrom``,
``valueFrom`` of ConfigMaps, Secrets, pod fields and resources, and ``$(VAR)`` references,
resolved as the kubelet resolves them), the expanded command line, and stable identifiers for
each run.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from knet.api.base import to_wire
from knet.api.core import Container
from kubelet_lite.volumes.sources import (
    CONFIGMAP,
    SECRET,
    NodeCapacity,
    RefError,
    Sources,
    resource_value,
)

HOSTNAME_MAX = 63
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_LABEL_REF = re.compile(r"metadata\.(labels|annotations)\['([^']+)'\]")


class ContainerConfigError(Exception):
    """The container's spec cannot be turned into a process (CreateContainerConfigError)."""

    reason = "CreateContainerConfigError"


def pod_hostname(pod_name: str, spec_hostname: str | None = None) -> str:
    """spec.hostname, else the pod name cut to 63 characters without a trailing '-' or '.'."""
    if spec_hostname:
        return spec_hostname[:HOSTNAME_MAX]
    return pod_name[:HOSTNAME_MAX].rstrip("-.") or pod_name[:HOSTNAME_MAX]


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined references are replaced, ``$$`` is a literal
    ``$``, anything else is left as written."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = text.find(")", i + 2)
            if end == -1:
                out.append(text[i:])
                break
            name = text[i + 2 : end]
            out.append(env[name] if name in env else text[i : end + 1])
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class PodFields:
    """What ``fieldRef`` can refer to."""

    name: str
    namespace: str
    uid: str
    node_name: str
    host_ip: str
    pod_ip: str
    service_account: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]

    def get(self, path: str) -> str:
        simple = {
            "metadata.name": self.name,
            "metadata.namespace": self.namespace,
            "metadata.uid": self.uid,
            "spec.nodeName": self.node_name,
            "spec.serviceAccountName": self.service_account,
            "status.hostIP": self.host_ip,
            "status.hostIPs": self.host_ip,
            "status.podIP": self.pod_ip,
            "status.podIPs": self.pod_ip,
        }
        if path in simple:
            return simple[path]
        m = _LABEL_REF.fullmatch(path)
        if m:
            source = self.labels if m[1] == "labels" else self.annotations
            return source.get(m[2], "")
        raise ContainerConfigError(f"fieldRef {path!r} is not supported")


ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


def _value_from(
    c: Container,
    vf: Mapping[str, Any],
    fields: PodFields,
    sources: Sources,
    node: NodeCapacity,
) -> str | None:
    """One ``valueFrom``'s value; None when an optional reference is missing."""
    cm, sec = vf.get("configMapKeyRef"), vf.get("secretKeyRef")
    if isinstance(cm, dict) or isinstance(sec, dict):
        ref = cm if isinstance(cm, dict) else sec
        assert ref is not None
        kind = CONFIGMAP if isinstance(cm, dict) else SECRET
        try:
            return sources.value(kind, str(ref.get("name") or ""), str(ref.get("key") or ""))
        except RefError:
            if ref.get("optional"):
                return None
            raise
    if isinstance(ref := vf.get("fieldRef"), dict):
        return fields.get(str(ref.get("fieldPath") or ""))
    if isinstance(ref := vf.get("resourceFieldRef"), dict):
        return resource_value(
            to_wire(c.resources) if c.resources is not None else None,
            str(ref.get("resource") or ""),
            ref.get("divisor"),
            node,
        )
    kinds = ", ".join(sorted(vf)) or "nothing"
    raise ContainerConfigError(f"valueFrom {kinds} is not supported")


def _env_from(
    c: Container, sources: Sources, env: dict[str, str], warnings: list[str] | None
) -> None:
    """``envFrom``: every key of each ConfigMap/Secret (with its prefix); keys that are no
    environment variable name are skipped, with a warning as the kubelet gives it."""
    for src in (c.model_extra or {}).get("envFrom") or []:
        cm, sec = src.get("configMapRef"), src.get("secretRef")
        ref = cm if isinstance(cm, dict) else sec if isinstance(sec, dict) else None
        if ref is None:
            continue
        kind, name = (CONFIGMAP if ref is cm else SECRET), str(ref.get("name") or "")
        try:
            data = sources.data(kind, name)
        except RefError:
            if ref.get("optional"):
                continue
            raise
        prefix, invalid = str(src.get("prefix") or ""), []
        for key in sorted(data):
            if not ENV_NAME.fullmatch(prefix + key):
                invalid.append(prefix + key)
                continue
            env[prefix + key] = data[key].decode("utf-8", "replace")
        if invalid and warnings is not None:
            warnings.append(
                f"Keys [{', '.join(invalid)}] from the EnvFrom {kind.lower()} "
                f"{sources.namespace}/{name} were skipped since they are considered invalid "
                "environment variable names."
            )


def container_env(
    c: Container,
    fields: PodFields,
    hostname: str,
    sources: Sources | None = None,
    node: NodeCapacity | None = None,
    warnings: list[str] | None = None,
    services: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The container's environment as the kubelet makes it: defaults, the Service variables
    (``services``), then ``envFrom``, then ``env`` in order (a ``value`` may refer to the
    variables before it; values read from elsewhere are taken as they are). Raises
    ContainerConfigError with the kubelet's message for a missing ConfigMap, Secret or key
    that is not optional."""
    sources = sources if sources is not None else Sources(fields.namespace)
    node = node if node is not None else NodeCapacity(Decimal(1), 0)
    env: dict[str, str] = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, "HOME": "/root"}
    env.update(services or {})
    try:
        _env_from(c, sources, env, warnings)
        for var in c.env or []:
            if var.value_from is None:
                env[var.name] = expand(var.value or "", env)
                continue
            try:
                value = _value_from(c, var.value_from, fields, sources, node)
            except ContainerConfigError as exc:
                raise ContainerConfigError(f"container {c.name!r}: env {var.name}: {exc}") from None
            if value is not None:
                env[var.name] = value
    except (RefError, ValueError) as exc:
        raise ContainerConfigError(str(exc)) from None
    return env


def expanded_command(c: Container, env: Mapping[str, str]) -> tuple[list[str], list[str]]:
    return (
        [expand(a, env) for a in c.command or []],
        [expand(a, env) for a in c.args or []],
    )


def container_id(pod_uid: str, name: str, attempt: int) -> str:
    digest = hashlib.sha256(f"{pod_uid}\x00{name}\x00{attempt}".encode()).hexdigest()
    return f"knet://{digest}"


def spec_hash(c: Container) -> str:
    """Changes when the container's definition does (kubelet restarts it then)."""
    doc: dict[str, Any] = to_wire(c)
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]
