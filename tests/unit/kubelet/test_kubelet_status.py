"""Pod status building: phase rules, conditions and their transition times, container states."""

from __future__ import annotations

from typing import Any

import pytest

from kubelet_lite.status.pod_status import (
    OWNED_FIELDS,
    ContainerView,
    PodFacts,
    Terminated,
    build_status,
    pod_phase,
    qos_class,
    same_status,
    status_patch,
    terminated_reason,
)

T0, T1 = "2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z"


def running(name: str = "c", ready: bool = True) -> ContainerView:
    return ContainerView(name, "img", ready=ready, started=True, running_since=T0)


def done(name: str = "c", code: int = 0) -> ContainerView:
    reason = terminated_reason(code, None)
    return ContainerView(name, "img", terminated=Terminated(code, reason))


def waiting(name: str = "c", last_code: int | None = None) -> ContainerView:
    last = (
        Terminated(last_code, terminated_reason(last_code, None)) if last_code is not None else None
    )
    return ContainerView(name, "img", waiting_reason="CrashLoopBackOff", last=last)


@pytest.mark.parametrize(
    ("policy", "init", "main", "phase"),
    [
        pytest.param("Always", [], [waiting()], "Pending", id="not-started-yet"),
        pytest.param("Always", [], [running()], "Running", id="running"),
        pytest.param("Always", [], [running("a"), waiting("b")], "Pending", id="one-waiting"),
        pytest.param("Always", [], [done(code=0)], "Running", id="always-restarts"),
        pytest.param("Never", [], [done(code=0)], "Succeeded", id="never-success"),
        pytest.param("Never", [], [done(code=2)], "Failed", id="never-failure"),
        pytest.param("OnFailure", [], [done(code=0)], "Succeeded", id="onfailure-success"),
        pytest.param("OnFailure", [], [waiting(last_code=1)], "Running", id="onfailure-backoff"),
        pytest.param("Never", [], [done("a", 0), done("b", 1)], "Failed", id="mixed-never"),
        pytest.param("Always", [waiting("i")], [waiting()], "Pending", id="init-pending"),
        pytest.param("Never", [done("i", 1)], [waiting()], "Failed", id="init-failed-never"),
        pytest.param("Always", [done("i", 1)], [waiting()], "Pending", id="init-failed-retry"),
        pytest.param("Always", [done("i", 0)], [running()], "Running", id="init-done"),
    ],
)
def test_phase(
    policy: str, init: list[ContainerView], main: list[ContainerView], phase: str
) -> None:
    assert pod_phase(policy, init, main) == phase


def test_sidecar_init_container_counts_once_running() -> None:
    side = running("side")
    assert pod_phase("Always", [side], [running()], frozenset({"side"})) == "Running"
    assert pod_phase("Always", [waiting("side")], [waiting()], frozenset({"side"})) == "Pending"


def pod(**status: Any) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "c"}]}, "status": status}


FACTS = PodFacts(host_ip="10.0.0.1", pod_ip="10.244.1.5", start_time=T0)


