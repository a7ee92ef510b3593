"""batch/v1: Job and CronJob."""

from knet.api.base import JSONObject, KubeModel, Time
from knet.api.core import PodTemplateSpec
from knet.api.meta import ConditionBase, KubeList, KubeObject, LabelSelector, ObjectMeta


class PodFailurePolicyOnExitCodesRequirement(KubeModel):
    container_name: str | None = None
    operator: str
    values: list[int]


class PodFailurePolicyOnPodConditionsPattern(KubeModel):
    type: str
    status: str | None = None


class PodFailurePolicyRule(KubeModel):
    action: str
    on_exit_codes: PodFailurePolicyOnExitCodesRequirement | None = None
    on_pod_conditions: list[PodFailurePolicyOnPodConditionsPattern] | None = None


class PodFailurePolicy(KubeModel):
    rules: list[PodFailurePolicyRule]


class SuccessPolicyRule(KubeModel):
    succeeded_indexes: str | None = None
    succeeded_count: int | None = None


class SuccessPolicy(KubeModel):
    rules: list[SuccessPolicyRule]


class JobSpec(KubeModel):
    template: PodTemplateSpec
    parallelism: int | None = None
    completions: int | None = None
    active_deadline_seconds: int | None = None
    pod_failure_policy: PodFailurePolicy | None = None
    success_policy: SuccessPolicy | None = None
    backoff_limit: int | None = None
    backoff_limit_per_index: int | None = None
    max_failed_indexes: int | None = None
    selector: LabelSelector | None = None
    manual_selector: bool | None = None
    ttl_seconds_after_finished: int | None = None
    completion_mode: str | None = None
    suspend: bool | None = None
    pod_replacement_policy: str | None = None
    managed_by: str | None = None


class JobCondition(ConditionBase):
    last_probe_time: Time | None = None


class UncountedTerminatedPods(KubeModel):
    succeeded: list[str] | None = None
    failed: list[str] | None = None


class JobStatus(KubeModel):
    conditions: list[JobCondition] | None = None
    start_time: Time | None = None
    completion_time: Time | None = None
    active: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    terminating: int | None = None
    completed_indexes: str | None = None
    failed_indexes: str | None = None
    uncounted_terminated_pods: UncountedTerminatedPods | None = None
    ready: int | None = None


class Job(KubeObject):
    api_version: str = "batch/v1"
    kind: str = "Job"
    spec: JobSpec | None = None
    status: JobStatus | None = None


class JobList(KubeList[Job]):
    api_version: str = "batch/v1"
    kind: str = "JobList"


class JobTemplateSpec(KubeModel):
    metadata: ObjectMeta | None = None
    spec: JobSpec | None = None


class CronJobSpec(KubeModel):
    schedule: str
    job_template: JobTemplateSpec
    time_zone: str | None = None
    starting_deadline_seconds: int | None = None
    concurrency_policy: str | None = None
    suspend: bool | None = None
    successful_jobs_history_limit: int | None = None
    failed_jobs_history_limit: int | None = None


class CronJobStatus(KubeModel):
    # ObjectReferences of the running Jobs.
    active: list[JSONObject] | None = None
    last_schedule_time: Time | None = None
    last_successful_time: Time | None = None


class CronJob(KubeObject):
    api_version: str = "batch/v1"
    kind: str = "CronJob"
    spec: CronJobSpec | None = None
    status: CronJobStatus | None = None


class CronJobList(KubeList[CronJob]):
    api_version: str = "batch/v1"
    kind: str = "CronJobList"
