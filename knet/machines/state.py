"""The record of everything ``knet machines up`` made, under /var/lib/knet/machines/<name>/.

Each thing is added here *before* it is made, and saved at once, so that ``down`` after a crash
finds it. ``down`` removes what is recorded and nothing else: processes by pid and start time,
namespaces, mounts and directories by path.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"


class StateError(Exception):
    """The state file is unreadable; the message says which file."""


@dataclass
class Proc:
    role: str  # "nspawn/<machine>", "relay"
    argv: list[str]
    log: str
    pid: int | None = None
    start_ticks: int | None = None


@dataclass
class MachinesState:
    directory: Path
    name: str
    nodes: int
    port: int  # the 127.0.0.1 port of the kubectl relay
    namespaces: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)  # overlay roots, unmounted in reverse
    dirs: list[str] = field(default_factory=list)  # removed (recursively) after the mounts
    processes: list[Proc] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.directory / STATE_FILE

    @property
    def kubeconfig_path(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def logs_dir(self) -> Path:
        return self.directory / "logs"

    def machine_dir(self, machine: str) -> Path:
        return self.directory / "machines" / machine

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["directory"] = str(self.directory)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MachinesState:
        return cls(
            directory=Path(d["directory"]),
            name=str(d["name"]),
            nodes=int(d["nodes"]),
            port=int(d["port"]),
            namespaces=[str(n) for n in d.get("namespaces", [])],
            mounts=[str(m) for m in d.get("mounts", [])],
            dirs=[str(x) for x in d.get("dirs", [])],
            processes=[Proc(**p) for p in d.get("processes", [])],
        )

    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        os.replace(tmp, self.path)  # never a half-written state file

    @classmethod
    def load(cls, directory: Path) -> MachinesState | None:
        path = directory / STATE_FILE
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StateError(f"cannot read {path}: {exc}") from None

    def _add(self, items: list[str], item: str) -> None:
        if item not in items:
            items.append(item)
            self.save()

    def add_namespace(self, name: str) -> None:
        self._add(self.namespaces, name)

    def add_mount(self, path: Path) -> None:
        self._add(self.mounts, str(path))

    def add_dir(self, path: Path) -> None:
        self._add(self.dirs, str(path))

    def process(self, role: str) -> Proc | None:
        return next((p for p in self.processes if p.role == role), None)

    def set_process(self, proc: Proc) -> None:
        self.processes = [p for p in self.processes if p.role != proc.role] + [proc]
        self.save()

    def drop_process(self, role: str) -> None:
        self.processes = [p for p in self.processes if p.role != role]
        self.save()
