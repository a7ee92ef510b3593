"""Object semantics of Resources.create over the in-memory store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from knet.api import registry
from knet.apiserver import resources as resources_mod
from knet.apiserver.allocators import ClusterIPAllocator, PortAllocator
from knet.apiserver.errors import ApiError
from knet.apiserver.resources import Resources
from knet.storage import MemoryStore

POD = registry.by_kind("Pod")


def pod(**meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


async def new_resources() -> Resources:
    res = Resources(MemoryStore(), ClusterIPAllocator("10.96.0.0/12"), PortAllocator("30000-32767"))
    await res.bootstrap()
    return res


def names(seq: list[str]) -> Iterator[str]:
    yield from seq


async def test_generate_name_retries_a_collision(monkeypatch: pytest.MonkeyPatch) -> None:
    res = await new_resources()
    await res.create(POD, "default", pod(name="web-aaaaa"))
    picks = names(["aaaaa", "aaaaa", "bbbbb"])
    monkeypatch.setattr(resources_mod, "_generated_name", lambda prefix: prefix + next(picks))
    created = await res.create(POD, "default", pod(generateName="web-"))
    assert created["metadata"]["name"] == "web-bbbbb"
    await res.close()


async def test_generate_name_gives_up_with_already_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    res = await new_resources()
    await res.create(POD, "default", pod(name="web-aaaaa"))
    monkeypatch.setattr(resources_mod, "_generated_name", lambda prefix: prefix + "aaaaa")
    with pytest.raises(ApiError) as e:
        await res.create(POD, "default", pod(generateName="web-"))
    assert (e.value.code, e.value.reason) == (409, "AlreadyExists")
    await res.close()


async def test_concurrent_creates_all_land() -> None:
    """Creates are not serialised behind one another (they share store commits)."""
    res = await new_resources()
    made = await asyncio.gather(
        *(res.create(POD, "default", pod(name=f"p{i}")) for i in range(200))
    )
    revisions = sorted(int(m["metadata"]["resourceVersion"]) for m in made)
    assert len(set(revisions)) == 200
    items, _ = await res.list_objects(POD, "default")
    assert {i["metadata"]["name"] for i in items} == {f"p{i}" for i in range(200)}
    await res.close()
