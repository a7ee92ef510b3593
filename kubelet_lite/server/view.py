"""What the kubelet API reads, and the small helpers every handler shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from kubelet_lite.status.checkpoint import PodDir


@dataclass(frozen=True)
class NodeView:
    """What the API reads from the kubelet: its pods (as the API server has them) and their
    directories on disk."""

    pods: Callable[[], list[dict[str, Any]]]
    pod_dir: Callable[[str], PodDir]
    node_name: str = ""

    def find(self, namespace: str, name: str) -> dict[str, Any] | None:
        for pod in self.pods():
            meta = pod.get("metadata") or {}
            if meta.get("namespace") == namespace and meta.get("name") == name:
                return pod
        return None


VIEW = web.AppKey("view", NodeView)


def text_error(code: int, message: str) -> web.Response:
    return web.Response(status=code, text=message + "\n", content_type="text/plain")


def container_names(pod: dict[str, Any]) -> list[str]:
    spec = pod.get("spec") or {}
    return [
        str(c.get("name")) for key in ("initContainers", "containers") for c in spec.get(key) or []
    ]


def pick_attempt(
    pd: PodDir, pod_name: str, container: str, previous: bool
) -> tuple[Path, Callable[[], bool]] | web.Response:
    """The log file of the attempt asked for and how to tell it has ended; or the error."""
    attempts = pd.attempts().get(container, [])
    if previous:
        if len(attempts) < 2:
            return text_error(
                400, f'previous terminated container "{container}" in pod "{pod_name}" not found'
            )
        chosen = attempts[-2]
    elif not attempts:
        return text_error(
            400,
            f'container "{container}" in pod "{pod_name}" is waiting to start: ContainerCreating',
        )
    else:
        chosen = attempts[-1]
    exit_file = pd.exit_file(container, chosen.number)
    pod_path = pd.path

    def ended() -> bool:
        return exit_file.exists() or not pod_path.exists()

    return pd.log_file(container, chosen.number), ended
