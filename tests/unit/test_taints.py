# ruff: noqa: E501  (wide rows of table-driven cases read best unwrapped)
"""Taints and tolerations (knet.api.taints), shared by the scheduler and node lifecycle."""

from __future__ import annotations

from typing import Any

import pytest

from knet.api.taints import tolerates

Obj = dict[str, Any]


@pytest.mark.parametrize(
    ("toleration", "taint", "want"),
    [
        ({"key": "k", "operator": "Equal", "value": "v"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, True),
        ({"key": "k", "value": "v", "effect": "NoExecute"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, False),
        ({"key": "k", "operator": "Exists"}, {"key": "k", "value": "x", "effect": "NoSchedule"}, True),
        ({"operator": "Exists"}, {"key": "any", "effect": "NoExecute"}, True),
        ({"key": "", "operator": "Equal", "value": ""}, {"key": "k", "effect": "NoSchedule"}, False),
        ({"key": "other", "operator": "Exists"}, {"key": "k", "effect": "NoSchedule"}, False),
    ],
)  # fmt: skip
def test_tolerates(toleration: Obj, taint: Obj, want: bool) -> None:
    assert tolerates(toleration, taint) is want
