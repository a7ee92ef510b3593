"""What to do next for a pod's containers. Pure: facts and times in, decisions out.

Init containers run one at a time, in order, each to success (a sidecar, an init container
with restartPolicy Always, only has to be running). Then the containers start, and the restart
policy decides what happens to those that exit: Always restarts every one, OnFailure those that
failed, Never none; restarts wait out the CrashLoopBackOff. When no container runs or will run
again, the pod has finished: Succeeded if every container succeeded, else Failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kubelet_lite.pods.backoff import CrashLoopBackoff


@dataclass(frozen=True)
class ContainerFacts:
    name: str
    started_ever: bool = False  # some attempt has been made
    running: bool = False
    stopping: bool = False  # a kill is under way
    exit_code: int | None = None  # of the last attempt, once it ended
    finished_at: float | None = None  # monotonic time it ended
    kill_reason: str | None = None  # a probe asked for a restart
    blocked: bool = False  # cannot be started (image or config error)
    sidecar: bool = False


@dataclass
class Plan:
    start: list[str] = field(default_factory=list)
    kill: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    backing_off: dict[str, float] = field(default_factory=dict)  # name -> seconds left
    wake_in: float | None = None
    initialized: bool = False
    terminal: str | None = None  # "Succeeded" / "Failed"

    def wake(self, seconds: float) -> None:
        self.wake_in = seconds if self.wake_in is None else min(self.wake_in, seconds)


def should_restart(policy: str, exit_code: int) -> bool:
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def _restart_or_wait(
    c: ContainerFacts, backoff: CrashLoopBackoff, key: str, now: float, plan: Plan
) -> None:
    finished = c.finished_at if c.finished_at is not None else now
    left = backoff.remaining(key, finished, now)
    if left is not None:
        plan.backing_off[c.name] = left
        plan.wake(left)
    else:
        backoff.next(key, finished)
        plan.start.append(c.name)


def plan_pod(
    restart_policy: str,
    init: Sequence[ContainerFacts],
    main: Sequence[ContainerFacts],
    backoff: CrashLoopBackoff,
    now: float,
) -> Plan:
    plan = Plan()
    for c in (*init, *main):
        if c.kill_reason and c.running and not c.stopping:
            plan.kill.append((c.name, c.kill_reason))
    init_failed = False
    plan.initialized = True
    for c in init:
        if c.sidecar:
            if c.running or c.stopping:
                continue  # a running sidecar lets the next one start
            plan.initialized = False
            if c.blocked:
                break
            if not c.started_ever:
                plan.start.append(c.name)
            else:
                _restart_or_wait(c, backoff, "init/" + c.name, now, plan)
            break
        if c.running or c.stopping:
            plan.initialized = False
            break
        if c.blocked:
            plan.initialized = False
            break
        if not c.started_ever:
            plan.start.append(c.name)
            plan.initialized = False
            break
        if c.exit_code == 0:
            continue
        plan.initialized = False
        if restart_policy == "Never":
            init_failed = True
        else:
            _restart_or_wait(c, backoff, "init/" + c.name, now, plan)
        break
    if init_failed:
        plan.terminal = "Failed"
        return plan
    if not plan.initialized:
        return plan
    all_done = True
    any_failed = False
    for c in main:
        if c.running or c.stopping or c.blocked:
            all_done = False
            continue
        if not c.started_ever:
            plan.start.append(c.name)
            all_done = False
            continue
        code = c.exit_code if c.exit_code is not None else 1
        if should_restart(restart_policy, code):
            all_done = False
            _restart_or_wait(c, backoff, c.name, now, plan)
        elif code != 0:
            any_failed = True
    if all_done and main:
        plan.terminal = "Failed" if any_failed else "Succeeded"
    return plan
