"""ConfigMaps and Secrets with the real kubectl on the local cluster: `kubectl create
configmap|secret`, a pod mounting them and reading them as env, `kubectl exec cat` of the
files, a ConfigMap edit reaching the file, and a pod that waits for a missing ConfigMap
(CreateContainerConfigError) until `kubectl create` makes it. One cluster for the module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from cluster_harness import Cluster, running_cluster, wait_for


@pytest.fixture(scope="module")
def one_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("vol"), 1) as c:
        yield c


def ok(c: Cluster, *args: str, stdin: str | None = None) -> str:
    r = c.kubectl(*args, stdin=stdin)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def pod(name: str, node: str, env: list[dict[str, Any]], volumes: list[dict[str, Any]]) -> str:
    mounts = [{"name": v["name"], "mountPath": f"/tmp/{v['name']}"} for v in volumes]
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "nodeName": node,
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "main",
                        "image": "busybox",
                        "command": ["sleep", "3600"],
                        "env": env,
                        "volumeMounts": mounts,
                    }
                ],
                "volumes": volumes,
            },
        }
    )


def ready(c: Cluster, name: str) -> None:
    def is_ready() -> bool:
        r = c.kubectl("get", "pod", name, "-o", "json")
        if r.returncode != 0:
            return False
        conds = json.loads(r.stdout).get("status", {}).get("conditions") or []
        return any(x["type"] == "Ready" and x["status"] == "True" for x in conds)

    wait_for(f"pod {name} Ready", is_ready, timeout=90)


def test_configmap_and_secret_files_env_and_update(one_node: Cluster) -> None:
    c = one_node
    node = c.topo.nodes[0].name
    ok(c, "create", "configmap", "app", "--from-literal=mode=fast", "--from-literal=level=3")
    ok(c, "create", "secret", "generic", "creds", "--from-literal=password=s3cret")
    env = [
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "mode"}}},
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
    ]
    volumes = [
        {"name": "cfg", "configMap": {"name": "app"}},
        {"name": "sec", "secret": {"secretName": "creds"}},
    ]
    ok(c, "apply", "-f", "-", stdin=pod("reader", node, env, volumes))
    ready(c, "reader")
    assert ok(c, "exec", "reader", "--", "cat", "/tmp/cfg/mode") == "fast"
    assert ok(c, "exec", "reader", "--", "cat", "/tmp/sec/password") == "s3cret"
    assert ok(c, "exec", "reader", "--", "sh", "-c", "echo $MODE $PW") == "fast s3cret\n"
    listing = ok(c, "exec", "reader", "--", "ls", "-a", "/tmp/cfg").split()
    assert {"..data", "level", "mode"} <= set(listing)

    ok(c, "patch", "configmap", "app", "--type", "merge", "-p", '{"data":{"mode":"slow"}}')

    def updated() -> bool:
        r = c.kubectl("exec", "reader", "--", "cat", "/tmp/cfg/mode")
        return r.returncode == 0 and r.stdout == "slow"

    wait_for("the ConfigMap edit in the file", updated, timeout=40)
    # The environment is read once, at the container's start (as upstream).
    assert ok(c, "exec", "reader", "--", "sh", "-c", "echo $MODE") == "fast\n"
    # "reader" stays: `knet cluster down` at the module's end must unmount its secret's tmpfs
    # (the teardown checks that no file of the cluster is left).


def test_missing_configmap_waits_until_created(one_node: Cluster) -> None:
    c = one_node
    node = c.topo.nodes[0].name
    env = [{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "later", "key": "k"}}}]
    ok(c, "apply", "-f", "-", stdin=pod("waiter", node, env, []))

    def waiting() -> dict[str, Any] | None:
        r = c.kubectl("get", "pod", "waiter", "-o", "json")
        if r.returncode != 0:
            return None
        for cs in json.loads(r.stdout).get("status", {}).get("containerStatuses") or []:
            w = cs.get("state", {}).get("waiting") or {}
            if w.get("reason") == "CreateContainerConfigError":
                return dict(w)
        return None

    w = wait_for("CreateContainerConfigError", waiting, timeout=60)
    assert w["message"] == 'configmap "later" not found'
    assert "CreateContainerConfigError" in ok(c, "get", "pod", "waiter")
    ok(c, "create", "configmap", "later", "--from-literal=k=v")
    ready(c, "waiter")
    assert ok(c, "exec", "waiter", "--", "sh", "-c", "echo $K") == "v\n"
    ok(c, "delete", "pod", "waiter", "--wait=true")
