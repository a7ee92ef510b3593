"""In-cluster configuration, as a pod finds the API: the ``kubernetes`` Service's address from
the environment the kubelet injects (KUBERNETES_SERVICE_HOST/PORT), and the service account
token when one is mounted. knet's API server speaks plain HTTP on that port until the security
issue brings TLS, so the URL is http://."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

from knet.client import ClientConfig

TOKEN_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def in_cluster(env: Mapping[str, str]) -> bool:
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and bool(env.get("KUBERNETES_SERVICE_PORT"))


def in_cluster_config(env: Mapping[str, str], token_file: Path = TOKEN_FILE) -> ClientConfig:
    """The config of a client running in a pod; ValueError when the environment lacks it."""
    host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port.isdigit():
        raise ValueError(
            "not running in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"
        )
    if ":" in host:
        host = f"[{host}]"
    token = None
    # No token mounted: none exist before the security issue.
    with contextlib.suppress(OSError):
        token = token_file.read_text().strip() or None
    return ClientConfig(base_url=f"http://{host}:{port}", token=token)
