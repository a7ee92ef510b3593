"""ComponentStatus (v1, read-only): the health of the scheduler, the controller-manager and the
store, computed on every read, as `kubectl get componentstatuses` shows it.

How the API server learns their health (a decision; upstream probes the components' healthz
ports on localhost, which knet's components do not serve):
- `etcd-0`: the store itself answers a read within two seconds.
- `scheduler`, `controller-manager`: a probe registered by the process that runs the component
  beside the API server (`knet server`: the loop's task is still running); otherwise the
  component's leader-election Lease (kube-system/kube-scheduler, kube-system/kube-controller-
  manager), which is healthy while its holder renewed it within its leaseDurationSeconds. A
  component run on its own without --leader-elect writes no Lease, so it shows Unhealthy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from knet.api import registry
from knet.api.times import parse_time_or_none
from knet.apiserver.stored import decode
from knet.storage import Store, StoreError

# Probes of components that run in this process: name -> "is it running?".
LocalProbes = Mapping[str, Callable[[], bool]]

# Component name -> the Lease it holds while it runs with --leader-elect.
LEASES: dict[str, str] = {
    "scheduler": "kube-scheduler",
    "controller-manager": "kube-controller-manager",
}
STORE_TIMEOUT = 2.0


def condition(healthy: bool, message: str, error: str = "") -> dict[str, Any]:
    cond: dict[str, Any] = {"type": "Healthy", "status": "True" if healthy else "False"}
    if message:
        cond["message"] = message
    if error:
        cond["error"] = error
    return cond


def lease_condition(lease: dict[str, Any] | None, name: str, now: datetime) -> dict[str, Any]:
    """Healthy while the Lease was renewed within its duration (pure)."""
    where = f"kube-system/{name}"
    if lease is None:
        detail = "the component is not running with --leader-elect, or has never started"
        return condition(False, "", f"no Lease {where}: {detail}")
    spec = lease.get("spec") if isinstance(lease.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    renewed = parse_time_or_none(spec.get("renewTime"))
    duration = spec.get("leaseDurationSeconds")
    if renewed is None or not isinstance(duration, int):
        return condition(False, "", f"Lease {where} has no renewTime or leaseDurationSeconds")
    age = (now - renewed).total_seconds()
    if age > duration:
        return condition(False, "", f"Lease {where} last renewed {int(age)}s ago (> {duration}s)")
    return condition(True, "ok")


def _object(name: str, cond: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "ComponentStatus",
        "apiVersion": "v1",
        "metadata": {"name": name},
        "conditions": [cond],
    }


async def _store_condition(store: Store) -> dict[str, Any]:
    try:
        await asyncio.wait_for(store.get("/registry/health"), STORE_TIMEOUT)
    except TimeoutError:
        return condition(False, "", f"the store did not answer within {STORE_TIMEOUT:g}s")
    except StoreError as e:
        return condition(False, "", f"the store failed a read: {e}")
    return condition(True, "ok")


async def _lease(store: Store, name: str) -> dict[str, Any] | None:
    info = registry.by_kind("Lease")
    try:
        kv = await asyncio.wait_for(store.get(info.key("kube-system", name)), STORE_TIMEOUT)
    except (TimeoutError, StoreError):
        return None
    return decode(kv) if kv is not None else None


async def component_statuses(store: Store, local: LocalProbes) -> list[dict[str, Any]]:
    """Every component's status, in the order kubectl users know."""
    now = datetime.now(UTC)
    out = []
    for component, lease_name in LEASES.items():
        probe = local.get(component)
        if probe is not None:
            running = probe()
            cond = condition(True, "ok") if running else condition(False, "", "not running")
        else:
            cond = lease_condition(await _lease(store, lease_name), lease_name, now)
        out.append(_object(component, cond))
    out.append(_object("etcd-0", await _store_condition(store)))
    return out
