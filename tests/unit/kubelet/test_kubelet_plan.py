"""What sync does next: starts, restarts by policy with back-off, kills, init order, the end."""

from __future__ import annotations

import pytest

from kubelet_lite.pods.backoff import CrashLoopBackoff
from kubelet_lite.pods.plan import ContainerFacts as F
from kubelet_lite.pods.plan import plan_pod


def backoff() -> CrashLoopBackoff:
    return CrashLoopBackoff(initial=10, maximum=300)


def exited(name: str, code: int, at: float = 0.0) -> F:
    return F(name, started_ever=True, exit_code=code, finished_at=at)


def test_new_pod_starts_every_container() -> None:
    plan = plan_pod("Always", [], [F("a"), F("b")], backoff(), now=0)
    assert plan.start == ["a", "b"] and plan.initialized and plan.terminal is None


@pytest.mark.parametrize(
    ("policy", "code", "restarts"),
    [
        ("Always", 0, True),
        ("Always", 1, True),
        ("OnFailure", 0, False),
        ("OnFailure", 1, True),
        ("Never", 0, False),
        ("Never", 1, False),
    ],
)
def test_restart_policy(policy: str, code: int, restarts: bool) -> None:
    plan = plan_pod(policy, [], [exited("c", code)], backoff(), now=1)
    assert (plan.start == ["c"]) is restarts


def test_second_crash_waits_out_the_back_off() -> None:
    b = backoff()
    assert plan_pod("Always", [], [exited("c", 1, at=0)], b, now=0).start == ["c"]
    plan = plan_pod("Always", [], [exited("c", 1, at=2)], b, now=3)
    assert plan.start == [] and plan.backing_off == {"c": pytest.approx(9.0)}
    assert plan.wake_in == pytest.approx(9.0)
    assert plan_pod("Always", [], [exited("c", 1, at=2)], b, now=12.5).start == ["c"]


def test_finished_pods() -> None:
    assert plan_pod("Never", [], [exited("a", 0), exited("b", 0)], backoff(), 1).terminal == (
        "Succeeded"
    )
    assert plan_pod("Never", [], [exited("a", 0), exited("b", 3)], backoff(), 1).terminal == (
        "Failed"
    )
    assert plan_pod("OnFailure", [], [exited("a", 0)], backoff(), 1).terminal == "Succeeded"
    running = F("b", started_ever=True, running=True)
    assert plan_pod("Never", [], [exited("a", 0), running], backoff(), 1).terminal is None


def test_probe_kill_requested_once() -> None:
    c = F("c", started_ever=True, running=True, kill_reason="failed liveness probe")
    assert plan_pod("Always", [], [c], backoff(), 0).kill == [("c", "failed liveness probe")]
    stopping = F("c", started_ever=True, running=True, stopping=True, kill_reason="x")
    assert plan_pod("Always", [], [stopping], backoff(), 0).kill == []


def test_init_containers_run_in_order_before_the_others() -> None:
    first = plan_pod("Always", [F("i1"), F("i2")], [F("c")], backoff(), 0)
    assert first.start == ["i1"] and not first.initialized
    running = F("i1", started_ever=True, running=True)
    assert plan_pod("Always", [running, F("i2")], [F("c")], backoff(), 0).start == []
    second = plan_pod("Always", [exited("i1", 0), F("i2")], [F("c")], backoff(), 0)
    assert second.start == ["i2"]
    done = plan_pod("Always", [exited("i1", 0), exited("i2", 0)], [F("c")], backoff(), 0)
    assert done.start == ["c"] and done.initialized


def test_failed_init_container() -> None:
    assert plan_pod("Never", [exited("i", 1)], [F("c")], backoff(), 1).terminal == "Failed"
    retry = plan_pod("OnFailure", [exited("i", 1)], [F("c")], backoff(), 1)
    assert retry.start == ["i"] and retry.terminal is None


def test_sidecar_only_has_to_run() -> None:
    side = F("side", started_ever=True, running=True, sidecar=True)
    assert plan_pod("Always", [side], [F("c")], backoff(), 0).start == ["c"]
    assert plan_pod("Always", [F("side", sidecar=True)], [F("c")], backoff(), 0).start == ["side"]


def test_blocked_container_is_not_started_and_pod_not_finished() -> None:
    plan = plan_pod("Never", [], [F("c", blocked=True)], backoff(), 0)
    assert plan.start == [] and plan.terminal is None
