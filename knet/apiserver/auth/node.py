"""The Node authorizer: a kubelet (user system:node:<name>, group system:nodes) may read only
the Secrets, ConfigMaps and PersistentVolumeClaims that pods bound to its node use, request
tokens only for those pods' ServiceAccounts, and change only its own Node and the pods bound to
it. It allows or has no opinion (RBAC then decides), as upstream's."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from knet.api import registry
from knet.apiserver.auth.attributes import Attributes
from knet.apiserver.auth.user import UserInfo
from knet.apiserver.resources import Resources

NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
_READ_REFERENCED = {"secrets", "configmaps", "persistentvolumeclaims"}


def node_name(user: UserInfo) -> str | None:
    if NODES_GROUP in user.groups and user.name.startswith(NODE_PREFIX):
        return user.name[len(NODE_PREFIX) :] or None
    return None


def references(pod: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(resource, name) of every Secret, ConfigMap, PVC and ServiceAccount a pod uses."""
    spec = pod.get("spec") or {}
    yield "serviceaccounts", spec.get("serviceAccountName") or "default"
    for ref in spec.get("imagePullSecrets") or ():
        yield "secrets", str((ref or {}).get("name", ""))
    for vol in spec.get("volumes") or ():
        yield from _volume_refs(vol or {})
    for c in [*(spec.get("containers") or ()), *(spec.get("initContainers") or ())]:
        yield from _container_refs(c or {})


def _volume_refs(vol: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if vol.get("secret"):
        yield "secrets", str(vol["secret"].get("secretName", ""))
    if vol.get("configMap"):
        yield "configmaps", str(vol["configMap"].get("name", ""))
    if vol.get("persistentVolumeClaim"):
        yield "persistentvolumeclaims", str(vol["persistentVolumeClaim"].get("claimName", ""))
    for source in (vol.get("projected") or {}).get("sources") or ():
        if (source or {}).get("secret"):
            yield "secrets", str(source["secret"].get("name", ""))
        if (source or {}).get("configMap"):
            yield "configmaps", str(source["configMap"].get("name", ""))


def _container_refs(c: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for env in c.get("env") or ():
        source = (env or {}).get("valueFrom") or {}
        if source.get("secretKeyRef"):
            yield "secrets", str(source["secretKeyRef"].get("name", ""))
        if source.get("configMapKeyRef"):
            yield "configmaps", str(source["configMapKeyRef"].get("name", ""))
    for env_from in c.get("envFrom") or ():
        if (env_from or {}).get("secretRef"):
            yield "secrets", str(env_from["secretRef"].get("name", ""))
        if (env_from or {}).get("configMapRef"):
            yield "configmaps", str(env_from["configMapRef"].get("name", ""))


async def _pods(res: Resources, namespace: str) -> Iterable[dict[str, Any]]:
    info = registry.by_kind("Pod")
    cache = res.watch_cache.get(info) if res.watch_cache is not None else None
    if cache is not None:
        prefix = info.key_prefix(namespace)
        return [o for k, o in cache.objects.items() if k.startswith(prefix)]
    items, _ = await res.list_objects(info, namespace, None, None)
    return items


async def _bound_pod(res: Resources, node: str, namespace: str, name: str) -> bool:
    return any(
        p["metadata"].get("name") == name and (p.get("spec") or {}).get("nodeName") == node
        for p in await _pods(res, namespace)
    )


async def allows(res: Resources, user: UserInfo, a: Attributes) -> bool:
    """True when the Node authorizer allows `a`; False is "no opinion"."""
    node = node_name(user)
    if node is None or not a.resource_request or a.api_group not in ("", "coordination.k8s.io"):
        return False
    if a.resource in _READ_REFERENCED and not a.subresource and a.verb == "get":
        return await _referenced(res, node, a.namespace, a.resource, a.name)
    if a.resource == "serviceaccounts" and a.subresource == "token" and a.verb == "create":
        return await _referenced(res, node, a.namespace, "serviceaccounts", a.name)
    if a.resource == "nodes" and a.verb in ("update", "patch", "delete"):
        return a.name == node  # its own Node only (and its status)
    if a.resource == "pods" and a.verb in ("update", "patch", "delete"):
        # Its own pods, and their status: a node never touches another node's pods.
        return a.subresource in ("", "status") and await _bound_pod(res, node, a.namespace, a.name)
    if a.resource == "leases" and a.api_group == "coordination.k8s.io":
        return a.namespace == "kube-node-lease" and a.name in ("", node)
    return False


async def _referenced(res: Resources, node: str, ns: str, resource: str, name: str) -> bool:
    for pod in await _pods(res, ns):
        if (pod.get("spec") or {}).get("nodeName") != node:
            continue
        if (resource, name) in set(references(pod)):
            return True
    return False
