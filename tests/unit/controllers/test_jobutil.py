"""The Job controller's pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from knet.controllers import jobutil as ju

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
Obj = dict[str, Any]


def job(**spec: Any) -> Obj:
    return {
        "metadata": {"name": "pi", "namespace": "default", "uid": "u-1"},
        "spec": {
            "template": {
                "metadata": {"labels": {"job-name": "pi"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
            **spec,
        },
        "status": {},
    }


def failed_pod(code: int, name: str = "pi-x", container: str = "c") -> Obj:
    return {
        "metadata": {"name": name, "namespace": "default"},
        "status": {
            "phase": "Failed",
            "containerStatuses": [{"name": container, "state": {"terminated": {"exitCode": code}}}],
        },
    }


def test_indexes_round_trip_as_intervals() -> None:
    assert ju.format_indexes({0, 1, 2, 4, 6, 7}) == "0-2,4,6-7"
    assert ju.parse_indexes("0-2,4,6-7") == {0, 1, 2, 4, 6, 7}
    assert ju.parse_indexes("") == set()
    assert ju.format_indexes([]) == ""


@given(st.sets(st.integers(min_value=0, max_value=200)))
def test_index_formatting_is_lossless(indexes: set[int]) -> None:
    assert ju.parse_indexes(ju.format_indexes(indexes)) == indexes


def test_want_active() -> None:
    assert ju.want_active(job(completions=5, parallelism=2), succeeded=0) == 2
    assert ju.want_active(job(completions=5, parallelism=2), succeeded=4) == 1
    assert ju.want_active(job(completions=5, parallelism=2), succeeded=5) == 0
    # Without completions: parallelism until the first success, then nothing new.
    assert ju.want_active(job(parallelism=3), succeeded=0) == 3
    assert ju.want_active(job(parallelism=3), succeeded=1) == 0


def test_indexes_to_start_skips_done_and_running() -> None:
    running = [{"metadata": {"annotations": {ju.INDEX_ANNOTATION: "1"}}}]
    assert ju.indexes_to_start(5, {0, 3}, running, room=2) == [2, 4]
    assert ju.indexes_to_start(5, {0, 3}, running, room=0) == []


def test_indexed_pod_carries_its_index() -> None:
    pod = ju.job_pod(job(completionMode="Indexed", completions=3), 2)
    meta = pod["metadata"]
    assert meta["generateName"] == "pi-2-"
    assert meta["annotations"][ju.INDEX_ANNOTATION] == "2"
    assert meta["labels"][ju.INDEX_LABEL] == "2"
    assert ju.TRACKING_FINALIZER in meta["finalizers"]
    assert pod["spec"]["hostname"] == "pi-2"
    env = pod["spec"]["containers"][0]["env"]
    assert env[0]["name"] == "JOB_COMPLETION_INDEX"
    assert meta["ownerReferences"][0]["kind"] == "Job"


def test_non_indexed_pod_has_no_index() -> None:
    pod = ju.job_pod(job(), None)
    assert pod["metadata"]["generateName"] == "pi-"
    assert "env" not in pod["spec"]["containers"][0]


def test_pod_failure_policy_matches_rules_in_order() -> None:
    policy = {
        "rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
            {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [42]}},
        ]
    }
    j = job(podFailurePolicy=policy)
    action, message = ju.failure_policy_action(j, failed_pod(42))
    assert action == "FailJob"
    assert message == (
        "Container c for pod default/pi-x failed with exit code 42 matching FailJob rule at index 1"
    )
    assert ju.failure_policy_action(j, failed_pod(1))[0] == "Count"
    disrupted = failed_pod(137)
    disrupted["status"]["conditions"] = [{"type": "DisruptionTarget", "status": "True"}]
    assert ju.failure_policy_action(j, disrupted)[0] == "Ignore"
    assert ju.failure_policy_action(job(), failed_pod(42)) == ("Count", "")


def test_exit_code_zero_never_matches() -> None:
    rule = {"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [5]}}
    assert ju.failure_policy_action(job(podFailurePolicy={"rules": [rule]}), failed_pod(0))[0] == (
        "Count"
    )


def test_outcomes() -> None:
    assert ju.outcome(job(completions=3), 3, 0, set(), "", NOW).kind == "success"
    assert ju.outcome(job(completions=3), 2, 0, set(), "", NOW).kind == ""
    assert ju.outcome(job(), 1, 0, set(), "", NOW).kind == "success"
    over = ju.outcome(job(completions=3, backoffLimit=1), 0, 2, set(), "", NOW)
    assert (over.kind, over.reason) == ("failure", "BackoffLimitExceeded")
    assert ju.outcome(job(completions=3, backoffLimit=1), 0, 1, set(), "", NOW).kind == ""
    indexed = job(completions=3, completionMode="Indexed")
    assert ju.outcome(indexed, 5, 0, {0, 1}, "", NOW).kind == ""
    assert ju.outcome(indexed, 3, 0, {0, 1, 2}, "", NOW).kind == "success"
    late = job(activeDeadlineSeconds=10)
    late["status"]["startTime"] = (NOW - timedelta(seconds=11)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ju.outcome(late, 0, 0, set(), "", NOW).reason == "DeadlineExceeded"
    assert ju.deadline_remaining(late, NOW) == 0.0
    assert ju.outcome(job(), 0, 0, set(), "policy says no", NOW).reason == "PodFailurePolicy"


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [ju.backoff_delay(n) for n in range(5)] == [0.0, 10.0, 20.0, 40.0, 80.0]
    assert ju.backoff_delay(50) == ju.BACKOFF_MAX


def test_ttl_counts_from_completion() -> None:
    j = job(ttlSecondsAfterFinished=60)
    assert ju.ttl_remaining(j, NOW) is None  # not finished
    j["status"] = {
        "conditions": [{"type": "Complete", "status": "True"}],
        "completionTime": (NOW - timedelta(seconds=45)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert ju.ttl_remaining(j, NOW) == 15.0
    assert ju.ttl_remaining(job(), NOW) is None


def test_set_condition_keeps_transition_time_when_unchanged() -> None:
    first = ju.set_condition([], "Suspended", "True", "JobSuspended", "Job suspended", NOW)
    later = NOW + timedelta(minutes=1)
    again = ju.set_condition(first, "Suspended", "True", "JobSuspended", "Job suspended", later)
    assert again[0]["lastTransitionTime"] == first[0]["lastTransitionTime"]
    flipped = ju.set_condition(again, "Suspended", "False", "JobResumed", "Job resumed", later)
    assert flipped[0]["status"] == "False"
    assert flipped[0]["lastTransitionTime"] != first[0]["lastTransitionTime"]


def test_merge_patch_nulls_dropped_keys() -> None:
    old = {"active": 1, "uncountedTerminatedPods": {"succeeded": ["a"]}, "startTime": "t"}
    new = {"active": 0, "uncountedTerminatedPods": {}, "succeeded": 1}
    assert ju.merge_patch(old, new) == {
        "active": 0,
        "uncountedTerminatedPods": {"succeeded": None},
        "startTime": None,
        "succeeded": 1,
    }
    assert ju.merge_patch(new, new) == {}


def finished_pod(uid: str, phase: str, index: int | None = None, code: int = 1) -> Obj:
    pod = failed_pod(code, name=f"pi-{uid}")
    pod["metadata"].update(uid=uid, finalizers=[ju.TRACKING_FINALIZER])
    pod["status"]["phase"] = phase
    if index is not None:
        pod["metadata"]["annotations"] = {ju.INDEX_ANNOTATION: str(index)}
    return pod


def test_tally_sorts_finished_pods_once() -> None:
    j = job(completions=3)
    j["status"] = {"uncountedTerminatedPods": {"succeeded": ["a"]}}
    pods = [
        finished_pod("a", "Succeeded"),  # already uncounted: not added twice
        finished_pod("b", "Succeeded"),
        finished_pod("c", "Failed"),
        finished_pod("d", "Failed"),  # counted before; a stale cache still shows it
        {
            "metadata": {"uid": "e", "finalizers": [ju.TRACKING_FINALIZER]},
            "status": {"phase": "Running"},
        },
    ]
    t = ju.tally(j, pods, counted={"d"})
    assert (t.succeeded, t.failed, t.new) == (["a", "b"], ["c"], True)
    assert ju.tally(j, pods[:1], counted=set()).new is False


def test_tally_indexed_and_policy() -> None:
    j = job(completions=3, completionMode="Indexed")
    j["status"] = {"completedIndexes": "0"}
    t = ju.tally(j, [finished_pod("a", "Succeeded", 0), finished_pod("b", "Succeeded", 2)], set())
    assert t.succeeded == ["b"]
    assert t.done_indexes == {0, 2}
    assert [p["metadata"]["uid"] for p in t.ignored] == ["a"]  # index 0 was done already
    policy = {
        "rules": [
            {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [7]}},
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [9]}},
        ]
    }
    j = job(podFailurePolicy=policy)
    t = ju.tally(
        j, [finished_pod("x", "Failed", code=7), finished_pod("y", "Failed", code=9)], set()
    )
    assert t.failed == ["y"]
    assert [p["metadata"]["uid"] for p in t.ignored] == ["x"]
    assert "exit code 9 matching FailJob rule at index 1" in t.policy_failure


def test_finish_conditions_wait_for_the_pods() -> None:
    success = ju.Outcome(
        "success", "CompletionsReached", "Reached expected number of succeeded pods"
    )
    conds, final = ju.finish_conditions([], success, pods_left=True, now=NOW)
    assert ([c["type"] for c in conds], final) == (["SuccessCriteriaMet"], False)
    conds, final = ju.finish_conditions(conds, success, pods_left=False, now=NOW)
    assert ([c["type"] for c in conds], final) == (["SuccessCriteriaMet", "Complete"], True)
    failure = ju.Outcome(
        "failure", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    )
    conds, _ = ju.finish_conditions([], failure, pods_left=False, now=NOW)
    assert [c["type"] for c in conds] == ["FailureTarget", "Failed"]
    assert conds[1]["reason"] == "BackoffLimitExceeded"
