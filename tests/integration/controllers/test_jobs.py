"""Jobs and ReplicationControllers against a real API server with fake nodes whose pods run to
completion."""

from __future__ import annotations

from typing import Any

from _fakecluster import EXIT_CODE_ANNOTATION, Cluster, eventually

from knet.controllers.job import JobController

Obj = dict[str, Any]


def job(name: str, exit_code: int = 0, **spec: Any) -> Obj:
    annotations = {EXIT_CODE_ANNOTATION: str(exit_code)}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "work", "image": "busybox:1.36"}],
                },
            },
            **spec,
        },
    }


async def start(cluster: Cluster, finish_after: float = 0.1) -> None:
    JobController.backoff_base = 0.05  # upstream waits 10 s before replacing a failed pod
    for i in range(2):
        node = await cluster.add_node(f"kt-node-{i}")
        node.finish_after = finish_after
    cluster.start_controllers()
    cluster.start_scheduler()


async def job_pods(cluster: Cluster, name: str) -> list[Obj]:
    pods, _ = await cluster.client.list(
        "Pod", "default", label_selector={"batch.kubernetes.io/job-name": name}
    )
    return pods


def conditions(job: Obj) -> dict[str, Obj]:
    return {c["type"]: c for c in (job.get("status") or {}).get("conditions") or []}


async def test_job_runs_its_completions_and_completes(cluster: Cluster) -> None:
    await start(cluster)
    client = cluster.client
    await client.create(job("count", completions=5, parallelism=2))

    async def complete() -> bool:
        j = await client.get("Job", "count", "default")
        return "Complete" in conditions(j)

    await eventually(complete, timeout=30)
    j = await client.get("Job", "count", "default")
    st = j["status"]
    assert st["succeeded"] == 5
    assert st.get("failed", 0) == 0
    assert st["active"] == 0
    assert st["completionTime"] and st["startTime"]
    assert conditions(j)["SuccessCriteriaMet"]["status"] == "True"
    assert conditions(j)["Complete"]["reason"] == "CompletionsReached"
    pods = await job_pods(cluster, "count")
    assert len(pods) == 5
    # Every pod was counted, so none keeps the tracking finalizer.
    assert all(
        "batch.kubernetes.io/job-tracking" not in (p["metadata"].get("finalizers") or [])
        for p in pods
    )


async def test_job_fails_after_backoff_limit(cluster: Cluster) -> None:
    await start(cluster)
    client = cluster.client
    await client.create(job("broken", exit_code=3, backoffLimit=2))

    async def failed() -> bool:
        j = await client.get("Job", "broken", "default")
        return "Failed" in conditions(j)

    await eventually(failed, timeout=30)
    j = await client.get("Job", "broken", "default")
    assert j["status"]["failed"] == 3  # backoffLimit 2: the third failure ends it
    assert conditions(j)["Failed"]["reason"] == "BackoffLimitExceeded"
    assert conditions(j)["FailureTarget"]["status"] == "True"
    assert len(await job_pods(cluster, "broken")) == 3


async def test_pod_failure_policy_fail_job_on_exit_code(cluster: Cluster) -> None:
    await start(cluster)
    client = cluster.client
    policy = {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]}
    await client.create(job("policy", exit_code=42, backoffLimit=6, podFailurePolicy=policy))

    async def failed() -> bool:
        return "Failed" in conditions(await client.get("Job", "policy", "default"))

    await eventually(failed, timeout=30)
    j = await client.get("Job", "policy", "default")
    cond = conditions(j)["Failed"]
    assert cond["reason"] == "PodFailurePolicy"
    assert "exit code 42" in cond["message"]
    assert j["status"]["failed"] == 1


async def test_indexed_job_gives_each_pod_its_index(cluster: Cluster) -> None:
    await start(cluster)
    client = cluster.client
    await client.create(job("idx", completions=3, parallelism=3, completionMode="Indexed"))

    async def complete() -> bool:
        return "Complete" in conditions(await client.get("Job", "idx", "default"))

    await eventually(complete, timeout=30)
    j = await client.get("Job", "idx", "default")
    assert j["status"]["completedIndexes"] == "0-2"
    assert j["status"]["succeeded"] == 3
    pods = await job_pods(cluster, "idx")
    indexes = sorted(
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods
    )
    assert indexes == ["0", "1", "2"]
    for p in pods:
        index = p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        assert p["metadata"]["name"].startswith(f"idx-{index}-")
        assert p["spec"]["hostname"] == f"idx-{index}"
        env = p["spec"]["containers"][0]["env"][0]
        assert env["name"] == "JOB_COMPLETION_INDEX"
        assert "job-completion-index" in env["valueFrom"]["fieldRef"]["fieldPath"]


