"""ApiClient against a real `knet apiserver` process: CRUD, patches, subresources, errors,
watches, a unix socket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from knet.api import Pod, from_wire
from knet.client import (
    ADDED,
    DELETED,
    MODIFIED,
    ApiClient,
    ApiConnectionError,
    ApiError,
    ExpiredError,
    is_already_exists,
    is_conflict,
    is_not_found,
)
from knet.testing.apiserver import ApiServerProcess, running_apiserver


def pod(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


def node_obj(name: str) -> dict[str, Any]:
    return {"kind": "Node", "metadata": {"name": name, "labels": {"kt": "yes"}}}


@pytest.fixture
async def client(apiserver: ApiServerProcess) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as c:
        yield c


async def test_create_get_list_replace_delete(client: ApiClient) -> None:
    created = await client.create(pod("kt-a", {"app": "web"}))
    assert created["metadata"]["namespace"] == "default", "the kubeconfig's namespace"
    assert created["metadata"]["uid"]
    await client.create(pod("kt-b", {"app": "db"}))

    got = await client.get("Pod", "kt-a")
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    typed = from_wire(Pod, got)
    assert typed.metadata is not None and typed.metadata.name == "kt-a"

    items, rv = await client.list("Pod", "default", label_selector={"app": "web"})
    assert [i["metadata"]["name"] for i in items] == ["kt-a"]
    assert items[0]["kind"] == "Pod" and rv.isdigit()
    everything, _ = await client.list("Pod")
    assert {i["metadata"]["name"] for i in everything} == {"kt-a", "kt-b"}

    got["metadata"]["labels"]["tier"] = "front"
    replaced = await client.replace(got)
    assert replaced["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert replaced["metadata"]["resourceVersion"] != got["metadata"]["resourceVersion"]

    with pytest.raises(ApiError) as stale:
        await client.replace(got)  # still carries the old resourceVersion
    assert is_conflict(stale.value) and stale.value.code == 409

    with pytest.raises(ApiError) as dup:
        await client.create(pod("kt-a"))
    assert is_already_exists(dup.value) and not is_conflict(dup.value)

    await client.delete("Pod", "kt-b", grace_period_seconds=0)
    with pytest.raises(ApiError) as gone:
        await client.get("Pod", "kt-b")
    assert is_not_found(gone.value)
    assert gone.value.message == 'pods "kt-b" not found'
    with pytest.raises(ApiError) as gone_again:
        await client.delete("Pod", "kt-b")
    assert is_not_found(gone_again.value)


async def test_cluster_scoped_objects_and_status(client: ApiClient) -> None:
    await client.create(node_obj("kt-n1"))
    node = await client.get("Node", "kt-n1")
    node["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    updated = await client.replace_status(node)
    assert updated["status"]["conditions"][0]["status"] == "True"
    patched = await client.patch_status(
        "Node", "kt-n1", {"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}
    )
    assert patched["status"]["conditions"] == [{"type": "Ready", "status": "Unknown"}]
    nodes, _ = await client.list("Node", label_selector="kt=yes")
    assert [n["metadata"]["name"] for n in nodes] == ["kt-n1"]


async def test_patch_types(client: ApiClient) -> None:
    await client.create(pod("kt-p", {"a": "1"}))
    merged = await client.patch("Pod", "kt-p", {"metadata": {"labels": {"b": "2", "a": None}}})
    assert merged["metadata"]["labels"] == {"b": "2"}
    strategic = await client.patch(
        "Pod",
        "kt-p",
        {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}},
        patch_type="strategic",
    )
    assert [c["image"] for c in strategic["spec"]["containers"]] == ["busybox:2"]
    jsonp = await client.patch(
        "Pod",
        "kt-p",
        [{"op": "add", "path": "/metadata/annotations", "value": {"x": "y"}}],
        patch_type="json",
    )
    assert jsonp["metadata"]["annotations"] == {"x": "y"}
    with pytest.raises(ApiError) as bad:
        await client.patch(
            "Pod",
            "kt-p",
            [{"op": "test", "path": "/metadata/name", "value": "other"}],
            patch_type="json",
        )
    assert bad.value.code == 422
    with pytest.raises(ValueError, match="list of operations"):
        await client.patch("Pod", "kt-p", {"a": 1}, patch_type="json")


async def test_bind_sets_the_node_once(client: ApiClient) -> None:
    await client.create(pod("kt-sched"))
    await client.bind("default", "kt-sched", "kt-node-1")
    assert (await client.get("Pod", "kt-sched"))["spec"]["nodeName"] == "kt-node-1"
    with pytest.raises(ApiError) as again:
        await client.bind("default", "kt-sched", "kt-node-2")
    assert again.value.code == 409


async def test_bad_input_is_a_readable_error(client: ApiClient) -> None:
    with pytest.raises(ApiError) as invalid:
        await client.create({"kind": "Pod", "metadata": {"name": "kt-bad"}, "spec": {}})
    assert invalid.value.code == 422 and invalid.value.reason == "Invalid"
    with pytest.raises(ApiError) as selector:
        await client.list("Pod", field_selector="spec.nope=x")
    assert selector.value.code == 400
    with pytest.raises(ValueError, match="unknown kind"):
        await client.get("Widget", "x")


async def test_watch_sees_added_modified_deleted(client: ApiClient) -> None:
    _, rv = await client.list("Pod", "default")
    await client.create(pod("kt-w"))
    await client.patch("Pod", "kt-w", {"metadata": {"labels": {"v": "2"}}})
    await client.delete("Pod", "kt-w")
    seen: list[tuple[str, str | None]] = []
    async for ev in client.watch("Pod", "default", resource_version=rv, timeout_seconds=30):
        seen.append((ev.type, (ev.object["metadata"].get("labels") or {}).get("v")))
        assert ev.resource_version is not None
        if ev.type == DELETED:
            break
    assert seen == [(ADDED, None), (MODIFIED, "2"), (DELETED, "2")]


async def test_watch_label_selector_turns_leaving_into_deleted(client: ApiClient) -> None:
    _, rv = await client.list("Pod", "default")
    await client.create(pod("kt-sel", {"app": "web"}))
    await client.patch("Pod", "kt-sel", {"metadata": {"labels": {"app": "db"}}})
    await client.create(pod("kt-end", {"app": "web"}))
    names: list[tuple[str, str]] = []
    async for ev in client.watch(
        "Pod", "default", resource_version=rv, label_selector="app=web", timeout_seconds=30
    ):
        names.append((ev.type, ev.object["metadata"]["name"]))
        if ev.object["metadata"]["name"] == "kt-end":
            break
    assert names == [(ADDED, "kt-sel"), (DELETED, "kt-sel"), (ADDED, "kt-end")]


async def test_watch_from_compacted_version_raises_expired(tmp_path: Path) -> None:
    with running_apiserver(tmp_path, "--history-window", "5") as server:
        async with ApiClient.from_url(server.url) as client:
            _, rv = await client.list("Pod", "default")
            for i in range(12):
                await client.create(pod(f"kt-{i}"))
            with pytest.raises(ExpiredError) as e:
                async for _ in client.watch("Pod", "default", resource_version=rv):
                    pass
            assert e.value.code == 410 and e.value.reason == "Expired"


async def test_unix_socket(tmp_path: Path) -> None:
    sock = tmp_path / "kt-api.sock"
    with running_apiserver(tmp_path, "--unix-socket", str(sock)):
        for url in (f"unix://{sock}", "http+unix://" + str(sock).replace("/", "%2F")):
            async with ApiClient.from_url(url) as client:
                namespaces, _ = await client.list("Namespace")
                assert "kube-system" in {n["metadata"]["name"] for n in namespaces}


async def test_unreachable_server_is_a_connection_error(apiserver: ApiServerProcess) -> None:
    apiserver.kill()
    async with ApiClient.from_url(apiserver.url) as client:
        with pytest.raises(ApiConnectionError):
            await client.list("Pod")
        with pytest.raises(ApiConnectionError):
            async for _ in client.watch("Pod", resource_version="1"):
                pass
