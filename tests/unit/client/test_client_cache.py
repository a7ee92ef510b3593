"""The informer cache: keys, upserts, removals, relists, and indexes kept in step."""

from __future__ import annotations

from typing import Any

import pytest

from knet.client.cache import (
    NAMESPACE_INDEX,
    Cache,
    field_index,
    namespace_index,
    object_key,
    split_key,
)


def pod(name: str, ns: str = "default", node: str | None = None, rv: str = "1") -> dict[str, Any]:
    obj: dict[str, Any] = {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "resourceVersion": rv},
        "spec": {},
    }
    if node is not None:
        obj["spec"]["nodeName"] = node
    return obj


def test_keys_are_namespace_slash_name_or_name() -> None:
    assert object_key(pod("a", "ns1")) == "ns1/a"
    assert object_key({"metadata": {"name": "node-1"}}) == "node-1"
    assert split_key("ns1/a") == ("ns1", "a")
    assert split_key("node-1") == (None, "node-1")
    with pytest.raises(ValueError, match=r"metadata\.name"):
        object_key({"metadata": {}})


def test_upsert_returns_the_replaced_object_and_remove_returns_the_removed() -> None:
    c = Cache()
    first, second = pod("a", rv="1"), pod("a", rv="2")
    assert c.upsert(first) is None
    assert c.upsert(second) is first
    assert c.get("default/a") is second
    assert c.get_by_name("a", "default") is second
    assert len(c) == 1 and "default/a" in c
    assert c.remove("default/a") is second
    assert c.remove("default/a") is None
    assert len(c) == 0


def test_index_follows_updates_and_deletes() -> None:
    nodes = "node"
    c = Cache({nodes: field_index("spec", "nodeName"), NAMESPACE_INDEX: namespace_index})
    c.upsert(pod("a", node="n1"))
    c.upsert(pod("b", node="n1"))
    c.upsert(pod("c", ns="other", node="n2"))
    c.upsert(pod("pending"))  # no node: not indexed under any node
    assert [p["metadata"]["name"] for p in c.by_index(nodes, "n1")] == ["a", "b"]
    assert c.index_values(nodes) == ["n1", "n2"]

    c.upsert(pod("b", node="n2", rv="2"))  # moved: must leave n1's bucket
    assert c.index_keys(nodes, "n1") == ["default/a"]
    assert c.index_keys(nodes, "n2") == ["default/b", "other/c"]

    c.remove("default/a")
    assert c.by_index(nodes, "n1") == []
    assert "n1" not in c.index_values(nodes), "empty buckets are dropped"
    assert c.index_keys(NAMESPACE_INDEX, "other") == ["other/c"]
    assert c.index_keys(NAMESPACE_INDEX, "default") == ["default/b", "default/pending"]


def test_indexers_added_later_cover_existing_objects() -> None:
    c = Cache()
    c.upsert(pod("a", node="n1"))
    c.add_indexers({"node": field_index("spec", "nodeName")})
    assert c.index_keys("node", "n1") == ["default/a"]
    with pytest.raises(ValueError, match="already exists"):
        c.add_indexers({"node": field_index("spec", "nodeName")})


def test_multi_valued_index() -> None:
    def by_label_values(obj: dict[str, Any]) -> list[str]:
        return sorted((obj["metadata"].get("labels") or {}).values())

    c = Cache({"labels": by_label_values})
    obj = pod("a")
    obj["metadata"]["labels"] = {"app": "web", "tier": "front"}
    c.upsert(obj)
    assert c.index_keys("labels", "web") == ["default/a"]
    assert c.index_keys("labels", "front") == ["default/a"]


def test_replace_holds_exactly_the_new_set_and_rebuilds_indexes() -> None:
    c = Cache({"node": field_index("spec", "nodeName")})
    c.upsert(pod("gone", node="n1"))
    c.upsert(pod("kept", node="n1"))
    c.replace([pod("kept", node="n2", rv="5"), pod("new", node="n2")])
    assert sorted(c.keys()) == ["default/kept", "default/new"]
    assert c.by_index("node", "n1") == []
    assert c.index_keys("node", "n2") == ["default/kept", "default/new"]


def test_unknown_index_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="no index named 'nope'"):
        Cache().by_index("nope", "x")
