"""Building a pod's status from what the kubelet knows. Pure: no I/O, time passed in.

Follows kubelet's rules: the phase from the containers' states and the restart policy; the
conditions Initialized, Ready, ContainersReady and PodScheduled, each keeping its
lastTransitionTime while its status does not change; containerStatuses sorted by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TERMINAL_PHASES = ("Succeeded", "Failed")
# The status fields the kubelet owns; one it no longer sets is cleared (null in a merge patch).
OWNED_FIELDS = (
    "phase",
    "conditions",
    "message",
    "reason",
    "hostIP",
    "hostIPs",
    "podIP",
    "podIPs",
    "startTime",
    "initContainerStatuses",
    "containerStatuses",
    "qosClass",
)


@dataclass(frozen=True)
class Terminated:
    exit_code: int
    reason: str
    message: str | None = None
    signal: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    container_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"exitCode": self.exit_code, "reason": self.reason}
        if self.signal is not None:
            out["signal"] = self.signal
        if self.message:
            out["message"] = self.message
        if self.started_at:
            out["startedAt"] = self.started_at
        if self.finished_at:
            out["finishedAt"] = self.finished_at
        if self.container_id:
            out["containerID"] = self.container_id
        return out


def terminated_reason(exit_code: int, start_error: str | None, known: bool = True) -> str:
    if not known:
        return "ContainerStatusUnknown"
    if start_error:
        return "StartError"
    return "Completed" if exit_code == 0 else "Error"


@dataclass(frozen=True)
class ContainerView:
    """One container as the status shows it: running, terminated, or else waiting."""

    name: str
    image: str
    image_id: str = ""
    container_id: str | None = None
    restart_count: int = 0
    ready: bool = False
    started: bool = False
    running_since: str | None = None
    terminated: Terminated | None = None
    waiting_reason: str = "ContainerCreating"
    waiting_message: str | None = None
    last: Terminated | None = None

    @property
    def state(self) -> str:
        if self.running_since is not None:
            return "running"
        if self.terminated is not None:
            return "terminated"
        return "waiting"

    def to_wire(self) -> dict[str, Any]:
        state: dict[str, Any]
        if self.running_since is not None:
            state = {"running": {"startedAt": self.running_since}}
        elif self.terminated is not None:
            state = {"terminated": self.terminated.to_wire()}
        else:
            waiting: dict[str, Any] = {"reason": self.waiting_reason}
            if self.waiting_message:
                waiting["message"] = self.waiting_message
            state = {"waiting": waiting}
        out: dict[str, Any] = {
            "name": self.name,
            "state": state,
            "lastState": {"terminated": self.last.to_wire()} if self.last else {},
            "ready": self.ready,
            "restartCount": self.restart_count,
            "image": self.image,
            "imageID": self.image_id,
            "started": self.started,
        }
        if self.container_id:
            out["containerID"] = self.container_id
        return out


def pod_phase(
    restart_policy: str,
    init: Sequence[ContainerView],
    main: Sequence[ContainerView],
    sidecars: frozenset[str] = frozenset(),
) -> str:
    """kubelet's getPhase."""
    for c in init:
        if c.name in sidecars:
            if c.running_since is None:
                return "Pending"
            continue
        if c.terminated is not None and c.terminated.exit_code == 0:
            continue
        failed = (c.terminated is not None and c.terminated.exit_code != 0) or (
            c.last is not None and c.last.exit_code != 0
        )
        if failed and restart_policy == "Never":
            return "Failed"
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for c in main:
        if c.running_since is not None:
            running += 1
        elif c.terminated is not None:
            stopped += 1
            if c.terminated.exit_code == 0:
                succeeded += 1
        elif c.last is not None:
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if main and stopped == len(main):
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _condition(
    prev: Mapping[str, Mapping[str, Any]],
    ctype: str,
    ok: bool,
    now: str,
    reason: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    status = "True" if ok else "False"
    old = prev.get(ctype)
    since = now
    if old is not None and old.get("status") == status and old.get("lastTransitionTime"):
        since = str(old["lastTransitionTime"])
    out: dict[str, Any] = {
        "type": ctype,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": since,
    }
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def pod_conditions(
    prev_conditions: Sequence[Mapping[str, Any]] | None,
    *,
    api_conditions: Sequence[Mapping[str, Any]] | None = None,
    phase: str,
    init: Sequence[ContainerView],
    main: Sequence[ContainerView],
    readiness_gates: Sequence[str] = (),
    sidecars: frozenset[str] = frozenset(),
    now: str,
) -> list[dict[str, Any]]:
    """The kubelet's conditions, transition times kept from ``prev_conditions`` (what it last
    reported); conditions of other types (readiness gates...) kept from ``api_conditions``."""
    prev = {str(c.get("type")): c for c in prev_conditions or [] if isinstance(c, Mapping)}
    api = {str(c.get("type")): c for c in api_conditions or [] if isinstance(c, Mapping)}
    incomplete = [
        c.name
        for c in init
        if not (
            (c.name in sidecars and c.running_since is not None)
            or (c.terminated is not None and c.terminated.exit_code == 0)
        )
    ]
    unready = [c.name for c in main if not c.ready]
    terminal = phase in TERMINAL_PHASES
    if terminal:
        initialized = _condition(prev, "Initialized", True, now, "PodCompleted")
        containers_ready = _condition(prev, "ContainersReady", False, now, "PodCompleted")
        ready = _condition(prev, "Ready", False, now, "PodCompleted")
    else:
        initialized = _condition(
            prev,
            "Initialized",
            not incomplete,
            now,
            "ContainersNotInitialized" if incomplete else None,
            f"containers with incomplete status: [{' '.join(incomplete)}]" if incomplete else None,
        )
        why = f"containers with unready status: [{' '.join(unready)}]" if unready else None
        containers_ready = _condition(
            prev,
            "ContainersReady",
            not unready,
            now,
            "ContainersNotReady" if unready else None,
            why,
        )
        gates_missing = [g for g in readiness_gates if (api.get(g) or {}).get("status") != "True"]
        if unready:
            ready = _condition(prev, "Ready", False, now, "ContainersNotReady", why)
        elif gates_missing:
            ready = _condition(
                prev,
                "Ready",
                False,
                now,
                "ReadinessGatesNotReady",
                f"corresponding condition of pod readiness gate "
                f'"{gates_missing[0]}" does not exist.',
            )
        else:
            ready = _condition(prev, "Ready", True, now)
    scheduled = api.get("PodScheduled") or prev.get("PodScheduled")
    pod_scheduled = (
        dict(scheduled)
        if scheduled is not None and scheduled.get("status") == "True"
        else _condition(prev, "PodScheduled", True, now)
    )
    others = [
        dict(c)
        for t, c in api.items()
        if t not in ("Initialized", "ContainersReady", "Ready", "PodScheduled")
    ]
    return [initialized, ready, containers_ready, pod_scheduled, *others]


def qos_class(spec: Mapping[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits."""
    containers = [
        c
        for key in ("containers", "initContainers")
        for c in spec.get(key) or []
        if isinstance(c, Mapping)
    ]
    any_set = False
    guaranteed = bool(containers)
    for c in containers:
        res = c.get("resources") or {}
        requests = res.get("requests") or {}
        limits = res.get("limits") or {}
        if requests or limits:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in limits or str(requests.get(r, limits[r])) != str(limits[r]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


@dataclass(frozen=True)
class PodFacts:
    """Pod-level inputs of the status."""

    host_ip: str
    pod_ip: str | None
    start_time: str | None
    phase_override: str | None = None  # a terminal phase already decided
    reason: str | None = None
    message: str | None = None


def build_status(
    pod: Mapping[str, Any],
    facts: PodFacts,
    init: Sequence[ContainerView],
    main: Sequence[ContainerView],
    now: str,
    last: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The pod's status as the kubelet reports it (every owned field; None = clear it).
    ``last`` is the status it computed before, whose condition times carry over."""
    spec = pod.get("spec") or {}
    prev = pod.get("status") or {}
    mine = last if last is not None else prev
    restart_policy = str(spec.get("restartPolicy") or "Always")
    sidecars = frozenset(
        str(c.get("name"))
        for c in spec.get("initContainers") or []
        if isinstance(c, Mapping) and c.get("restartPolicy") == "Always"
    )
    phase = facts.phase_override or pod_phase(restart_policy, init, main, sidecars)
    gates = [
        str(g.get("conditionType"))
        for g in spec.get("readinessGates") or []
        if isinstance(g, Mapping) and g.get("conditionType")
    ]
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": pod_conditions(
            mine.get("conditions"),
            api_conditions=prev.get("conditions"),
            phase=phase,
            init=init,
            main=main,
            readiness_gates=gates,
            sidecars=sidecars,
            now=now,
        ),
        "message": facts.message,
        "reason": facts.reason,
        "hostIP": facts.host_ip,
        "hostIPs": [{"ip": facts.host_ip}],
        "podIP": facts.pod_ip,
        "podIPs": [{"ip": facts.pod_ip}] if facts.pod_ip else None,
        "startTime": facts.start_time,
        "initContainerStatuses": (
            [c.to_wire() for c in sorted(init, key=lambda c: c.name)] if init else None
        ),
        "containerStatuses": [c.to_wire() for c in sorted(main, key=lambda c: c.name)],
        "qosClass": prev.get("qosClass") or qos_class(spec),
    }
    return status


def status_patch(new: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch setting every owned field: set ones to their value, unset ones to null."""
    return {k: new.get(k) for k in OWNED_FIELDS}


def same_status(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    if a is None or b is None:
        return a is b
    return all(a.get(k) == b.get(k) for k in OWNED_FIELDS)
