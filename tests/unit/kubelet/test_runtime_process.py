"""The kubelet's side of the runtime: which ends need a sweep of the container's session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubelet_lite.runtime import procfs
from kubelet_lite.runtime.namespaces import NamespacePlan
from kubelet_lite.runtime.pause import BUILTIN_NAME
from kubelet_lite.runtime.process import LaunchRequest, ends_alone
from kubelet_lite.runtime.resolve import ImagePlan


def req(namespaces: NamespacePlan | None, builtin: str | None = None) -> LaunchRequest:
    plan = ImagePlan("img", "", builtin=builtin) if builtin else ImagePlan("img", "", argv=["x"])
    return LaunchRequest(
        hostname="h",
        log=None,
        env={},
        plan=plan,
        pid_file=Path("/nonexistent/p"),
        exit_file=Path("/nonexistent/e"),
        pod_uid="u",
        namespaces=namespaces,
    )


@pytest.mark.parametrize(
    ("namespaces", "builtin", "alone"),
    [
        (NamespacePlan(holder=7, pid="container"), None, True),  # PID 1 of its own
        (NamespacePlan(holder=None, pid="pod"), "knet-pause", True),  # pause as the pod's init
        (NamespacePlan(holder=None, pid="host"), BUILTIN_NAME, True),  # pause starts nothing
        (NamespacePlan(holder=7, pid="pod"), None, False),  # a member of pause's namespace
        (NamespacePlan(holder=7, pid="host"), None, False),  # hostPID
        (None, None, False),
    ],
)
def test_only_a_namespace_init_or_pause_ends_alone(
    namespaces: NamespacePlan | None, builtin: str | None, alone: bool
) -> None:
    assert ends_alone(req(namespaces, builtin)) is alone


def test_this_process_is_no_namespace_init() -> None:
    assert not procfs.is_pid_namespace_init(os.getpid())
    assert not procfs.is_pid_namespace_init(2**22 + 1)  # no such process
