from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from knet.testing.apiserver import ApiServerProcess, running_apiserver


def pytest_configure(config: pytest.Config) -> None:
    # The venv's bin holds knet's commands (and kubectl, on machines without one); put it
    # last on PATH so a machine's own kubectl wins.
    venv_bin = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if venv_bin not in path.split(os.pathsep):
        os.environ["PATH"] = path + os.pathsep + venv_bin if path else venv_bin


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    not_root = os.geteuid() != 0
    no_kubectl = shutil.which("kubectl") is None
    for item in items:
        if not_root and "root" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="needs root (network namespaces, iptables)"))
        if no_kubectl and "kubectl" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="kubectl is not installed"))


@pytest.fixture
def apiserver(tmp_path: Path) -> Iterator[ApiServerProcess]:
    """A real `knet apiserver` process on 127.0.0.1 with its own data dir."""
    with running_apiserver(tmp_path) as server:
        yield server
