"""The Service environment variables the kubelet gives every container, as docker links named
them: ``<NAME>_SERVICE_HOST``, ``<NAME>_SERVICE_PORT[_<PORTNAME>]``, ``<NAME>_PORT`` and
``<NAME>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]``. Pure.

Which Services: those of the pod's namespace when ``enableServiceLinks`` is not false, and in
any case the ``kubernetes`` Service of ``default`` (how in-cluster clients find the API).
Services without a ClusterIP (headless, ExternalName) have none. A Service seen earlier in
the list loses to a later one of the same variable name, as upstream's map does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MASTER_NAMESPACE = "default"
MASTER_SERVICE = "kubernetes"


def _var_name(name: str) -> str:
    return name.upper().replace("-", "_")


def _has_cluster_ip(svc: Mapping[str, Any]) -> bool:
    ip = (svc.get("spec") or {}).get("clusterIP")
    return bool(ip) and ip != "None"


def env_for_service(svc: Mapping[str, Any]) -> dict[str, str]:
    """The variables of one Service with a ClusterIP."""
    spec = svc.get("spec") or {}
    ports = [p for p in spec.get("ports") or [] if isinstance(p, Mapping)]
    name = _var_name(str((svc.get("metadata") or {}).get("name", "")))
    ip = str(spec["clusterIP"])
    host = f"[{ip}]" if ":" in ip else ip
    env = {f"{name}_SERVICE_HOST": ip}
    if not ports:
        return env
    env[f"{name}_SERVICE_PORT"] = str(ports[0].get("port"))
    for p in ports:
        if p.get("name"):
            env[f"{name}_SERVICE_PORT_{_var_name(str(p['name']))}"] = str(p.get("port"))
    first = ports[0]
    env[f"{name}_PORT"] = f"{str(first.get('protocol') or 'TCP').lower()}://{host}:{first['port']}"
    for p in ports:
        proto = str(p.get("protocol") or "TCP")
        prefix = f"{name}_PORT_{p.get('port')}_{proto.upper()}"
        env[prefix] = f"{proto.lower()}://{host}:{p.get('port')}"
        env[f"{prefix}_PROTO"] = proto.lower()
        env[f"{prefix}_PORT"] = str(p.get("port"))
        env[f"{prefix}_ADDR"] = ip
    return env


def service_env(
    services: Iterable[Mapping[str, Any]], namespace: str, enable_service_links: bool | None
) -> dict[str, str]:
    """The variables for a container of a pod in ``namespace``."""
    chosen: dict[str, Mapping[str, Any]] = {}
    for svc in services:
        meta = svc.get("metadata") or {}
        ns, name = meta.get("namespace"), str(meta.get("name", ""))
        if not _has_cluster_ip(svc):
            continue
        if ns == MASTER_NAMESPACE and name == MASTER_SERVICE:
            chosen.setdefault(name, svc)  # a namespace's own `kubernetes` Service wins
        elif ns == namespace and enable_service_links is not False:
            chosen[name] = svc
    env: dict[str, str] = {}
    for name in sorted(chosen):
        env.update(env_for_service(chosen[name]))
    return env
