"""Field validation of the stored kinds added beside the first ten, as kube-apiserver's
validation words it (422 causes). Like validation.py, never raises on malformed input: a wrong
shape is a cause. The checks are upstream's main ones, not every rule."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from knet.api.names import is_dns1123_subdomain
from knet.apiserver.fielderrors import Cause, forbidden, invalid, not_supported, required

Causes = list[Cause]
Validator = Callable[[dict[str, Any], dict[str, Any] | None], Causes]

ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
RECLAIM_POLICIES = ("Delete", "Recycle", "Retain")
VOLUME_MODES = ("Block", "Filesystem")
PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
POLICY_TYPES = ("Egress", "Ingress")
LIMIT_TYPES = ("Container", "Pod", "PersistentVolumeClaim")
PROTOCOLS = ("SCTP", "TCP", "UDP")
_CIDR_DETAIL = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
# The PersistentVolume sources knet's model names; any other key ending a source is kept too.
_PV_SOURCES = (
    "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "csi", "fc",
    "flexVolume", "flocker", "gcePersistentDisk", "glusterfs", "hostPath", "iscsi", "local",
    "nfs", "photonPersistentDisk", "portworxVolume", "quobyte", "rbd", "scaleIO",
    "storageos", "vsphereVolume",
)  # fmt: skip
_PERCENT = re.compile(r"^[0-9]+%$")
_PERCENT_MESSAGE = (
    "a valid percent string must be a numeric string followed by an ending '%' "
    "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _access_modes(value: Any, path: str, out: Causes) -> None:
    modes = _list(value)
    if not modes:
        out.append(required(path, "at least 1 access mode is required"))
    for mode in modes:
        if mode not in ACCESS_MODES:
            out.append(not_supported(path, mode, ACCESS_MODES))


def _choice(value: Any, path: str, allowed: tuple[str, ...], out: Causes) -> None:
    if value is not None and value not in allowed:
        out.append(not_supported(path, value, allowed))


def _validate_pvc(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    out: Causes = []
    spec = _dict(obj.get("spec"))
    _access_modes(spec.get("accessModes"), "spec.accessModes", out)
    requests = _dict(_dict(spec.get("resources")).get("requests"))
    if "storage" not in requests:
        out.append(required("spec.resources[storage]"))
    _choice(spec.get("volumeMode"), "spec.volumeMode", VOLUME_MODES, out)
    return out


def _validate_pv(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    out: Causes = []
    spec = _dict(obj.get("spec"))
    _access_modes(spec.get("accessModes"), "spec.accessModes", out)
    if "storage" not in _dict(spec.get("capacity")):
        out.append(required("spec.capacity", "must specify a capacity"))
    sources = [key for key in _PV_SOURCES if key in spec]
    if not sources:
        out.append(required("spec", "must specify a volume type"))
    elif len(sources) > 1:
        out.append(invalid(f"spec.{sources[1]}", "", "may not specify more than 1 volume type"))
    _choice(
        spec.get("persistentVolumeReclaimPolicy"),
        "spec.persistentVolumeReclaimPolicy",
        RECLAIM_POLICIES,
        out,
    )
    _choice(spec.get("volumeMode"), "spec.volumeMode", VOLUME_MODES, out)
    return out


def _int_or_percent(value: Any, path: str, out: Causes) -> None:
    if isinstance(value, bool):
        out.append(invalid(path, value, "must be an integer or percentage (e.g '5%')"))
    elif isinstance(value, int):
        if value < 0:
            out.append(invalid(path, value, "must be greater than or equal to 0"))
    elif isinstance(value, str):
        if not _PERCENT.match(value):
            out.append(invalid(path, value, _PERCENT_MESSAGE))
        elif int(value[:-1]) > 100:
            out.append(invalid(path, value, "must not be greater than 100%"))
    elif value is not None:
        out.append(invalid(path, value, "must be an integer or percentage (e.g '5%')"))


def _validate_pdb(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    out: Causes = []
    spec = _dict(obj.get("spec"))
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        out.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    _int_or_percent(spec.get("minAvailable"), "spec.minAvailable", out)
    _int_or_percent(spec.get("maxUnavailable"), "spec.maxUnavailable", out)
    _choice(
        spec.get("unhealthyPodEvictionPolicy"),
        "spec.unhealthyPodEvictionPolicy",
        ("AlwaysAllow", "IfHealthyBudget"),
        out,
    )
    return out


def _backend(backend: Any, path: str, out: Causes) -> None:
    backend = _dict(backend)
    service, resource = backend.get("service"), backend.get("resource")
    if service is None and resource is None:
        out.append(invalid(path, backend, "one backend must be specified"))
    if service is not None:
        if not _dict(service).get("name"):
            out.append(required(f"{path}.service.name"))
        port = _dict(_dict(service).get("port"))
        if port.get("name") and port.get("number"):
            out.append(invalid(f"{path}.service.port", port, "cannot set both port name & number"))
        elif not port.get("name") and not port.get("number"):
            out.append(invalid(f"{path}.service.port", port, "port name or number is required"))


def _validate_ingress(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    out: Causes = []
    spec = _dict(obj.get("spec"))
    if spec.get("defaultBackend") is not None:
        _backend(spec["defaultBackend"], "spec.defaultBackend", out)
    elif not _list(spec.get("rules")):
        out.append(
            invalid("spec.rules", [], "either `defaultBackend` or `rules` must be specified")
        )
    for i, rule in enumerate(_list(spec.get("rules"))):
        host = _dict(rule).get("host")
        if isinstance(host, str) and host:
            # A wildcard host is "*." and a subdomain; upstream checks the rest as one.
            errs = is_dns1123_subdomain(host.removeprefix("*."))
            if errs:
                out.append(invalid(f"spec.rules[{i}].host", host, errs[0]))
        http = _dict(_dict(rule).get("http"))
        for j, entry in enumerate(_list(http.get("paths"))):
            p = f"spec.rules[{i}].http.paths[{j}]"
            entry = _dict(entry)
            path_type = entry.get("pathType")
            if path_type is None:
                out.append(required(f"{p}.pathType", "pathType must be specified"))
            else:
                _choice(path_type, f"{p}.pathType", PATH_TYPES, out)
            path = entry.get("path")
            if path_type in ("Exact", "Prefix") and not (isinstance(path, str) and path[:1] == "/"):
                out.append(invalid(f"{p}.path", path, "must be an absolute path"))
            _backend(entry.get("backend"), f"{p}.backend", out)
    return out


def _validate_ingress_class(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    controller = _dict(obj.get("spec")).get("controller")
    if not controller:
        return [required("spec.controller")]
    return []


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        return ipaddress.ip_network(value, strict=False)  # host bits allowed, as net.ParseCIDR
    except ValueError:
        return None


def _ip_block(block: dict[str, Any], path: str, out: Causes) -> None:
    cidr = block.get("cidr")
    if not cidr:
        out.append(required(f"{path}.cidr"))
        return
    network = _network(cidr)
    if network is None:
        out.append(invalid(f"{path}.cidr", cidr, _CIDR_DETAIL))
        return
    for i, text in enumerate(_list(block.get("except"))):
        inner = _network(text)
        if inner is None:
            out.append(invalid(f"{path}.except[{i}]", text, _CIDR_DETAIL))
        elif (
            inner.version != network.version
            or not inner.subnet_of(network)  # type: ignore[arg-type]
            or inner == network
        ):
            out.append(invalid(f"{path}.except[{i}]", text, "must be a strict subset of `cidr`"))


def _peers(peers: Any, path: str, out: Causes) -> None:
    for i, raw in enumerate(_list(peers)):
        peer, p = _dict(raw), f"{path}[{i}]"
        selectors = [k for k in ("podSelector", "namespaceSelector") if peer.get(k) is not None]
        if peer.get("ipBlock") is not None:
            if selectors:
                out.append(forbidden(p, "may not specify both ipBlock and another peer"))
            _ip_block(_dict(peer["ipBlock"]), f"{p}.ipBlock", out)
        elif not selectors:
            out.append(required(p, "must specify a peer"))


def _policy_ports(ports: Any, path: str, out: Causes) -> None:
    for i, raw in enumerate(_list(ports)):
        port, p = _dict(raw), f"{path}[{i}]"
        _choice(port.get("protocol"), f"{p}.protocol", PROTOCOLS, out)
        number, end = port.get("port"), port.get("endPort")
        if isinstance(number, int) and not 1 <= number <= 65535:
            out.append(invalid(f"{p}.port", number, "must be between 1 and 65535, inclusive"))
        if end is not None and not isinstance(number, int):
            out.append(
                forbidden(f"{p}.endPort", "may not be specified when `port` is not specified")
            )
        elif isinstance(end, int) and isinstance(number, int) and end < number:
            out.append(invalid(f"{p}.endPort", end, "must be greater than or equal to `port`"))


def _validate_network_policy(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    out: Causes = []
    spec = _dict(obj.get("spec"))
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(_list(spec.get(direction))):
            p = f"spec.{direction}[{i}]"
            _policy_ports(_dict(rule).get("ports"), f"{p}.ports", out)
            _peers(_dict(rule).get(peers), f"{p}.{peers}", out)
    types = _list(spec.get("policyTypes"))
    for i, kind in enumerate(types):
        _choice(kind, f"spec.policyTypes[{i}]", POLICY_TYPES, out)
    if len(types) > 2:
        out.append(invalid("spec.policyTypes", types, "may not specify more than two policyTypes"))
    return out


def _validate_hpa(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    out: Causes = []
    spec = _dict(obj.get("spec"))
    ref = _dict(spec.get("scaleTargetRef"))
    for key in ("kind", "name"):
        if not ref.get(key):
            out.append(required(f"spec.scaleTargetRef.{key}"))
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if isinstance(low, int) and low < 1:
        out.append(invalid("spec.minReplicas", low, "must be greater than or equal to 1"))
    if not isinstance(high, int) or isinstance(high, bool):
        out.append(required("spec.maxReplicas"))
    elif isinstance(low, int) and high < low:
        out.append(
            invalid("spec.maxReplicas", high, "must be greater than or equal to `minReplicas`")
        )
    return out


def _validate_limit_range(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    out: Causes = []
    for i, item in enumerate(_list(_dict(obj.get("spec")).get("limits"))):
        kind = _dict(item).get("type")
        if not kind:
            out.append(required(f"spec.limits[{i}].type"))
        else:
            _choice(kind, f"spec.limits[{i}].type", LIMIT_TYPES, out)
    return out


def _validate_apiservice(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    out: Causes = []
    spec = _dict(obj.get("spec"))
    name = _dict(obj.get("metadata")).get("name")
    version, group = spec.get("version"), spec.get("group")
    if not version:
        out.append(required("spec.version"))
    expected = f"{version}.{group}" if group else f"{version}"
    if version and name and name != expected:
        out.append(invalid("metadata.name", name, 'must be `spec.version+"."+spec.group`'))
    for key in ("groupPriorityMinimum", "versionPriority"):
        value = spec.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            out.append(invalid(f"spec.{key}", value, "must be positive and less than 1000000"))
    return out


VALIDATORS: dict[str, Validator] = {
    "PersistentVolumeClaim": _validate_pvc,
    "PersistentVolume": _validate_pv,
    "PodDisruptionBudget": _validate_pdb,
    "Ingress": _validate_ingress,
    "IngressClass": _validate_ingress_class,
    "NetworkPolicy": _validate_network_policy,
    "HorizontalPodAutoscaler": _validate_hpa,
    "LimitRange": _validate_limit_range,
    "APIService": _validate_apiservice,
}
