"""What kubelet-lite keeps on disk, per pod, so that a restart can pick up where it left off.

    <root>/pods/<uid>/checkpoint.json           who the pod is, its sandbox, its start time
    <root>/pods/<uid>/run/<container>.<n>.pid   attempt n of a container: pid + start time
    <root>/pods/<uid>/run/<container>.<n>.exit  ...and how it ended
    <root>/pods/<uid>/logs/<container>/<n>.log  its stdout and stderr

The checkpoint is written *before* the work it describes (the sandbox intent goes to disk before
the namespace is made), so nothing is ever created without a record. The run records are
written by the zygote, which outlives a crashed kubelet: a spawn in flight when the kubelet died
is still recorded. The attempt number is the container's restartCount.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kubelet_lite.network.conf import SandboxResult
from kubelet_lite.runtime.process import (
    ExitRecord,
    ProcessRecord,
    read_exit_record,
    read_pid_record,
)
from kubelet_lite.volumes import tmpfs

SandboxState = Literal["none", "creating", "ready", "deleting"]
_SAFE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # fullmatch: no trailing newline
# A container's name, or POD: the pod's pause process (pods/pause.py).
_RUN_RE = re.compile(r"(?P<name>POD|[a-z0-9]([-a-z0-9]*[a-z0-9])?)\.(?P<n>\d+)\.(pid|exit)")
CHECKPOINT = "checkpoint.json"


def dir_name(uid: str) -> str:
    """The pod's directory name: its UID when that is a safe file name, else a hash of it."""
    if _SAFE_RE.fullmatch(uid) and uid not in (".", ".."):
        return uid
    return "h-" + hashlib.sha256(uid.encode()).hexdigest()[:32]


@dataclass
class PodCheckpoint:
    uid: str
    namespace: str
    name: str
    sandbox_state: SandboxState = "none"
    sandbox: SandboxResult | None = None
    host_network: bool = False
    start_time: str | None = None
    # Set once the pod reached Succeeded/Failed and was torn down: never start it again.
    terminal_phase: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "namespace": self.namespace,
            "name": self.name,
            "sandboxState": self.sandbox_state,
            "sandbox": self.sandbox.to_dict() if self.sandbox else None,
            "hostNetwork": self.host_network,
            "startTime": self.start_time,
            "terminalPhase": self.terminal_phase,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PodCheckpoint:
        sandbox = d.get("sandbox")
        state = d.get("sandboxState", "none")
        if state not in ("none", "creating", "ready", "deleting"):
            raise ValueError(f"unknown sandbox state {state!r}")
        known = {
            "uid",
            "namespace",
            "name",
            "sandboxState",
            "sandbox",
            "hostNetwork",
            "startTime",
            "terminalPhase",
        }
        return cls(
            uid=str(d["uid"]),
            namespace=str(d["namespace"]),
            name=str(d["name"]),
            sandbox_state=state,
            sandbox=SandboxResult.from_dict(sandbox) if sandbox else None,
            host_network=bool(d.get("hostNetwork", False)),
            start_time=d.get("startTime"),
            terminal_phase=d.get("terminalPhase"),
            extra={k: v for k, v in d.items() if k not in known},
        )


@dataclass(frozen=True)
class Attempt:
    """One run of a container, as recorded."""

    container: str
    number: int
    process: ProcessRecord | None  # None: the spawn never got as far as a pid
    exit: ExitRecord | None  # None: still running (or ended unseen)


class PodDir:
    def __init__(self, pods_dir: Path, uid: str) -> None:
        self.uid = uid
        self.path = pods_dir / dir_name(uid)
        self._made = False  # the directories exist (saves a syscall per write)

    @property
    def run_dir(self) -> Path:
        return self.path / "run"

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> PodCheckpoint | None:
        try:
            doc = json.loads(self.checkpoint_path.read_text())
            return PodCheckpoint.from_dict(doc)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, cp: PodCheckpoint) -> None:
        """Atomically replace the checkpoint (a crash leaves the old or the new one)."""
        if not self._made:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._made = True
        tmp = self.path / f".{CHECKPOINT}.tmp"
        with open(tmp, "w") as f:
            json.dump(cp.to_dict(), f)
        os.replace(tmp, self.checkpoint_path)

    def pid_file(self, container: str, n: int) -> Path:
        return self.run_dir / f"{container}.{n}.pid"

    def stdin_file(self, container: str, n: int) -> Path:
        """The FIFO that is attempt ``n``'s stdin when the container asks for one."""
        return self.run_dir / f"{container}.{n}.stdin"

    def exit_file(self, container: str, n: int) -> Path:
        return self.run_dir / f"{container}.{n}.exit"

    def log_file(self, container: str, n: int) -> Path:
        """Where attempt ``n`` logs (the zygote makes the directory)."""
        return self.logs_dir / container / f"{n}.log"

    def attempts(self) -> dict[str, list[Attempt]]:
        """Every recorded attempt, per container, oldest first."""
        numbers: dict[str, set[int]] = {}
        with contextlib.suppress(FileNotFoundError):
            for entry in os.listdir(self.run_dir):
                m = _RUN_RE.fullmatch(entry)
                if m:
                    numbers.setdefault(m["name"], set()).add(int(m["n"]))
        out: dict[str, list[Attempt]] = {}
        for name, ns in numbers.items():
            out[name] = [
                Attempt(
                    name,
                    n,
                    read_pid_record(self.pid_file(name, n)),
                    read_exit_record(self.exit_file(name, n)),
                )
                for n in sorted(ns)
            ]
        return out

    def remove(self) -> None:
        tmpfs.unmount_under(self.path)  # memory-backed volumes (volumes/tmpfs.py)
        shutil.rmtree(self.path, ignore_errors=True)
        self._made = False


class StateStore:
    def __init__(self, pods_dir: Path) -> None:
        self.pods_dir = pods_dir
        pods_dir.mkdir(parents=True, exist_ok=True)

    def pod(self, uid: str) -> PodDir:
        return PodDir(self.pods_dir, uid)

    def all(self) -> Iterator[tuple[PodDir, PodCheckpoint | None]]:
        """Every pod directory with its checkpoint (None when it has none or it is unreadable:
        the directory of a pod whose first checkpoint write did not finish)."""
        for entry in sorted(os.listdir(self.pods_dir)):
            path = self.pods_dir / entry
            if not path.is_dir():
                continue
            pd = PodDir(self.pods_dir, entry)
            pd.path = path
            cp = pd.load()
            if cp is not None:
                pd.uid = cp.uid
            yield pd, cp
