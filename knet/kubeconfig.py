"""Writing a kubeconfig that points kubectl (or the Python client) at a knet API server."""

from __future__ import annotations

from pathlib import Path

import yaml


def render(server: str, name: str = "knet", namespace: str = "default") -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server}}],
        "users": [{"name": name, "user": {}}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}
        ],
        "current-context": name,
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def write(path: Path, server: str, name: str = "knet") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render(server, name))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path
