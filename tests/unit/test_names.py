"""Name, key and value formats match whole strings: a trailing newline is not a valid name
(Python's `$` matches before one), and the API server says so with a 422 on metadata.name."""

from __future__ import annotations

from typing import Any

import pytest

from knet.api import registry
from knet.api.names import (
    dns1123_subdomain_errors,
    is_dns1035_label,
    is_dns1123_label,
    label_value_errors,
    qualified_name_errors,
)
from knet.apiserver.allocators import ClusterIPAllocator, PortAllocator
from knet.apiserver.errors import ApiError
from knet.apiserver.resources import Resources
from knet.storage import MemoryStore


@pytest.mark.parametrize(
    "rule",
    [is_dns1123_label, is_dns1035_label, dns1123_subdomain_errors, label_value_errors,
     qualified_name_errors],
)  # fmt: skip
def test_a_trailing_newline_is_refused(rule: Any) -> None:
    assert rule("abc") == []
    assert rule("abc\n") != []


def bodies() -> dict[str, tuple[str | None, dict[str, Any]]]:
    """kind -> (namespace, object named "abc\\n")."""
    meta: dict[str, Any] = {"name": "abc\n"}
    return {
        "Pod": (
            "default",
            {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
             "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
        ),
        "Service": (
            "default",
            {"apiVersion": "v1", "kind": "Service", "metadata": meta,
             "spec": {"ports": [{"port": 80}]}},
        ),
        "Lease": (
            "default",
            {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
             "spec": {}},
        ),
        "Node": (None, {"apiVersion": "v1", "kind": "Node", "metadata": meta}),
        "Namespace": (None, {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}),
    }  # fmt: skip


@pytest.mark.parametrize("kind", ["Pod", "Service", "Lease", "Node", "Namespace"])
async def test_api_refuses_a_name_ending_in_newline(kind: str) -> None:
    res = Resources(MemoryStore(), ClusterIPAllocator("10.96.0.0/12"), PortAllocator("30000-32767"))
    await res.bootstrap()
    namespace, body = bodies()[kind]
    try:
        with pytest.raises(ApiError) as e:
            await res.create(registry.by_kind(kind), namespace, body)
        assert (e.value.code, e.value.reason) == (422, "Invalid")
        causes = (e.value.details or {}).get("causes") or []
        assert "metadata.name" in {c.get("field") for c in causes}, e.value.status()
    finally:
        await res.close()
