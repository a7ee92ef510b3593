"""The ReplicationController controller: the ReplicaSet controller's loop over v1
ReplicationControllers, whose selector is a plain label map (every pair must match)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from knet.api.selectors import LabelSelector, selector_from_set
from knet.controllers.replicaset import ReplicaSetController

RC_API_VERSION, RC_KIND = "v1", "ReplicationController"


def rc_selector(rc: Mapping[str, Any]) -> LabelSelector:
    """An empty or unreadable selector selects nothing (defaulting fills it from the template)."""
    raw = (rc.get("spec") or {}).get("selector")
    if not isinstance(raw, dict) or not raw:
        return LabelSelector.nothing()
    return selector_from_set({str(k): str(v) for k, v in raw.items()})


class ReplicationControllerController(ReplicaSetController):
    name = "replicationcontroller"
    component = "replication-controller"
    owner_kind = RC_KIND
    owner_api_version = RC_API_VERSION

    def selector(self, rs: Mapping[str, Any]) -> LabelSelector:
        return rc_selector(rs)
