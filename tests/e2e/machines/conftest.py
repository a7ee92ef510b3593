"""The machines end-to-end test: the Vagrant cluster booted with systemd-nspawn. Slow (a
root filesystem build on an empty cache, three booting machines) but part of the default
run; deselect it with ``pytest -m "not machines"``."""

from __future__ import annotations

import shutil

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "machines" not in item.keywords:
            continue
        for tool in ("systemd-nspawn", "mmdebstrap"):
            if shutil.which(tool) is None:
                item.add_marker(pytest.mark.skip(reason=f"needs {tool} (scripts/setup)"))