async def test_suspended_job_runs_nothing_until_resumed(cluster: Cluster) -> None:
    await start(cluster, finish_after=0.3)
    client = cluster.client
    await client.create(job("later", suspend=True))

    async def suspended() -> bool:
        return "Suspended" in conditions(await client.get("Job", "later", "default"))

    await eventually(suspended)
    assert await job_pods(cluster, "later") == []
    await client.patch("Job", "later", {"spec": {"suspend": False}}, namespace="default")

    async def complete() -> bool:
        return "Complete" in conditions(await client.get("Job", "later", "default"))

    await eventually(complete, timeout=30)
    j = await client.get("Job", "later", "default")
    assert conditions(j)["Suspended"]["status"] == "False"
    assert conditions(j)["Suspended"]["reason"] == "JobResumed"


async def test_active_deadline_fails_a_long_job(cluster: Cluster) -> None:
    await start(cluster, finish_after=60)
    client = cluster.client
    await client.create(job("slow", activeDeadlineSeconds=1))

    async def failed() -> bool:
        return "Failed" in conditions(await client.get("Job", "slow", "default"))

    await eventually(failed, timeout=30)
    j = await client.get("Job", "slow", "default")
    assert conditions(j)["Failed"]["reason"] == "DeadlineExceeded"
    assert j["status"]["active"] == 0


async def test_finished_job_is_deleted_after_its_ttl(cluster: Cluster) -> None:
    await start(cluster)
    client = cluster.client
    await client.create(job("brief", ttlSecondsAfterFinished=1))

    async def gone() -> bool:
        jobs, _ = await client.list("Job", "default")
        return not any(j["metadata"]["name"] == "brief" for j in jobs)

    async def complete() -> bool:
        return "Complete" in conditions(await client.get("Job", "brief", "default"))

    await eventually(complete, timeout=30)
    await eventually(gone, timeout=30)


async def test_replication_controller_keeps_its_replicas(cluster: Cluster) -> None:
    await start(cluster)
    client = cluster.client
    labels = {"app": "legacy"}
    await client.create(
        {
            "apiVersion": "v1",
            "kind": "ReplicationController",
            "metadata": {"name": "legacy"},
            "spec": {
                "replicas": 3,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
                },
            },
        }
    )

    async def ready() -> bool:
        rc = await client.get("ReplicationController", "legacy", "default")
        return (rc.get("status") or {}).get("readyReplicas") == 3

    await eventually(ready, timeout=30)
    pods, _ = await client.list("Pod", "default", label_selector=labels)
    assert len(pods) == 3
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "ReplicationController" for p in pods)
    await client.patch(
        "ReplicationController", "legacy", {"spec": {"replicas": 1}}, namespace="default"
    )

    async def scaled_down() -> bool:
        pods, _ = await client.list("Pod", "default", label_selector=labels)
        return len([p for p in pods if not p["metadata"].get("deletionTimestamp")]) == 1

    await eventually(scaled_down, timeout=30)


async def test_deleting_a_job_releases_and_removes_its_pods(cluster: Cluster) -> None:
    await start(cluster, finish_after=None)  # the pods never end by themselves
    client = cluster.client
    await client.create(job("endless", parallelism=2, completions=4))

    async def running() -> bool:
        pods = await job_pods(cluster, "endless")
        return len(pods) == 2 and all(p.get("status", {}).get("phase") == "Running" for p in pods)

    await eventually(running, timeout=30)
    await client.delete("Job", "endless", "default", propagation_policy="Background")

    async def gone() -> bool:
        return await job_pods(cluster, "endless") == []

    # The garbage collector deletes the pods; the Job controller takes its finalizer off them.
    await eventually(gone, timeout=30)
