"""Per-kind behaviour on create and update: defaulting, server-set fields, what a subresource
may change. Pure functions over wire dicts (camelCase), like upstream's REST strategies."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from knet.api.registry import ResourceInfo
from knet.api.times import now_rfc3339
from knet.apiserver.secretdata import default_configmap, default_secret
from knet.apiserver.strategy_ext import apply_defaults_ext, initial_status_ext
from knet.apiserver.strategy_workloads import apply_workload_defaults, prepare_workload_create

# Metadata only the server sets: a client's values give way to the stored ones.
_IMMUTABLE_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")


def new_uid() -> str:
    return str(uuid.uuid4())


# ---------------------------------------------------------------------------- defaulting


def _default_container(c: dict[str, Any]) -> None:
    if not isinstance(c, dict):
        return
    for p in c.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    image = c.get("image")
    if isinstance(image, str):
        latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(probe_name)
        if isinstance(probe, dict):
            probe.setdefault("timeoutSeconds", 1)
            probe.setdefault("periodSeconds", 10)
            probe.setdefault("successThreshold", 1)
            probe.setdefault("failureThreshold", 3)
            http = probe.get("httpGet")
            if isinstance(http, dict):
                http.setdefault("path", "/")
                http.setdefault("scheme", "HTTP")


def default_pod_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            _default_container(c)


def _default_service(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec.get("sessionAffinity") == "ClientIP":
        cfg = spec.setdefault("sessionAffinityConfig", {})
        if isinstance(cfg, dict):
            client_ip = cfg.setdefault("clientIP", {})
            if isinstance(client_ip, dict):
                client_ip.setdefault("timeoutSeconds", 10800)
    for p in spec.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
            if "targetPort" not in p and "port" in p:
                p["targetPort"] = p["port"]


def _default_workload(obj: dict[str, Any], deployment: bool) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    if deployment:
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        if isinstance(strategy, dict):
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                ru = strategy.setdefault("rollingUpdate", {})
                if isinstance(ru, dict):
                    ru.setdefault("maxUnavailable", "25%")
                    ru.setdefault("maxSurge", "25%")
    template = spec.get("template")
    if isinstance(template, dict):
        default_pod_spec(template.get("spec"))


def apply_defaults(info: ResourceInfo, obj: dict[str, Any]) -> None:
    kind = info.kind
    if kind == "Pod":
        default_pod_spec(obj.setdefault("spec", {}))
    elif kind == "Service":
        _default_service(obj)
    elif kind in ("Deployment", "ReplicaSet"):
        _default_workload(obj, deployment=kind == "Deployment")
    elif kind == "Namespace":
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("finalizers", ["kubernetes"])
    elif kind == "PodTemplate" and isinstance(obj.get("template"), dict):
        default_pod_spec(obj["template"].get("spec"))
    elif kind == "Lease":
        obj.setdefault("spec", {})
    elif kind == "Secret":
        default_secret(obj)
    elif kind == "ConfigMap":
        default_configmap(obj)
    elif apply_workload_defaults(kind, obj, default_pod_spec):
        pass
    elif kind == "EndpointSlice" and obj.get("endpoints") is None:
        # Upstream decodes a missing list as empty; clients' models require the field.
        obj["endpoints"] = []
    apply_defaults_ext(info, obj)


# ---------------------------------------------------------------------------- create / update


def prepare_for_create(info: ResourceInfo, obj: dict[str, Any], namespace: str | None) -> None:
    """Server-set fields of a new object. `obj` already has a name (generateName resolved)."""
    meta = obj.setdefault("metadata", {})
    meta["uid"] = new_uid()
    meta["creationTimestamp"] = now_rfc3339()
    meta.pop("resourceVersion", None)
    meta.pop("deletionTimestamp", None)
    meta.pop("deletionGracePeriodSeconds", None)
    if info.namespaced:
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    if info.has_status:
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    obj["apiVersion"] = info.api_version
    obj["kind"] = info.kind
    apply_defaults(info, obj)
    # Status is the controllers' to write; a create starts from the kind's initial status.
    if info.kind == "Pod":
        obj["status"] = {"phase": "Pending"}
    elif info.kind == "Namespace":
        obj["status"] = {"phase": "Active"}
    elif info.kind in ("Deployment", "ReplicaSet"):
        obj["status"] = {}
    elif info.kind == "Service":
        obj["status"] = {"loadBalancer": {}}
    prepare_workload_create(info.kind, obj)
    initial_status_ext(info, obj)


def prepare_for_update(
    info: ResourceInfo, new: dict[str, Any], old: dict[str, Any], subresource: str | None
) -> None:
    """Keep what this request may not change, and bump generation on a spec change."""
    meta = new.setdefault("metadata", {})
    old_meta = old.get("metadata", {})
    for k in _IMMUTABLE_META:
        if k in old_meta:
            meta[k] = old_meta[k]
        else:
            meta.pop(k, None)
    meta["name"] = old_meta.get("name")
    if info.namespaced:
        meta["namespace"] = old_meta.get("namespace")
    new["apiVersion"] = info.api_version
    new["kind"] = info.kind
    if subresource == "status":
        # A status write changes status (and, as upstream allows, nothing of spec or metadata
        # but labels/annotations are also kept from the old object).
        kept = {k: copy.deepcopy(v) for k, v in old.items() if k != "status"}
        status = new.get("status")
        new.clear()
        new.update(kept)
        if status is not None:
            new["status"] = status
        return
    apply_defaults(info, new)
    if info.has_status:
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)
        old_gen = old_meta.get("generation", 1)
        meta["generation"] = old_gen + 1 if new.get("spec") != old.get("spec") else old_gen
    else:
        meta.pop("generation", None)
