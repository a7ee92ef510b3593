"""knet dns in a pod: the API from KUBERNETES_SERVICE_HOST/PORT."""

from __future__ import annotations

from pathlib import Path

import pytest

from knet.dns.incluster import in_cluster, in_cluster_config


def test_the_kubernetes_service_from_the_environment(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert in_cluster(env)
    config = in_cluster_config(env, tmp_path / "absent")
    assert (config.base_url, config.token) == ("http://10.96.0.1:443", None)
    token = tmp_path / "token"
    token.write_text("abc\n")
    assert in_cluster_config(env, token).token == "abc"
    v6 = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    assert in_cluster_config(v6, tmp_path / "absent").base_url == "http://[fd00::1]:443"


def test_outside_a_pod_is_a_readable_error(tmp_path: Path) -> None:
    assert not in_cluster({})
    with pytest.raises(ValueError, match="not running in a pod"):
        in_cluster_config({"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, tmp_path / "t")
