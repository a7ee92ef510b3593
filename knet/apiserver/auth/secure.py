"""`--secure`: a server that makes its own PKI and serves TLS + authentication + RBAC, the way a
kubeadm control plane comes up, and writes a kubeconfig per identity (admin with
O=system:masters, controller-manager, scheduler, kube-proxy, and any node)."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable
from pathlib import Path

from knet.apiserver.auth_config import AuthConfig
from knet.apiserver.config import ApiServerConfig
from knet.pki import bundle

CLUSTER_DOMAIN = "cluster.local"


def first_service_ip(cidr: str) -> str:
    """The `kubernetes` Service's address: the first of the service range."""
    return str(next(ipaddress.ip_network(cidr, strict=False).hosts()))


def secure_config(config: ApiServerConfig, nodes: Iterable[str] = ()) -> ApiServerConfig:
    """`config` with TLS, x509 + ServiceAccount authentication and Node,RBAC authorization,
    from the PKI under <data-dir>/pki (made there if missing)."""
    addresses = [config.bind_address] if config.bind_address not in ("0.0.0.0", "::") else []
    sans = bundle.apiserver_sans(
        addresses, first_service_ip(config.service_cluster_ip_range), CLUSTER_DOMAIN
    )
    pki = bundle.ensure(config.data_dir / "pki", sans, nodes)
    crt, key = pki.serving
    auth = AuthConfig(
        tls_cert_file=crt,
        tls_private_key_file=key,
        client_ca_file=pki.ca_cert,
        authorization_modes=("Node", "RBAC"),
        service_account_key_files=(pki.sa_pub,),
        service_account_signing_key_file=pki.sa_key,
        anonymous_auth=True,
    )
    return dataclasses.replace(config, auth=auth)


def server_url(config: ApiServerConfig) -> str:
    host = config.bind_address
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}:{config.port}"


def write_kubeconfigs(config: ApiServerConfig, nodes: Iterable[str] = ()) -> dict[str, Path]:
    """<data-dir>/<identity>.kubeconfig for the admin, the components and each node (0600)."""
    pki = bundle.ClusterPki(config.data_dir / "pki")
    url = server_url(config)
    idents = [ident for ident, _, _ in bundle.COMPONENTS]
    idents += [bundle.node_identity(n)[0] for n in nodes]
    return {
        ident: bundle.write_kubeconfig(config.data_dir / f"{ident}.kubeconfig", pki, url, ident)
        for ident in idents
    }
