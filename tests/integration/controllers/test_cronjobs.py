"""CronJobs against a real API server with fake nodes. A start time is made due at once by
setting status.lastScheduleTime a few minutes back, as a CronJob that missed runs has it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from _fakecluster import Cluster, eventually

Obj = dict[str, Any]


def cronjob(name: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {
            "schedule": "*/1 * * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "containers": [{"name": "tick", "image": "busybox:1.36"}],
                        }
                    }
                }
            },
            **spec,
        },
    }


async def start(cluster: Cluster, finish_after: float | None) -> None:
    for i in range(2):
        node = await cluster.add_node(f"kt-node-{i}")
        node.finish_after = finish_after
    cluster.start_controllers()
    cluster.start_scheduler()


async def missed_runs(cluster: Cluster, name: str, minutes: int = 3) -> None:
    back = (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await cluster.client.patch_status(
        "CronJob", name, {"status": {"lastScheduleTime": back}}, namespace="default"
    )


async def owned_jobs(cluster: Cluster, name: str) -> list[Obj]:
    jobs, _ = await cluster.client.list("Job", "default")
    return [
        j
        for j in jobs
        if any(r["name"] == name for r in j["metadata"].get("ownerReferences") or [])
        and not j["metadata"].get("deletionTimestamp")
    ]


async def test_cronjob_fires_and_records_success(cluster: Cluster) -> None:
    await start(cluster, finish_after=0.1)
    client = cluster.client
    await client.create(cronjob("tick"))
    await missed_runs(cluster, "tick")

    async def succeeded() -> bool:
        cj = await client.get("CronJob", "tick", "default")
        st = cj.get("status") or {}
        return bool(st.get("lastSuccessfulTime")) and not st.get("active")

    await eventually(succeeded, timeout=30)
    jobs = await owned_jobs(cluster, "tick")
    assert len(jobs) == 1
    job = jobs[0]
    scheduled = job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    minutes = int(datetime.fromisoformat(scheduled.replace("Z", "+00:00")).timestamp()) // 60
    assert job["metadata"]["name"] == f"tick-{minutes}"
    cj = await client.get("CronJob", "tick", "default")
    assert cj["status"]["lastScheduleTime"] == scheduled


async def running_job(cluster: Cluster, cj_name: str) -> str:
    """A Job of the CronJob from an earlier run, still running (its pods never end)."""
    cj = await cluster.client.get("CronJob", cj_name, "default")
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{cj_name}-earlier",
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": cj_name,
                    "uid": cj["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": cj["spec"]["jobTemplate"]["spec"],
    }
    await cluster.client.create(job)
    return f"{cj_name}-earlier"


async def test_forbid_skips_while_a_run_is_active_and_replace_replaces(cluster: Cluster) -> None:
    await start(cluster, finish_after=None)  # runs never end
    client = cluster.client
    await client.create(cronjob("solo", concurrencyPolicy="Forbid"))
    await client.create(cronjob("fresh", concurrencyPolicy="Replace"))
    await client.create(cronjob("marker"))
    earlier_solo = await running_job(cluster, "solo")
    earlier_fresh = await running_job(cluster, "fresh")
    for name in ("solo", "fresh", "marker"):
        await missed_runs(cluster, name)

    async def replaced() -> bool:
        names = [j["metadata"]["name"] for j in await owned_jobs(cluster, "fresh")]
        return len(names) == 1 and names != [earlier_fresh]

    async def marker_ran() -> bool:
        return len(await owned_jobs(cluster, "marker")) == 1

    await eventually(replaced, timeout=30)
    await eventually(marker_ran, timeout=30)
    # The same start times came for all three: Forbid kept its running Job and started none.
    assert [j["metadata"]["name"] for j in await owned_jobs(cluster, "solo")] == [earlier_solo]
    solo = await client.get("CronJob", "solo", "default")
    assert [r["name"] for r in solo["status"]["active"]] == [earlier_solo]


async def test_suspended_cronjob_starts_nothing(cluster: Cluster) -> None:
    await start(cluster, finish_after=0.1)
    client = cluster.client
    await client.create(cronjob("held", suspend=True))
    await client.create(cronjob("marker"))
    await missed_runs(cluster, "held")
    await missed_runs(cluster, "marker")

    async def marker_ran() -> bool:
        return len(await owned_jobs(cluster, "marker")) == 1

    # The other CronJob ran in the same time: the suspended one had its chance and did not.
    await eventually(marker_ran, timeout=30)
    assert await owned_jobs(cluster, "held") == []
