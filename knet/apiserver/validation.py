"""Field validation of stored objects, as kube-apiserver's would flag them (422 Invalid causes).

`validate_object(kind, obj, old=...)` never raises on malformed input: a wrong shape (a string
where a list belongs) is reported as a Cause like any other mistake. Objects are wire dicts
(camelCase) *after* defaulting, so fields that defaulting fills in (a port's protocol, a pod's
restartPolicy, a Service's type) are accepted when absent and checked when present.

Field paths and messages follow upstream's spelling (`spec.containers[0].image`, "Required
value", `Invalid value: "x": <detail>`) so that kubectl prints what people expect.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import Any

from knet.api.names import (
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    label_value_errors,
    max_len_error,
    qualified_name_errors,
)
from knet.api.selectors import SelectorError, selector_from_label_selector
from knet.apiserver.configvalidation import validate_configmap, validate_secret
from knet.apiserver.fielderrors import (
    Cause,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
    too_long,
    too_many,
)
from knet.apiserver.podvolumes import validate_volumes
from knet.apiserver.rbac_validation import RBAC_KINDS, path_segment_name_errors
from knet.apiserver.validation_ext import VALIDATORS as VALIDATORS_EXT

__all__ = [
    "Cause",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "port_name_errors",
    "port_number_errors",
    "validate_object",
]


TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
MAX_ENDPOINTS_PER_SLICE = 1000
MAX_ADDRESSES_PER_ENDPOINT = 100
MAX_PORTS_PER_SLICE = 20000

PROTOCOLS = ("SCTP", "TCP", "UDP")
RESTART_POLICIES = ("Always", "Never", "OnFailure")
SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
SESSION_AFFINITIES = ("ClientIP", "None")
TRAFFIC_POLICIES = ("Cluster", "Local")
ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")
DEPLOYMENT_STRATEGIES = ("Recreate", "RollingUpdate")

POD_UPDATE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


# ---------------------------------------------------------------------------------------------
# String formats (upstream k8s.io/apimachinery/pkg/util/validation)

_LABEL_MAX = 63
_PORT_NAME_CHARSET = re.compile(r"[-a-z0-9]+")
_PORT_NAME_LETTER = re.compile(r"[a-z]")


def port_number_errors(port: int) -> list[str]:
    return [] if 1 <= port <= 65535 else ["must be between 1 and 65535, inclusive"]


def port_name_errors(name: str) -> list[str]:
    """IANA_SVC_NAME rules, as upstream IsValidPortName."""
    errs: list[str] = []
    if len(name) > 15:
        errs.append(max_len_error(15))
    if not _PORT_NAME_CHARSET.fullmatch(name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_LETTER.search(name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def _ip_errors(s: str, family: int | None = None) -> list[str]:
    try:
        ip = ipaddress.ip_address(s)
    except ValueError:
        ip = None
    if family == 4 and (ip is None or ip.version != 4):
        return ["must be a valid IPv4 address"]
    if family == 6 and (ip is None or ip.version != 6):
        return ["must be a valid IPv6 address"]
    if ip is None:
        return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
    return []


def _cidr_errors(s: str) -> list[str]:
    try:
        ipaddress.ip_network(s, strict=False)  # upstream accepts host bits, as net.ParseCIDR
    except ValueError:
        return ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]
    return [] if "/" in s else ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]


# ---------------------------------------------------------------------------------------------
# Shape helpers: absent (None) is not an error here; a present value of the wrong type is.

Causes = list[Cause]


def _as_dict(value: Any, path: str, out: Causes) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    out.append(invalid(path, value, "must be an object"))
    return None


def _as_list(value: Any, path: str, out: Causes) -> list[Any] | None:
    if value is None or isinstance(value, list):
        return value
    out.append(invalid(path, value, "must be a list"))
    return None


def _as_str(value: Any, path: str, out: Causes) -> str | None:
    if value is None or isinstance(value, str):
        return value
    out.append(invalid(path, value, "must be a string"))
    return None


def _as_int(value: Any, path: str, out: Causes) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    out.append(invalid(path, value, "must be an integer"))
    return None


def _blank(value: Any) -> bool:
    """Absent, or Go's zero value for a string or an integer (what upstream calls "not set")."""
    if value is None or value == "":
        return True
    return isinstance(value, int) and not isinstance(value, bool) and value == 0


