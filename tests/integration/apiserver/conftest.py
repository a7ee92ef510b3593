from __future__ import annotations

from pathlib import Path

import pytest
from _apiserver_http import Kubectl

from knet.testing.apiserver import ApiServerProcess


@pytest.fixture
def kubectl(apiserver: ApiServerProcess, tmp_path: Path) -> Kubectl:
    """kubectl against this test's server; HOME and the discovery cache live in tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    return Kubectl(kubeconfig=apiserver.kubeconfig, home=home)