def conds(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_ready_pod_status_is_complete() -> None:
    st = build_status(pod(), FACTS, [], [running()], T1)
    assert st["phase"] == "Running"
    assert st["podIP"] == "10.244.1.5" and st["podIPs"] == [{"ip": "10.244.1.5"}]
    assert st["hostIP"] == "10.0.0.1" and st["hostIPs"] == [{"ip": "10.0.0.1"}]
    assert st["startTime"] == T0 and st["qosClass"] == "BestEffort"
    c = conds(st)
    assert [x["type"] for x in st["conditions"]] == [
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    assert all(x["status"] == "True" for x in c.values())
    assert st["containerStatuses"] == [
        {
            "name": "c",
            "state": {"running": {"startedAt": T0}},
            "lastState": {},
            "ready": True,
            "restartCount": 0,
            "image": "img",
            "imageID": "",
            "started": True,
        }
    ]
    assert set(st) == set(OWNED_FIELDS)


def test_unready_container_makes_pod_unready_with_reason() -> None:
    st = build_status(pod(), FACTS, [], [running("b", ready=False), running("a")], T1)
    c = conds(st)
    assert c["Ready"]["status"] == "False" and c["ContainersReady"]["status"] == "False"
    assert c["Ready"]["reason"] == "ContainersNotReady"
    assert c["Ready"]["message"] == "containers with unready status: [b]"
    assert [x["name"] for x in st["containerStatuses"]] == ["a", "b"]  # sorted by name


def test_transition_time_kept_while_status_unchanged() -> None:
    first = build_status(pod(), FACTS, [], [running()], T0)
    second = build_status(pod(), FACTS, [], [running()], T1, last=first)
    assert conds(second)["Ready"]["lastTransitionTime"] == T0
    third = build_status(pod(), FACTS, [], [running(ready=False)], T1, last=second)
    assert conds(third)["Ready"]["lastTransitionTime"] == T1


def test_terminal_pod_conditions_say_completed() -> None:
    facts = PodFacts("10.0.0.1", "10.244.1.5", T0, phase_override="Succeeded")
    st = build_status(pod(), facts, [], [done()], T1)
    c = conds(st)
    assert st["phase"] == "Succeeded"
    assert c["Ready"]["reason"] == "PodCompleted" and c["Ready"]["status"] == "False"
    assert st["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


def test_readiness_gates_and_foreign_conditions_are_respected() -> None:
    p = pod(conditions=[{"type": "example.com/gate", "status": "False"}])
    p["spec"]["readinessGates"] = [{"conditionType": "example.com/gate"}]
    st = build_status(p, FACTS, [], [running()], T1)
    c = conds(st)
    assert c["Ready"]["status"] == "False" and c["Ready"]["reason"] == "ReadinessGatesNotReady"
    assert c["ContainersReady"]["status"] == "True"
    assert c["example.com/gate"]["status"] == "False"  # kept as the API had it
    p["status"]["conditions"][0]["status"] = "True"
    assert conds(build_status(p, FACTS, [], [running()], T1))["Ready"]["status"] == "True"


def test_init_containers_reported_and_pod_initializing() -> None:
    st = build_status(pod(), FACTS, [running("init")], [waiting()], T1)
    c = conds(st)
    assert c["Initialized"]["status"] == "False"
    assert c["Initialized"]["message"] == "containers with incomplete status: [init]"
    assert st["initContainerStatuses"][0]["name"] == "init"


def test_waiting_and_last_state_wire_shape() -> None:
    view = ContainerView(
        "c",
        "img",
        restart_count=3,
        waiting_reason="CrashLoopBackOff",
        waiting_message="back-off 40s",
        last=Terminated(1, "Error", "boom", None, T0, T1, "knet://x"),
    )
    wire = view.to_wire()
    assert wire["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}}
    assert wire["lastState"] == {
        "terminated": {
            "exitCode": 1,
            "reason": "Error",
            "message": "boom",
            "startedAt": T0,
            "finishedAt": T1,
            "containerID": "knet://x",
        }
    }
    assert wire["restartCount"] == 3 and "containerID" not in wire


def test_terminated_reasons() -> None:
    assert terminated_reason(0, None) == "Completed"
    assert terminated_reason(137, None) == "Error"
    assert terminated_reason(128, "exec: no such file") == "StartError"
    assert terminated_reason(137, None, known=False) == "ContainerStatusUnknown"


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        ({}, "BestEffort"),
        ({"requests": {"cpu": "100m"}}, "Burstable"),
        ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
        (
            {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
            "Burstable",
        ),
    ],
)
def test_qos_class(resources: dict[str, Any], qos: str) -> None:
    assert qos_class({"containers": [{"name": "c", "resources": resources}]}) == qos


def test_patch_clears_fields_no_longer_set() -> None:
    st = build_status(pod(), PodFacts("10.0.0.1", None, None), [], [waiting()], T1)
    patch = status_patch(st)
    assert patch["podIP"] is None and patch["podIPs"] is None and patch["message"] is None
    assert same_status(st, dict(st)) and not same_status(st, {**st, "phase": "Failed"})
    assert same_status(None, None) and not same_status(st, None)