def _dict_or_empty(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list_or_empty(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _invalid_each(path: str, value: Any, messages: list[str]) -> Causes:
    return [invalid(path, value, m) for m in messages]


def _port_number(value: Any, path: str, out: Causes) -> None:
    port = _as_int(value, path, out)
    if port is not None:
        out.extend(_invalid_each(path, port, port_number_errors(port)))


def _protocol(value: Any, path: str, out: Causes) -> None:
    proto = _as_str(value, path, out)
    if proto is not None and proto not in PROTOCOLS:
        out.append(not_supported(path, proto, PROTOCOLS))


def _choice(value: Any, path: str, choices: Sequence[str], out: Causes) -> str | None:
    text = _as_str(value, path, out)
    if text is not None and text not in choices:
        out.append(not_supported(path, text, choices))
        return None
    return text


def _non_negative(value: Any, path: str, out: Causes) -> None:
    n = _as_int(value, path, out)
    if n is not None and n < 0:
        out.append(invalid(path, n, "must be greater than or equal to 0"))


# ---------------------------------------------------------------------------------------------
# Metadata

NameRule = Callable[[str], list[str]]

# kind -> (name rule, namespaced). Unknown kinds: DNS-1123 subdomain names, namespaced.
_KIND_META: dict[str, tuple[NameRule, bool]] = {
    "Namespace": (is_dns1123_label, False),
    "Node": (is_dns1123_subdomain, False),
    # Upstream 1.32 ValidateServiceName is a DNS-1035 label (must start with a letter).
    "Service": (is_dns1035_label, True),
}
_KIND_META.update({k: (path_segment_name_errors, True) for k in RBAC_KINDS})  # RBAC names


def validate_labels(value: Any, path: str) -> Causes:
    out: Causes = []
    labels = _as_dict(value, path, out)
    for key, val in (labels or {}).items():
        out.extend(_invalid_each(path, key, qualified_name_errors(key)))
        if not isinstance(val, str):
            out.append(invalid(f"{path}[{key}]", val, "must be a string"))
        else:
            out.extend(_invalid_each(f"{path}[{key}]", val, label_value_errors(val)))
    return out


def _annotations(value: Any, path: str) -> Causes:
    out: Causes = []
    annotations = _as_dict(value, path, out)
    total = 0
    for key, val in (annotations or {}).items():
        out.extend(_invalid_each(path, key, qualified_name_errors(key.lower())))
        if not isinstance(val, str):
            out.append(invalid(f"{path}[{key}]", val, "must be a string"))
            continue
        total += len(key.encode()) + len(val.encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        out.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return out


def _metadata(kind: str, obj: dict[str, Any]) -> Causes:
    out: Causes = []
    name_rule, namespaced = _KIND_META.get(kind, (is_dns1123_subdomain, True))
    meta = _as_dict(obj.get("metadata"), "metadata", out)
    if meta is None:
        if "metadata" not in obj:
            out.append(required("metadata.name", "name or generateName is required"))
        return out
    name = _as_str(meta.get("name"), "metadata.name", out)
    generate = _as_str(meta.get("generateName"), "metadata.generateName", out)
    if name:
        out.extend(_invalid_each("metadata.name", name, name_rule(name)))
    elif _blank(meta.get("name")) and not generate:
        out.append(required("metadata.name", "name or generateName is required"))
    namespace = _as_str(meta.get("namespace"), "metadata.namespace", out)
    if namespace:
        if namespaced:
            out.extend(_invalid_each("metadata.namespace", namespace, is_dns1123_label(namespace)))
        else:
            out.append(forbidden("metadata.namespace", "not allowed on this type"))
    out.extend(validate_labels(meta.get("labels"), "metadata.labels"))
    out.extend(_annotations(meta.get("annotations"), "metadata.annotations"))
    return out


# ---------------------------------------------------------------------------------------------
# Pods


def _container_ports(value: Any, path: str) -> Causes:
    out: Causes = []
    names: set[str] = set()
    for i, raw in enumerate(_as_list(value, path, out) or []):
        p = f"{path}[{i}]"
        port = _as_dict(raw, p, out)
        if port is None:
            continue
        if _blank(port.get("containerPort")):
            out.append(required(f"{p}.containerPort"))
        else:
            _port_number(port.get("containerPort"), f"{p}.containerPort", out)
        if not _blank(port.get("hostPort")):
            _port_number(port.get("hostPort"), f"{p}.hostPort", out)
        name = _as_str(port.get("name"), f"{p}.name", out)
        if name:
            msgs = port_name_errors(name)
            if msgs:
                out.extend(_invalid_each(f"{p}.name", name, msgs))
            elif name in names:
                out.append(duplicate(f"{p}.name", name))
            names.add(name)
        _protocol(port.get("protocol"), f"{p}.protocol", out)
    return out


def _containers(value: Any, path: str, *, need_one: bool) -> Causes:
    out: Causes = []
    containers = _as_list(value, path, out)
    if containers is None or not containers:
        if need_one and not out:
            out.append(required(path))
        return out
    names: set[str] = set()
    for i, raw in enumerate(containers):
        p = f"{path}[{i}]"
        c = _as_dict(raw, p, out)
        if c is None:
            continue
        name = _as_str(c.get("name"), f"{p}.name", out)
        if _blank(c.get("name")):
            out.append(required(f"{p}.name"))
        elif name:
            msgs = is_dns1123_label(name)
            if msgs:
                out.extend(_invalid_each(f"{p}.name", name, msgs))
            elif name in names:
                out.append(duplicate(f"{p}.name", name))
            names.add(name)
        _as_str(c.get("image"), f"{p}.image", out)
        if _blank(c.get("image")):
            out.append(required(f"{p}.image"))
        out.extend(_container_ports(c.get("ports"), f"{p}.ports"))
    return out


def _pod_spec(value: Any, path: str, *, template: bool) -> Causes:
    out: Causes = []
    spec = _as_dict(value, path, out)
    if spec is None:
        if not out:
            out.append(required(f"{path}.containers"))
        return out
    out.extend(_containers(spec.get("containers"), f"{path}.containers", need_one=True))
    out.extend(_containers(spec.get("initContainers"), f"{path}.initContainers", need_one=False))
    out.extend(validate_volumes(spec, path))
    policy = _choice(spec.get("restartPolicy"), f"{path}.restartPolicy", RESTART_POLICIES, out)
    if template and policy is not None and policy != "Always":
        # A controller's pods are restarted forever; upstream only allows Always there.
        out.append(not_supported(f"{path}.restartPolicy", policy, ["Always"]))
    node_name = _as_str(spec.get("nodeName"), f"{path}.nodeName", out)
    if node_name:
        out.extend(_invalid_each(f"{path}.nodeName", node_name, is_dns1123_subdomain(node_name)))
    deadline = _as_int(spec.get("activeDeadlineSeconds"), f"{path}.activeDeadlineSeconds", out)
    if deadline is not None and deadline < 1:
        out.append(
            invalid(
                f"{path}.activeDeadlineSeconds",
                deadline,
                "must be between 1 and 2147483647, inclusive",
            )
        )
    _non_negative(
        spec.get("terminationGracePeriodSeconds"), f"{path}.terminationGracePeriodSeconds", out
    )
    return out


def _validate_pod(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    out = _pod_spec(obj.get("spec"), "spec", template=False)
    if old is not None and not out:
        out.extend(_pod_update(obj.get("spec"), old.get("spec")))
    return out


def _pod_update(new_spec: Any, old_spec: Any) -> Causes:
    if not isinstance(new_spec, dict) or not isinstance(old_spec, dict):
        return []
    # Copy the mutable fields over from the old spec; whatever still differs is forbidden.
    masked = copy.deepcopy(new_spec)
    for key in ("containers", "initContainers"):
        new_list, old_list = masked.get(key), old_spec.get(key)
        if isinstance(new_list, list) and isinstance(old_list, list):
            for new_c, old_c in zip(new_list, old_list, strict=False):
                if isinstance(new_c, dict) and isinstance(old_c, dict):
                    _copy_key(old_c, new_c, "image")
    _copy_key(old_spec, masked, "activeDeadlineSeconds")
    old_tol = _list_or_empty(old_spec.get("tolerations"))
    new_tol = _list_or_empty(masked.get("tolerations"))
    if new_tol[: len(old_tol)] == old_tol:
        _copy_key(old_spec, masked, "tolerations")
    old_grace = old_spec.get("terminationGracePeriodSeconds")
    if (
        isinstance(old_grace, int)
        and old_grace < 0
        and masked.get("terminationGracePeriodSeconds") == 1
    ):
        _copy_key(old_spec, masked, "terminationGracePeriodSeconds")
    if masked == old_spec:
        return []
    changed = sorted(k for k in masked.keys() | old_spec.keys() if masked.get(k) != old_spec.get(k))
    detail = POD_UPDATE_MESSAGE + "\n  changed: " + ", ".join(f"spec.{k}" for k in changed)
    return [forbidden("spec", detail)]


def _copy_key(src: dict[str, Any], dst: dict[str, Any], key: str) -> None:
    if key in src:
        dst[key] = copy.deepcopy(src[key])
    else:
        dst.pop(key, None)


# ---------------------------------------------------------------------------------------------
# Services


def _target_port(value: Any, path: str, out: Causes) -> None:
    if value is None:
        return  # defaulted to `port`
    if isinstance(value, bool):
        out.append(invalid(path, value, "must be an integer or a string"))
    elif isinstance(value, int):
        out.extend(_invalid_each(path, value, port_number_errors(value)))
    elif isinstance(value, str):
        out.extend(_invalid_each(path, value, port_name_errors(value)))
    else:
        out.append(invalid(path, value, "must be an integer or a string"))


def _service_ports(spec: dict[str, Any], svc_type: str, out: Causes) -> None:
    ports = _as_list(spec.get("ports"), "spec.ports", out)
    if ports is None:
        return
    names: set[str] = set()
    seen: set[tuple[Any, Any]] = set()
    for i, raw in enumerate(ports):
        p = f"spec.ports[{i}]"
        port = _as_dict(raw, p, out)
        if port is None:
            continue
        name = _as_str(port.get("name"), f"{p}.name", out)
        if not name:
            if len(ports) > 1:
                out.append(required(f"{p}.name"))
        else:
            msgs = is_dns1123_label(name)
            if msgs:
                out.extend(_invalid_each(f"{p}.name", name, msgs))
            elif name in names:
                out.append(duplicate(f"{p}.name", name))
            names.add(name)
        # A missing port is Go's 0, which is out of range.
        _port_number(port.get("port", 0), f"{p}.port", out)
        _protocol(port.get("protocol"), f"{p}.protocol", out)
        _target_port(port.get("targetPort"), f"{p}.targetPort", out)
        node_port = _as_int(port.get("nodePort"), f"{p}.nodePort", out)
        if node_port:
            if svc_type in ("ClusterIP", "ExternalName"):
                out.append(
                    forbidden(f"{p}.nodePort", f"may not be used when `type` is '{svc_type}'")
                )
            else:
                out.extend(_invalid_each(f"{p}.nodePort", node_port, port_number_errors(node_port)))
        key = (port.get("port"), port.get("protocol") or "TCP")
        if key in seen:
            out.append(duplicate(p, {"port": key[0], "protocol": key[1]}))
        seen.add(key)


def _validate_service(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    out: Causes = []
    spec = _as_dict(obj.get("spec"), "spec", out)
    if spec is None:
        if not out:
            out.append(required("spec.ports"))
        return out
    svc_type = _choice(spec.get("type"), "spec.type", SERVICE_TYPES, out) or "ClusterIP"
    cluster_ip = _as_str(spec.get("clusterIP"), "spec.clusterIP", out) or ""
    headless = cluster_ip == "None"
    ports = spec.get("ports")
    if ports in (None, []) and not headless and svc_type != "ExternalName":
        out.append(required("spec.ports"))
    _service_ports(spec, svc_type, out)
    if cluster_ip and not headless and _ip_errors(cluster_ip):
        out.append(
            invalid("spec.clusterIP", cluster_ip, "must be empty, 'None', or a valid IP address")
        )
    for i, ip in enumerate(_as_list(spec.get("clusterIPs"), "spec.clusterIPs", out) or []):
        path = f"spec.clusterIPs[{i}]"
        if not isinstance(ip, str) or (ip != "None" and _ip_errors(ip)):
            out.append(invalid(path, ip, "must be empty, 'None', or a valid IP address"))
        elif i == 0 and cluster_ip and ip != cluster_ip:
            out.append(invalid(path, ip, "must match `spec.clusterIP`"))
    if svc_type == "ExternalName":
        if cluster_ip:
            out.append(forbidden("spec.clusterIP", "may not be set for ExternalName services"))
        cname = (_as_str(spec.get("externalName"), "spec.externalName", out) or "").rstrip(".")
        if cname:
            out.extend(_invalid_each("spec.externalName", cname, is_dns1123_subdomain(cname)))
        else:
            out.append(required("spec.externalName"))
    external_ips = _as_list(spec.get("externalIPs"), "spec.externalIPs", out) or []
    for i, ip in enumerate(external_ips):
        if not isinstance(ip, str):
            out.append(invalid(f"spec.externalIPs[{i}]", ip, "must be a string"))
        else:
            out.extend(_invalid_each(f"spec.externalIPs[{i}]", ip, _ip_errors(ip)))
    _choice(spec.get("sessionAffinity"), "spec.sessionAffinity", SESSION_AFFINITIES, out)
    etp = _choice(
        spec.get("externalTrafficPolicy") or None,
        "spec.externalTrafficPolicy",
        TRAFFIC_POLICIES,
        out,
    )
    externally_reachable = svc_type in ("NodePort", "LoadBalancer") or bool(external_ips)
    if etp and not externally_reachable:
        out.append(
            invalid(
                "spec.externalTrafficPolicy",
                etp,
                "may only be set for externally-accessible services",
            )
        )
    _choice(
        spec.get("internalTrafficPolicy") or None,
        "spec.internalTrafficPolicy",
        TRAFFIC_POLICIES,
        out,
    )
    out.extend(validate_labels(spec.get("selector"), "spec.selector"))
    if old is not None:
        out.extend(_service_update(spec, _dict_or_empty(old.get("spec"))))
    return out


def _service_update(spec: dict[str, Any], old_spec: dict[str, Any]) -> Causes:
    old_ip, new_ip = old_spec.get("clusterIP") or "", spec.get("clusterIP") or ""
    types = {old_spec.get("type"), spec.get("type")}
    # An empty clusterIP on update means "keep the allocated one" (the server fills it in);
    # a move to/from ExternalName releases or allocates, so it may change then.
    if old_ip and new_ip and new_ip != old_ip and "ExternalName" not in types:
        return [invalid("spec.clusterIP", new_ip, "field is immutable")]
    return []


# ---------------------------------------------------------------------------------------------
# Workloads


def validate_label_selector(value: Any, path: str) -> Causes:
    """A metav1.LabelSelector's own validity (upstream ValidateLabelSelector)."""
    out: Causes = []
    sel = _as_dict(value, path, out)
    if sel is None:
        return out
    out.extend(validate_labels(sel.get("matchLabels"), f"{path}.matchLabels"))
    exprs = _as_list(sel.get("matchExpressions"), f"{path}.matchExpressions", out) or []
    for i, raw in enumerate(exprs):
        p = f"{path}.matchExpressions[{i}]"
        expr = _as_dict(raw, p, out)
        if expr is None:
            continue
        op = expr.get("operator")
        values = _as_list(expr.get("values"), f"{p}.values", out) or []
        if op in ("In", "NotIn"):
            if not values:
                out.append(
                    required(f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'")
                )
        elif op in ("Exists", "DoesNotExist"):
            if values:
                out.append(
                    forbidden(
                        f"{p}.values",
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            out.append(invalid(f"{p}.operator", op, "not a valid selector operator"))
        key = _as_str(expr.get("key"), f"{p}.key", out)
        if key is not None:
            out.extend(_invalid_each(f"{p}.key", key, qualified_name_errors(key)))
        for j, v in enumerate(values):
            if not isinstance(v, str):
                out.append(invalid(f"{p}.values[{j}]", v, "must be a string"))
            else:
                out.extend(_invalid_each(f"{p}.values[{j}]", v, label_value_errors(v)))
    return out


def _validate_workload(obj: dict[str, Any], old: dict[str, Any] | None, kind: str) -> Causes:
    out: Causes = []
    spec = _as_dict(obj.get("spec"), "spec", out)
    if spec is None:
        if not out:
            out.append(required("spec.selector"))
            out.append(required("spec.template"))
        return out
    _non_negative(spec.get("replicas"), "spec.replicas", out)
    _non_negative(spec.get("minReadySeconds"), "spec.minReadySeconds", out)
    raw_sel = spec.get("selector")
    selector = None
    if raw_sel is None:
        out.append(required("spec.selector"))
    else:
        sel_causes = validate_label_selector(raw_sel, "spec.selector")
        out.extend(sel_causes)
        if (
            isinstance(raw_sel, dict)
            and not raw_sel.get("matchLabels")
            and not raw_sel.get("matchExpressions")
        ):
            out.append(
                invalid("spec.selector", raw_sel, "empty selector is invalid for deployment")
            )
        elif not sel_causes:
            try:
                selector = selector_from_label_selector(raw_sel)
            except SelectorError:
                out.append(invalid("spec.selector", raw_sel, "invalid label selector"))
    template = _as_dict(spec.get("template"), "spec.template", out)
    if template is None:
        if "template" not in spec:
            out.append(required("spec.template"))
    else:
        tmeta = _as_dict(template.get("metadata"), "spec.template.metadata", out) or {}
        labels = tmeta.get("labels")
        out.extend(validate_labels(labels, "spec.template.metadata.labels"))
        out.extend(_annotations(tmeta.get("annotations"), "spec.template.metadata.annotations"))
        if selector is not None and not selector.matches(_dict_or_empty(labels)):
            out.append(
                invalid(
                    "spec.template.metadata.labels",
                    labels or {},
                    "`selector` does not match template `labels`",
                )
            )
        out.extend(_pod_spec(template.get("spec"), "spec.template.spec", template=True))
    if kind == "Deployment":
        strategy = _as_dict(spec.get("strategy"), "spec.strategy", out) or {}
        _choice(strategy.get("type"), "spec.strategy.type", DEPLOYMENT_STRATEGIES, out)
    if old is not None:
        old_sel = _dict_or_empty(old.get("spec")).get("selector")
        if old_sel is not None and raw_sel != old_sel:
            out.append(invalid("spec.selector", raw_sel, "field is immutable"))
    return out


def _validate_deployment(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    return _validate_workload(obj, old, "Deployment")


def _validate_replicaset(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    return _validate_workload(obj, old, "ReplicaSet")


# ---------------------------------------------------------------------------------------------
# Nodes, endpoints, leases


def _validate_node(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    out: Causes = []
    spec = _as_dict(obj.get("spec"), "spec", out) or {}
    pod_cidr = _as_str(spec.get("podCIDR"), "spec.podCIDR", out)
    if pod_cidr:
        out.extend(_invalid_each("spec.podCIDR", pod_cidr, _cidr_errors(pod_cidr)))
    cidrs = _as_list(spec.get("podCIDRs"), "spec.podCIDRs", out) or []
    for i, cidr in enumerate(cidrs):
        if not isinstance(cidr, str):
            out.append(invalid(f"spec.podCIDRs[{i}]", cidr, "must be a string"))
            continue
        out.extend(_invalid_each(f"spec.podCIDRs[{i}]", cidr, _cidr_errors(cidr)))
    if len(cidrs) > 2:
        out.append(too_many("spec.podCIDRs", len(cidrs), 2))
    if pod_cidr and cidrs and cidrs[0] != pod_cidr:
        out.append(invalid("spec.podCIDRs[0]", cidrs[0], "must match `spec.podCIDR`"))
    if old is not None:
        old_cidr = _dict_or_empty(old.get("spec")).get("podCIDR")
        if old_cidr and pod_cidr != old_cidr:
            out.append(
                forbidden(
                    "spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid'
                )
            )
    return out


def _endpoint_port(port: dict[str, Any], p: str, names: set[str], out: Causes) -> None:
    name = _as_str(port.get("name"), f"{p}.name", out)
    if name:
        msgs = is_dns1123_label(name)
        if msgs:
            out.extend(_invalid_each(f"{p}.name", name, msgs))
        elif name in names:
            out.append(duplicate(f"{p}.name", name))
        names.add(name)
    _protocol(port.get("protocol"), f"{p}.protocol", out)


def _validate_endpointslice(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    out: Causes = []
    address_type = obj.get("addressType")
    if not address_type:
        out.append(required("addressType"))
    else:
        address_type = _choice(address_type, "addressType", ADDRESS_TYPES, out)
    endpoints = _as_list(obj.get("endpoints"), "endpoints", out) or []
    if len(endpoints) > MAX_ENDPOINTS_PER_SLICE:
        out.append(too_many("endpoints", len(endpoints), MAX_ENDPOINTS_PER_SLICE))
    for i, raw in enumerate(endpoints):
        p = f"endpoints[{i}]"
        ep = _as_dict(raw, p, out)
        if ep is None:
            continue
        addresses = _as_list(ep.get("addresses"), f"{p}.addresses", out)
        if ep.get("addresses") in (None, []):
            out.append(required(f"{p}.addresses", "must contain at least 1 address"))
        elif addresses is not None and len(addresses) > MAX_ADDRESSES_PER_ENDPOINT:
            out.append(too_many(f"{p}.addresses", len(addresses), MAX_ADDRESSES_PER_ENDPOINT))
        for j, addr in enumerate(addresses or []):
            ap = f"{p}.addresses[{j}]"
            if not isinstance(addr, str):
                out.append(invalid(ap, addr, "must be a string"))
            elif address_type == "IPv4":
                out.extend(_invalid_each(ap, addr, _ip_errors(addr, 4)))
            elif address_type == "IPv6":
                out.extend(_invalid_each(ap, addr, _ip_errors(addr, 6)))
            elif address_type == "FQDN":
                out.extend(_invalid_each(ap, addr, is_dns1123_subdomain(addr)))
        node_name = _as_str(ep.get("nodeName"), f"{p}.nodeName", out)
        if node_name:
            out.extend(_invalid_each(f"{p}.nodeName", node_name, is_dns1123_subdomain(node_name)))
        hostname = _as_str(ep.get("hostname"), f"{p}.hostname", out)
        if hostname:
            out.extend(_invalid_each(f"{p}.hostname", hostname, is_dns1123_label(hostname)))
    ports = _as_list(obj.get("ports"), "ports", out) or []
    if len(ports) > MAX_PORTS_PER_SLICE:
        out.append(too_many("ports", len(ports), MAX_PORTS_PER_SLICE))
    names: set[str] = set()
    for i, raw in enumerate(ports):
        p = f"ports[{i}]"
        port = _as_dict(raw, p, out)
        if port is None:
            continue
        _endpoint_port(port, p, names, out)
        if port.get("port") is not None:  # null means "all ports"
            _port_number(port.get("port"), f"{p}.port", out)
    return out


def _validate_endpoints(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    out: Causes = []
    for i, raw in enumerate(_as_list(obj.get("subsets"), "subsets", out) or []):
        p = f"subsets[{i}]"
        subset = _as_dict(raw, p, out)
        if subset is None:
            continue
        for group in ("addresses", "notReadyAddresses"):
            for j, raw_addr in enumerate(_as_list(subset.get(group), f"{p}.{group}", out) or []):
                ap = f"{p}.{group}[{j}]"
                addr = _as_dict(raw_addr, ap, out)
                if addr is None:
                    continue
                ip = addr.get("ip")
                if not isinstance(ip, str):
                    out.append(invalid(f"{ap}.ip", ip, "must be a valid IP address"))
                else:
                    out.extend(_invalid_each(f"{ap}.ip", ip, _ip_errors(ip)))
        ports = _as_list(subset.get("ports"), f"{p}.ports", out) or []
        names: set[str] = set()
        for j, raw_port in enumerate(ports):
            pp = f"{p}.ports[{j}]"
            port = _as_dict(raw_port, pp, out)
            if port is None:
                continue
            if len(ports) > 1 and not port.get("name"):
                out.append(required(f"{pp}.name"))
            _endpoint_port(port, pp, names, out)
            _port_number(port.get("port", 0), f"{pp}.port", out)
    return out


def _validate_lease(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    out: Causes = []
    spec = _as_dict(obj.get("spec"), "spec", out) or {}
    duration = _as_int(spec.get("leaseDurationSeconds"), "spec.leaseDurationSeconds", out)
    if duration is not None and duration <= 0:
        out.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    _non_negative(spec.get("leaseTransitions"), "spec.leaseTransitions", out)
    _as_str(spec.get("holderIdentity"), "spec.holderIdentity", out)
    return out


_VALIDATORS: dict[str, Callable[[dict[str, Any], dict[str, Any] | None], Causes]] = {
    "Pod": _validate_pod,
    "Service": _validate_service,
    "Deployment": _validate_deployment,
    "ReplicaSet": _validate_replicaset,
    "Node": _validate_node,
    "EndpointSlice": _validate_endpointslice,
    "Endpoints": _validate_endpoints,
    "Lease": _validate_lease,
    "ConfigMap": validate_configmap,
    "Secret": validate_secret,
}
_VALIDATORS.update(VALIDATORS_EXT)


def validate_object(
    kind: str, obj: dict[str, Any], *, old: dict[str, Any] | None = None
) -> list[Cause]:
    """Every problem upstream would report for `obj` (a create, or an update of `old`)."""
    if not isinstance(obj, dict):
        return [invalid("", obj, "must be an object")]
    causes = _metadata(kind, obj)
    check = _VALIDATORS.get(kind)
    if check is not None:
        old_dict = old if isinstance(old, dict) else None
        causes.extend(check(obj, old_dict))
    return causes
