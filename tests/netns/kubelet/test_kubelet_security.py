"""securityContext on a real node: runAsUser/Group, runAsNonRoot, no_new_privs, the default
capability set (no changing the network, no new namespaces), and privileged."""

from __future__ import annotations

from typing import Any

import pytest
from kubelet_harness import (
    NOTHING,
    Node,
    container_output,
    create_pod,
    get_pod,
    pod_manifest,
    wait_for,
    wait_gone,
)

from knet.client import ApiClient
from kubelet_lite.runtime.security import DEFAULT_CAPABILITIES, cap_mask

pytestmark = pytest.mark.root
END = "--end--"


def shell(name: str, script: str, **extra: Any) -> dict[str, Any]:
    cmd = ["sh", "-c", f"{script}; echo {END}; exec sleep 3600"]
    return {"name": name, "image": "busybox", "command": cmd, **extra}


async def output(node: Node, uid: str, name: str) -> list[str]:
    log = node.root / "pods" / uid / "logs" / name / "0.log"

    async def done() -> list[str] | None:
        lines = container_output(log).splitlines()
        return lines[: lines.index(END)] if END in lines else None

    return await wait_for(f"the output of {name}", done)


async def test_identity_capabilities_and_privilege(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    status = "grep -E '^(CapBnd|CapEff|NoNewPrivs):' /proc/self/status | tr -s '\\t ' ' '"
    attempts = (
        "ip link add kt-sa type veth peer name kt-sb 2>/dev/null && echo link-added "
        "|| echo link-refused; "
        "unshare -n true 2>/dev/null && echo unshared || echo unshare-refused"
    )
    user = shell(
        "user",
        "id -u; id -g; id -G",
        securityContext={"runAsUser": 1000, "runAsGroup": 3000},
    )
    default = shell(
        "default",
        f"{status}; {attempts}",
        securityContext={"allowPrivilegeEscalation": False},
    )
    privileged = shell("privileged", attempts, securityContext={"privileged": True})
    spec = {"securityContext": {"supplementalGroups": [4000]}, "terminationGracePeriodSeconds": 1}
    pod = await create_pod(
        client, node, pod_manifest("sec", node.name, [user, default, privileged], **spec)
    )
    uid = pod["metadata"]["uid"]
    node.uids.add(uid)
    assert await output(node, uid, "user") == ["1000", "3000", "3000 4000"]
    lines = await output(node, uid, "default")
    mask = f"{cap_mask(tuple(DEFAULT_CAPABILITIES)):016x}"
    assert lines[:3] == [f"CapEff: {mask}", f"CapBnd: {mask}", "NoNewPrivs: 1"]
    assert lines[3:] == ["link-refused", "unshare-refused"]
    # privileged keeps everything (the link goes into the pod's own network namespace).
    assert await output(node, uid, "privileged") == ["link-added", "unshared"]

    await client.delete("Pod", "sec", "default")
    await wait_gone(client, "sec")
    assert await node.aleftovers() == NOTHING


async def test_run_as_non_root_is_refused_for_root(node: Node, client: ApiClient) -> None:
    node.start_kubelet()
    c = shell("c", "true", securityContext={"runAsNonRoot": True})
    pod = await create_pod(client, node, pod_manifest("nonroot", node.name, [c]))
    node.uids.add(pod["metadata"]["uid"])

    async def refused() -> dict[str, Any] | None:
        p = await get_pod(client, "nonroot")
        for cs in ((p or {}).get("status") or {}).get("containerStatuses") or []:
            waiting = cs.get("state", {}).get("waiting") or {}
            if waiting.get("reason") == "CreateContainerConfigError":
                return dict(waiting)
        return None

    waiting = await wait_for("CreateContainerConfigError", refused)
    assert waiting["message"].startswith("container has runAsNonRoot and image will run as root")
    await client.delete("Pod", "nonroot", "default")
    await wait_gone(client, "nonroot")
    assert await node.aleftovers() == NOTHING
