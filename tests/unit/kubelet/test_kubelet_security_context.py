"""securityContext → what the runtime applies (pure)."""

from __future__ import annotations

import pytest

from kubelet_lite.pods.container_spec import ContainerConfigError
from kubelet_lite.pods.security_context import capabilities, container_security
from kubelet_lite.runtime.security import CAPABILITIES, DEFAULT_CAPABILITIES, plan_from_wire


def test_defaults_are_containerds_set() -> None:
    sec = container_security(None, None, "c", "p_ns(u)")
    assert sec.plan.uid is None and sec.plan.no_new_privs is False
    assert set(sec.plan.capabilities or ()) == set(DEFAULT_CAPABILITIES)
    assert sec.not_honoured == [] and sec.read_only_root is False
    assert plan_from_wire(sec.plan.to_wire()) == sec.plan


def test_capabilities_add_drop() -> None:
    assert capabilities({"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}, "x") == (
        "NET_BIND_SERVICE",
    )
    got = capabilities({"add": ["CAP_NET_ADMIN"], "drop": ["NET_RAW"]}, "x")
    assert "NET_ADMIN" in got and "NET_RAW" not in got
    assert capabilities({"add": ["ALL"]}, "x") == tuple(CAPABILITIES)
    with pytest.raises(ContainerConfigError, match="unknown capability 'FLY'"):
        capabilities({"add": ["FLY"]}, "x")


def test_container_overrides_pod_and_groups() -> None:
    pod = {"runAsUser": 1, "runAsGroup": 2, "supplementalGroups": [5], "fsGroup": 6}
    sec = container_security(pod, {"runAsUser": 7, "allowPrivilegeEscalation": False}, "c", "p")
    assert (sec.plan.uid, sec.plan.gid, sec.plan.groups) == (7, 2, (5, 6))
    assert sec.plan.no_new_privs
    assert sec.not_honoured == []  # fsGroup's volume ownership is pod_volumes.py's
    assert container_security(None, {"privileged": True}, "c", "p").plan.capabilities is None


def test_run_as_non_root() -> None:
    with pytest.raises(ContainerConfigError, match="runAsNonRoot and image will run as root"):
        container_security({"runAsNonRoot": True}, None, "c", "p")
    with pytest.raises(ContainerConfigError, match="breaks non-root policy"):
        container_security(None, {"runAsNonRoot": True, "runAsUser": 0}, "c", "p")
    assert (
        container_security({"runAsNonRoot": True, "runAsUser": 10}, None, "c", "p").plan.uid == 10
    )


def test_fields_not_honoured_are_named() -> None:
    sec = container_security(
        {"seccompProfile": {"type": "RuntimeDefault"}},
        {"seLinuxOptions": {"level": "s0"}},
        "c",
        "p",
    )
    assert sec.not_honoured == [
        "spec.securityContext.seccompProfile",
        "spec.containers[c].securityContext.seLinuxOptions",
    ]
