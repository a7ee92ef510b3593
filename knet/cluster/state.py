"""What a cluster made, on disk: ``<state root>/<name>/state.json``.

Every namespace, link, process and file is recorded *before* it is made: a process's command
line before it is spawned, its pid and start time right after (a process whose pid never got
recorded is found again by its command line and its working directory, the cluster directory).
So `down` can remove all of it even when `up` stopped half-way. Writes are atomic (write, fsync,
rename): a crash leaves the old record or the new one.

The state root is ``/var/lib/knet/clusters`` unless ``--state-dir`` or ``$KNET_STATE_DIR`` names
another.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from knet.cluster.topology import validate_name

DEFAULT_ROOT = Path("/var/lib/knet/clusters")
ENV_VAR = "KNET_STATE_DIR"
STATE_FILE = "state.json"
# A unix socket path must fit sockaddr_un.sun_path (108 bytes with the NUL).
MAX_SOCKET_PATH = 107


class StateError(Exception):
    """The recorded state cannot be read or does not fit the request; the message says why."""


def state_root(override: Path | None = None) -> Path:
    if override is not None:
        return override.absolute()
    env = os.environ.get(ENV_VAR)
    return Path(env).absolute() if env else DEFAULT_ROOT


def cluster_dir(root: Path, name: str) -> Path:
    return root / validate_name(name)


@dataclass
class ProcessRecord:
    role: str  # "apiserver", "kubelet/<node>", "kproxy/<node>", "hostgw/<node>"
    argv: list[str]
    log: str
    pid: int | None = None
    start_ticks: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProcessRecord:
        return cls(
            role=str(d["role"]),
            argv=[str(a) for a in d["argv"]],
            log=str(d["log"]),
            pid=None if d.get("pid") is None else int(d["pid"]),
            start_ticks=None if d.get("start_ticks") is None else int(d["start_ticks"]),
        )


@dataclass(frozen=True)
class LinkRecord:
    netns: str
    name: str


@dataclass
class ClusterState:
    directory: Path
    name: str
    nodes: int
    proxy_mode: str
    port: int
    namespaces: list[str] = field(default_factory=list)
    netns_prefixes: list[str] = field(default_factory=list)  # pod namespaces of the kubelets
    links: list[LinkRecord] = field(default_factory=list)
    processes: list[ProcessRecord] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ paths

    @property
    def path(self) -> Path:
        return self.directory / STATE_FILE

    @property
    def socket_path(self) -> Path:
        return self.directory / "apiserver.sock"

    @property
    def kubeconfig_path(self) -> Path:
        """For kubectl: http://127.0.0.1:<port>."""
        return self.directory / "kubeconfig"

    @property
    def node_kubeconfig_path(self) -> Path:
        """For the node agents: the unix socket (reachable from any network namespace)."""
        return self.directory / "kubeconfig-nodes"

    @property
    def logs_dir(self) -> Path:
        return self.directory / "logs"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def node_dir(self, node: str) -> Path:
        return self.directory / "nodes" / node

    # ------------------------------------------------------------------ disk

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "nodes": self.nodes,
            "proxyMode": self.proxy_mode,
            "port": self.port,
            "namespaces": self.namespaces,
            "netnsPrefixes": self.netns_prefixes,
            "links": [asdict(link) for link in self.links],
            "processes": [asdict(p) for p in self.processes],
            "files": self.files,
        }

    @classmethod
    def from_dict(cls, directory: Path, d: dict[str, Any]) -> ClusterState:
        return cls(
            directory=directory,
            name=str(d["name"]),
            nodes=int(d["nodes"]),
            proxy_mode=str(d["proxyMode"]),
            port=int(d["port"]),
            namespaces=[str(n) for n in d.get("namespaces", [])],
            netns_prefixes=[str(p) for p in d.get("netnsPrefixes", [])],
            links=[LinkRecord(str(x["netns"]), str(x["name"])) for x in d.get("links", [])],
            processes=[ProcessRecord.from_dict(p) for p in d.get("processes", [])],
            files=[str(f) for f in d.get("files", [])],
        )

    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{STATE_FILE}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.to_dict(), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, directory: Path) -> ClusterState | None:
        """The recorded state, or None when there is none."""
        path = directory / STATE_FILE
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StateError(f"cannot read {path}: {e.strerror}") from e
        try:
            return cls.from_dict(directory, json.loads(text))
        except (ValueError, KeyError, TypeError) as e:
            raise StateError(f"{path} is not a cluster state file: {e}") from e

    # ------------------------------------------------------------------ recording

    def add_namespace(self, name: str) -> None:
        if name not in self.namespaces:
            self.namespaces.append(name)
            self.save()

    def add_netns_prefix(self, prefix: str) -> None:
        if prefix not in self.netns_prefixes:
            self.netns_prefixes.append(prefix)
            self.save()

    def add_link(self, netns: str, name: str) -> None:
        link = LinkRecord(netns, name)
        if link not in self.links:
            self.links.append(link)
            self.save()

    def add_file(self, path: Path) -> None:
        if str(path) not in self.files:
            self.files.append(str(path))
            self.save()

    def process(self, role: str) -> ProcessRecord | None:
        for p in self.processes:
            if p.role == role:
                return p
        return None

    def set_process(self, record: ProcessRecord) -> None:
        """Record (or replace) the process of ``record.role``."""
        self.processes = [p for p in self.processes if p.role != record.role]
        self.processes.append(record)
        self.save()


def check_socket_path(path: Path) -> None:
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise StateError(
            f"the API server's unix socket path {path} is longer than {MAX_SOCKET_PATH} bytes; "
            "use a shorter --state-dir"
        )
