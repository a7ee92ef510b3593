"""Every controller the manager names can be built, in the documented order."""

from __future__ import annotations

from knet.controllers import manager


def test_every_named_controller_has_a_builder() -> None:
    assert list(manager._BUILDERS) == list(manager.ALL_CONTROLLERS)
