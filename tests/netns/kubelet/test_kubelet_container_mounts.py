"""Each container's own mount namespace on a real node: the node's root read-only, a private
/tmp, its own /proc, a minimal /dev, and the kubelet's resolv.conf, hosts and hostname per
dnsPolicy; none of it visible from the node, all of it gone with the pod."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubelet_harness import (
    NOTHING,
    Node,
    container_output,
    create_pod,
    pod_manifest,
    wait_for,
    wait_gone,
    wait_running,
)

from knet.client import ApiClient

pytestmark = pytest.mark.root

NODE_RESOLV = "nameserver 192.0.2.53\nsearch example.test lab.test\noptions timeout:2 ndots:1\n"
END = "--end--"


CONTAINER_MOUNT_POINTS = {"/", "/tmp", "/run", "/proc", "/dev", "/dev/pts", "/dev/shm"}
CONTAINER_MOUNT_POINTS |= {"/dev/mqueue", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}


def mounts_of_node(tmp_path: Path) -> list[str]:
    """The node's mounts at the places a container mounts on, or of the test's files. (Other
    work on this machine adds and removes mounts elsewhere meanwhile.)"""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] in CONTAINER_MOUNT_POINTS or str(tmp_path) in line:
            out.append(" ".join(fields[2:]))
    return sorted(out)


def shell(name: str, script: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": "busybox",
        "command": ["sh", "-c", script + f"; echo {END}; exec sleep 3600"],
    }


async def output(node: Node, uid: str, name: str) -> str:
    log = node.root / "pods" / uid / "logs" / name / "0.log"

    async def done() -> str | None:
        text = "\n" + container_output(log)
        at = text.find(f"\n{END}\n")  # the marker on a line of its own
        return text[1 : at + 1] if at >= 0 else None

    return await wait_for(f"the output of {name}", done)


def start(node: Node, tmp_path: Path) -> None:
    resolv = tmp_path / "node-resolv.conf"
    resolv.write_text(NODE_RESOLV)
    node.start_kubelet("--resolv-conf", str(resolv), "--cluster-domain", "cluster.test")


async def run_pod(
    client: ApiClient, node: Node, name: str, containers: list[dict[str, Any]], **spec: Any
) -> str:
    pod = await create_pod(
        client,
        node,
        pod_manifest(name, node.name, containers, terminationGracePeriodSeconds=1, **spec),
    )
    uid = str(pod["metadata"]["uid"])
    node.uids.add(uid)
    await wait_running(client, name)
    return uid


async def delete(client: ApiClient, node: Node, name: str) -> None:
    await client.delete("Pod", name, "default")
    await wait_gone(client, name)


async def test_dns_files_per_policy(node: Node, client: ApiClient, tmp_path: Path) -> None:
    start(node, tmp_path)
    cat = "cat /etc/resolv.conf; echo --; cat /etc/hostname; echo --; cat /etc/hosts"
    uid = await run_pod(
        client,
        node,
        "dns-cf",
        [shell("c", cat)],
        hostname="web-0",
        subdomain="web",
        hostAliases=[{"ip": "192.0.2.9", "hostnames": ["foo.local", "bar.local"]}],
    )
    pod = await client.get("Pod", "dns-cf", "default")
    ip = pod["status"]["podIP"]
    resolv, hostname, hosts = (await output(node, uid, "c")).split("--\n")
    assert resolv == (
        "search default.svc.cluster.test svc.cluster.test cluster.test example.test lab.test\n"
        "nameserver 10.96.0.10\n"
        "options ndots:5\n"
    )
    assert hostname == "web-0\n"
    assert hosts == (
        "# Kubernetes-managed hosts file.\n"
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "fe00::0\tip6-mcastprefix\n"
        "fe00::1\tip6-allnodes\n"
        "fe00::2\tip6-allrouters\n"
        f"{ip}\tweb-0.web.default.svc.cluster.test\tweb-0\n"
        "\n# Entries added by HostAliases.\n"
        "192.0.2.9\tfoo.local\tbar.local\n"
    )

    uid = await run_pod(
        client, node, "dns-default", [shell("c", "cat /etc/resolv.conf")], dnsPolicy="Default"
    )
    assert await output(node, uid, "c") == (
        "search example.test lab.test\nnameserver 192.0.2.53\noptions timeout:2 ndots:1\n"
    )
    none_cfg = {
        "nameservers": ["192.0.2.1"],
        "searches": ["a.test"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
    }
    uid = await run_pod(
        client,
        node,
        "dns-none",
        [shell("c", "cat /etc/resolv.conf")],
        dnsPolicy="None",
        dnsConfig=none_cfg,
    )
    assert (
        await output(node, uid, "c")
        == "search a.test\nnameserver 192.0.2.1\noptions ndots:2 edns0\n"
    )
    # hostNetwork with ClusterFirst gets the node's resolver, as upstream.
    uid = await run_pod(
        client, node, "dns-host", [shell("c", "cat /etc/resolv.conf; hostname")], hostNetwork=True
    )
    assert await output(node, uid, "c") == (
        "search example.test lab.test\nnameserver 192.0.2.53\noptions timeout:2 ndots:1\n"
        f"{node.name}\n"
    )
    for name in ("dns-cf", "dns-default", "dns-none", "dns-host"):
        await delete(client, node, name)
    assert await node.aleftovers() == NOTHING


async def test_read_only_root_private_tmp_own_proc(
    node: Node, client: ApiClient, tmp_path: Path
) -> None:
    start(node, tmp_path)
    on_node = tmp_path / "seen-by-node-only"
    on_node.write_text("x")
    before = mounts_of_node(tmp_path)
    script = (
        "touch /etc/knet-should-fail 2>/dev/null && echo etc-writable || echo etc-read-only; "
        "echo hi > /tmp/mine && cat /tmp/mine; "
        f"test -e {on_node} && echo node-tmp-visible || echo node-tmp-hidden; "
        "echo > /var/run/x && echo run-writable; "
        "cat /proc/1/cmdline | tr '\\0' ' '; echo; ls -d /proc/[0-9]* | wc -l; "
        "ls /dev | tr '\\n' ' '; echo; echo data > /dev/null && echo devnull-ok"
    )
    uid = await run_pod(client, node, "fs", [shell("c", script)])
    lines = (await output(node, uid, "c")).splitlines()
    assert lines[:4] == ["etc-read-only", "hi", "node-tmp-hidden", "run-writable"]
    assert lines[4].startswith("sh -c touch /etc/knet-should-fail")
    # Only the container's own processes: sh (PID 1) and the pipeline's ls.
    assert int(lines[5].strip()) <= 3
    devs = set(lines[6].split())
    assert {"null", "zero", "random", "urandom", "tty", "pts", "shm", "fd"} <= devs
    assert "vda" not in devs and "kmsg" not in devs
    assert lines[7] == "devnull-ok"
    assert not Path("/etc/knet-should-fail").exists()
    # Nothing the container mounted shows on the node.
    assert mounts_of_node(tmp_path) == before
    await delete(client, node, "fs")
    assert await node.aleftovers() == NOTHING
    assert mounts_of_node(tmp_path) == before


async def test_read_only_root_filesystem_makes_tmp_read_only_and_still_private(
    node: Node, client: ApiClient, tmp_path: Path
) -> None:
    start(node, tmp_path)
    on_node = tmp_path / "seen-by-node-only"
    on_node.write_text("x")
    script = (
        "(echo hi > /tmp/mine) 2>/dev/null && echo tmp-writable || echo tmp-read-only; "
        f"test -e {on_node} && echo node-tmp-visible || echo node-tmp-hidden"
    )
    container = shell("c", script) | {"securityContext": {"readOnlyRootFilesystem": True}}
    uid = await run_pod(client, node, "rofs", [container])
    assert (await output(node, uid, "c")).splitlines() == ["tmp-read-only", "node-tmp-hidden"]
    await delete(client, node, "rofs")
    assert await node.aleftovers() == NOTHING


async def test_empty_dir_shared_and_unsupported_volume_refused(
    node: Node, client: ApiClient, tmp_path: Path
) -> None:
    start(node, tmp_path)
    vol = [{"name": "shared", "emptyDir": {}}]
    init = {
        "name": "init",
        "image": "busybox",
        "command": ["sh", "-c", "echo from-init > /tmp/shared/note"],
        "volumeMounts": [{"name": "shared", "mountPath": "/tmp/shared"}],
    }
    main = shell("c", "cat /srv/note")
    main["volumeMounts"] = [{"name": "shared", "mountPath": "/srv", "readOnly": True}]
    uid = await run_pod(client, node, "vols", [main], initContainers=[init], volumes=vol)
    assert await output(node, uid, "c") == "from-init\n"

    bad = pod_manifest(
        "nfs-vol",
        node.name,
        [shell("c", "true")],
        volumes=[{"name": "share", "nfs": {"server": "192.0.2.1", "path": "/x"}}],
    )
    pod = await create_pod(client, node, bad)
    node.uids.add(pod["metadata"]["uid"])

    async def refused() -> dict[str, Any] | None:
        p = await client.get("Pod", "nfs-vol", "default")
        for cs in (p.get("status") or {}).get("containerStatuses") or []:
            waiting = cs.get("state", {}).get("waiting") or {}
            if waiting.get("reason") == "CreateContainerConfigError":
                return waiting
        return None

    waiting = await wait_for("CreateContainerConfigError", refused)
    assert "spec.volumes[0].nfs" in waiting["message"]
    for name in ("vols", "nfs-vol"):
        await delete(client, node, name)
    assert await node.aleftovers() == NOTHING
