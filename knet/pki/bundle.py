"""A cluster's certificates and keys, laid out as kubeadm lays out /etc/kubernetes/pki, and the
per-identity kubeconfigs that carry them.

    <dir>/ca.crt, ca.key                  the cluster CA
    <dir>/apiserver.crt, apiserver.key    the API server's serving certificate
    <dir>/sa.key, sa.pub                  the service-account token signing key pair
    <dir>/clients/<id>.crt, <id>.key      client identities (admin, components, nodes)

Made once and kept: a second call only adds what is missing (a new node's identity).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization

from knet.pki.certs import CertKey, client_cert, new_ca, new_key, serving_cert
from knet.pki.files import CERT_MODE, read_pair, write_file, write_key_file, write_pair

# (file id, user, groups): upstream's identities for the admin and the control plane.
ADMIN = ("admin", "kubernetes-admin", ("system:masters",))
COMPONENTS = (
    ADMIN,
    ("controller-manager", "system:kube-controller-manager", ()),
    ("scheduler", "system:kube-scheduler", ()),
    ("kube-proxy", "system:kube-proxy", ()),
)


def node_identity(node: str) -> tuple[str, str, tuple[str, ...]]:
    return (f"node-{node}", f"system:node:{node}", ("system:nodes",))


def apiserver_sans(addresses: Iterable[str], service_ip: str, domain: str) -> list[str]:
    """The names a client may reach the API server by (kubeadm's list)."""
    names = ["127.0.0.1", "localhost", "kubernetes", "kubernetes.default", service_ip]
    names += ["kubernetes.default.svc", f"kubernetes.default.svc.{domain}"]
    names += [a for a in addresses if a not in names]
    return names


@dataclass(frozen=True)
class ClusterPki:
    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def serving(self) -> tuple[Path, Path]:
        return self.dir / "apiserver.crt", self.dir / "apiserver.key"

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"

    def client(self, ident: str) -> tuple[Path, Path]:
        base = self.dir / "clients" / ident
        return base.with_suffix(".crt"), base.with_suffix(".key")

    def ca(self) -> CertKey:
        return read_pair(self.dir / "ca")


def ensure(
    pki_dir: Path,
    sans: Iterable[str],
    nodes: Iterable[str] = (),
) -> ClusterPki:
    """Make whatever of the cluster's PKI is missing under `pki_dir`."""
    pki = ClusterPki(pki_dir)
    if not pki.ca_cert.exists():
        write_pair(pki_dir / "ca", new_ca())
    ca = pki.ca()
    if not pki.serving[0].exists():
        write_pair(pki_dir / "apiserver", serving_cert(ca, "kube-apiserver", sans))
    if not pki.sa_key.exists():
        key = new_key()
        write_key_file(
            pki.sa_key,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        pub = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        write_file(pki.sa_pub, pub, CERT_MODE)
    for ident, user, groups in (*COMPONENTS, *(node_identity(n) for n in nodes)):
        if not pki.client(ident)[0].exists():
            write_pair(pki_dir / "clients" / ident, client_cert(ca, user, groups))
    return pki


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def render_kubeconfig(pki: ClusterPki, server: str, ident: str, name: str = "knet") -> str:
    """A kubeconfig for one identity: the CA to trust, the client certificate and key inline."""
    crt, key = pki.client(ident)
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {"server": server, "certificate-authority-data": _b64(pki.ca_cert)},
            }
        ],
        "users": [
            {
                "name": ident,
                "user": {"client-certificate-data": _b64(crt), "client-key-data": _b64(key)},
            }
        ],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": ident, "namespace": "default"}}
        ],
        "current-context": name,
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def write_kubeconfig(path: Path, pki: ClusterPki, server: str, ident: str) -> Path:
    """The kubeconfig holds a private key: written 0600 like one."""
    write_key_file(path, render_kubeconfig(pki, server, ident).encode())
    return path
