"""When did the change that an endpoints write reflects happen? (the trigger-time annotation)

Kubernetes' endpoint controllers stamp the EndpointSlices and Endpoints they write with
``endpoints.kubernetes.io/last-change-trigger-time``; kube-proxy subtracts it from the moment
its rules are in place to get the network programming latency. The trigger of a sync is the
earliest of the changes it picks up since the previous sync of the same Service: a pod's Ready
condition moving (its lastTransitionTime) or the Service being created.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from knet.api.times import nano_time, parse_time_or_none

LAST_CHANGE_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"


def pod_trigger_time(pod: Mapping[str, Any]) -> datetime | None:
    """The last time the pod's Ready condition changed."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == "Ready":
            return parse_time_or_none(cond.get("lastTransitionTime"))
    return None


def service_trigger_time(svc: Mapping[str, Any]) -> datetime | None:
    return parse_time_or_none((svc.get("metadata") or {}).get("creationTimestamp"))


@dataclass
class _State:
    pods: dict[str, datetime] = field(default_factory=dict)
    service: datetime | None = None


class TriggerTimeTracker:
    """Per Service, the trigger times seen at its previous successful sync. One controller's
    reconciles of one key never overlap (the work queue sees to that)."""

    def __init__(self) -> None:
        self._state: dict[str, _State] = {}
        self._pending: dict[str, _State] = {}

    def compute(
        self, key: str, svc: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]
    ) -> datetime | None:
        """The trigger of this sync of Service ``key`` (None: nothing new to attribute). What
        was seen counts as handled only after ``synced(key)``, so a failed sync that is retried
        still carries its trigger."""
        before = self._state.get(key, _State())
        now = _State()
        earliest: datetime | None = None
        for pod in pods:
            moment = pod_trigger_time(pod)
            if moment is None:
                continue
            name = str((pod.get("metadata") or {}).get("name", ""))
            now.pods[name] = moment
            last = before.pods.get(name)
            if last is None or moment > last:
                earliest = moment if earliest is None else min(earliest, moment)
        now.service = service_trigger_time(svc)
        if now.service is not None and (before.service is None or now.service > before.service):
            earliest = now.service if earliest is None else min(earliest, now.service)
        self._pending[key] = now
        return earliest

    def synced(self, key: str) -> None:
        """The sync that last called ``compute(key)`` wrote everything it had to."""
        state = self._pending.pop(key, None)
        if state is not None:
            self._state[key] = state

    def forget(self, key: str) -> None:
        self._state.pop(key, None)
        self._pending.pop(key, None)


def annotate(obj: dict[str, Any], trigger: datetime | None) -> dict[str, Any]:
    """``obj`` with the trigger-time annotation set (unchanged when there is no trigger)."""
    if trigger is not None:
        md = obj.setdefault("metadata", {})
        stamp = nano_time(trigger)
        md["annotations"] = {**(md.get("annotations") or {}), LAST_CHANGE_TRIGGER_TIME: stamp}
    return obj
