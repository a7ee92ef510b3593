"""The etcd members of an HA cluster: their PKI, command lines and health.

Every member listens on 127.0.0.1 only (client, peer and metrics ports distinct), with TLS and
client-certificate authentication on both the client and the peer port; the plain-HTTP
metrics port serves ``/health`` for readiness checks without certificates. Debian's
``etcd-server`` (3.4) runs them; ``etcdctl`` (``etcd-client``) reads their status.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knet.pki import certs, files

HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class Member:
    index: int
    name: str
    client_port: int
    peer_port: int
    metrics_port: int
    host: str = "127.0.0.1"  # the local cluster's; a Vagrant VM's own address there

    @property
    def client_url(self) -> str:
        return f"https://{self.host}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"https://{self.host}:{self.peer_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "clientPort": self.client_port,
            "peerPort": self.peer_port,
            "metricsPort": self.metrics_port,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Member:
        return cls(
            int(d["index"]),
            str(d["name"]),
            int(d["clientPort"]),
            int(d["peerPort"]),
            int(d["metricsPort"]),
        )


@dataclass(frozen=True)
class PemFiles:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    """Where the etcd PKI of a cluster lives (``<cluster dir>/pki``)."""

    directory: Path

    @property
    def ca(self) -> PemFiles:
        return self.member("etcd-ca")

    def member(self, name: str) -> PemFiles:
        return PemFiles(self.directory / f"{name}.crt", self.directory / f"{name}.key")

    @property
    def client(self) -> PemFiles:
        """The API servers' (and etcdctl's) client certificate."""
        return self.member("apiserver-etcd-client")


def ensure_pki(where: Pki, members: Sequence[Member]) -> None:
    """Make the CA, a serving + peer certificate per member (for its address, 127.0.0.1 and
    localhost) and the client certificate, each only if missing (a second `up` keeps what the
    members already trust)."""
    base = where.directory
    if where.ca.cert.exists() and where.ca.key.exists():
        ca = files.read_pair(base / "etcd-ca")
    else:
        ca = certs.new_ca("knet-etcd-ca")
        files.write_pair(base / "etcd-ca", ca)
    for m in members:
        if not where.member(m.name).cert.exists():
            hosts = list(dict.fromkeys([m.host, *HOSTS]))
            files.write_pair(base / m.name, certs.peer_cert(ca, m.name, hosts))
    if not where.client.cert.exists():
        client = certs.client_cert(ca, "kube-apiserver-etcd-client", ["system:masters"])
        files.write_pair(base / "apiserver-etcd-client", client)


def member_argv(
    m: Member, members: Sequence[Member], where: Pki, data_dir: Path, token: str
) -> list[str]:
    own = where.member(m.name)
    ca = str(where.ca.cert)
    initial = ",".join(f"{o.name}={o.peer_url}" for o in members)
    return [
        shutil.which("etcd") or "etcd",
        f"--name={m.name}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={m.client_url}",
        f"--advertise-client-urls={m.client_url}",
        f"--listen-peer-urls={m.peer_url}",
        f"--initial-advertise-peer-urls={m.peer_url}",
        f"--listen-metrics-urls={m.metrics_url}",
        f"--initial-cluster={initial}",
        # Ignored once the data dir holds a member: a restart rejoins with what it has.
        "--initial-cluster-state=new",
        f"--initial-cluster-token={token}",
        f"--cert-file={own.cert}",
        f"--key-file={own.key}",
        f"--trusted-ca-file={ca}",
        "--client-cert-auth",
        f"--peer-cert-file={own.cert}",
        f"--peer-key-file={own.key}",
        f"--peer-trusted-ca-file={ca}",
        "--peer-client-cert-auth",
        "--logger=zap",
        "--log-level=warn",
    ]


def healthy(m: Member, timeout: float = 1.0) -> bool:
    """The member's /health (on the metrics port): true only while it sees a leader."""
    try:
        with urllib.request.urlopen(m.metrics_url + "/health", timeout=timeout) as r:
            return bool(json.loads(r.read()).get("health") == "true")
    except (urllib.error.URLError, OSError, TimeoutError, ValueError):
        return False


def etcdctl_argv(members: Sequence[Member], where: Pki, *args: str) -> list[str]:
    return [
        shutil.which("etcdctl") or "etcdctl",
        "--endpoints=" + ",".join(m.client_url for m in members),
        f"--cacert={where.ca.cert}",
        f"--cert={where.client.cert}",
        f"--key={where.client.key}",
        "--command-timeout=2s",
        "--dial-timeout=1s",
        *args,
    ]


@dataclass(frozen=True)
class MemberStatus:
    member: Member
    reachable: bool
    is_leader: bool = False
    raft_term: int = 0
    revision: int = 0
    db_size: int = 0


def parse_endpoint_status(members: Sequence[Member], text: str) -> list[MemberStatus]:
    """``etcdctl endpoint status -w json`` (only the members that answered appear in it)."""
    by_url = {m.client_url: m for m in members}
    found: dict[str, MemberStatus] = {}
    for entry in json.loads(text or "[]"):
        m = by_url.get(entry.get("Endpoint", ""))
        st = entry.get("Status") or {}
        header = st.get("header") or {}
        if m is None:
            continue
        found[m.client_url] = MemberStatus(
            member=m,
            reachable=True,
            is_leader=bool(header.get("member_id") and header.get("member_id") == st.get("leader")),
            raft_term=int(st.get("raftTerm") or header.get("raft_term") or 0),
            revision=int(header.get("revision") or 0),
            db_size=int(st.get("dbSize") or 0),
        )
    return [found.get(m.client_url, MemberStatus(m, reachable=False)) for m in members]


def endpoint_status(members: Sequence[Member], where: Pki) -> list[MemberStatus]:
    argv = etcdctl_argv(members, where, "endpoint", "status", "-w", "json")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return [MemberStatus(m, reachable=False) for m in members]
    try:
        return parse_endpoint_status(members, done.stdout)
    except ValueError:
        return [MemberStatus(m, reachable=False) for m in members]
