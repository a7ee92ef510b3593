"""The machines end-to-end test: the Vagrant cluster booted with systemd-nspawn. Slow (a
root filesystem build on an empty cache, three booting machines), so it runs only when asked
for: ``pytest -m machines tests/e2e/machines`` (or KNET_MACHINES_E2E=1)."""

from __future__ import annotations

import os
import shutil

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "machines: boots systemd-nspawn machines (opt-in)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asked = "machines" in (config.getoption("-m") or "") or os.environ.get("KNET_MACHINES_E2E")
    for item in items:
        if "machines" not in item.keywords:
            continue
        if not asked:
            item.add_marker(pytest.mark.skip(reason="opt-in: pytest -m machines"))
        for tool in ("systemd-nspawn", "mmdebstrap"):
            if shutil.which(tool) is None:
                item.add_marker(pytest.mark.skip(reason=f"needs {tool} (scripts/setup)"))
