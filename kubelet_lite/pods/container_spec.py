"""A container's runtime inputs, from the pod spec. Pure.

The hostname (the pod's name, as Kubernetes truncates it), the environment (with
``valueFrom.fieldRef`` and ``$(VAR)`` references resolved as kubelet resolves them), the expanded
command line, and stable identifiers for each run.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from knet.api.base import to_wire
from knet.api.core import Container

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


def container_env(
    c: Container, fields: PodFields, hostname: str, services: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The container's environment: defaults, the Service variables, then spec.env in order
    (each may refer to the ones before it)."""
    extra = c.model_extra or {}
    if extra.get("envFrom"):
        raise ContainerConfigError(
            f"container {c.name!r}: envFrom (ConfigMaps, Secrets) is not supported by kubelet-lite"
        )
    env: dict[str, str] = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, "HOME": "/root"}
    env.update(services or {})
    for var in c.env or []:
        if var.value_from is not None:
            ref = var.value_from.get("fieldRef")
            if not isinstance(ref, dict) or not isinstance(ref.get("fieldPath"), str):
                kinds = ", ".join(sorted(var.value_from)) or "nothing"
                raise ContainerConfigError(
                    f"container {c.name!r}: env {var.name}: valueFrom {kinds} is not supported "
                    "by kubelet-lite (only fieldRef is)"
                )
            try:
                env[var.name] = fields.get(ref["fieldPath"])
            except ContainerConfigError as exc:
                raise ContainerConfigError(f"container {c.name!r}: env {var.name}: {exc}") from None
        else:
            env[var.name] = expand(var.value or "", env)
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
