"""How the pod's containers look in its status: one ContainerView per container. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from kubelet_lite.pods.container_run import ContainerRun
from kubelet_lite.pods.container_spec import container_id
from kubelet_lite.status.pod_status import ContainerView


def initializing(init_runs: Sequence[ContainerRun]) -> bool:
    """Some init container has yet to finish well (a running sidecar counts as done)."""
    return any(
        not (r.sidecar and r.running)
        and not (r.exit is not None and r.exit.exit_code == 0 and not r.exit.start_error)
        for r in init_runs
    )


def container_views(
    uid: str,
    init_runs: Sequence[ContainerRun],
    runs: Sequence[ContainerRun],
    sandbox_error: str | None,
) -> tuple[list[ContainerView], list[ContainerView]]:
    """The views of the init containers and of the containers."""
    waiting_for_init = initializing(init_runs)
    return (
        [container_view(uid, r, sandbox_error, False) for r in init_runs],
        [container_view(uid, r, sandbox_error, waiting_for_init) for r in runs],
    )


def container_view(
    uid: str, run: ContainerRun, sandbox_error: str | None, waiting_for_init: bool
) -> ContainerView:
    c = run.spec
    cid = container_id(uid, c.name, run.attempt) if run.attempt >= 0 else None
    view = ContainerView(
        name=c.name,
        # A running container shows the image it runs, as the runtime reports it.
        image=(run.image if run.running and run.image else c.image) or "",
        image_id=run.image_id,
        container_id=cid,
        restart_count=max(run.attempt, 0),
        last=run.last,
    )
    if run.running:
        return replace(view, ready=run.ready, started=run.started, running_since=run.started_at)
    term = run.terminated(uid)
    if term is not None and run.backing_off:
        return replace(
            view,
            last=term,
            waiting_reason="CrashLoopBackOff",
            waiting_message=run.waiting_message,
        )
    if term is not None:
        return replace(view, terminated=term)
    if run.blocked:
        return replace(view, waiting_reason=run.waiting_reason, waiting_message=run.waiting_message)
    if sandbox_error:
        return replace(view, waiting_message=sandbox_error)
    if waiting_for_init:
        return replace(view, waiting_reason="PodInitializing")
    if run.waiting_reason == "RunContainerError":
        return replace(view, waiting_reason=run.waiting_reason, waiting_message=run.waiting_message)
    return view
