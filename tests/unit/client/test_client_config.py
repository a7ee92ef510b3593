"""Server URLs, kubeconfig loading, resource paths and Status errors (all pure)."""

from __future__ import annotations

import base64
import ssl
import stat
from pathlib import Path

import pytest
import yaml

from knet import kubeconfig
from knet.api import registry
from knet.client.config import ConfigError, load_kubeconfig, parse_server
from knet.client.errors import (
    ApiError,
    ExpiredError,
    is_already_exists,
    is_conflict,
    is_not_found,
)
from knet.client.paths import collection_path, item_path, resource_info
from knet.pki import bundle


@pytest.mark.parametrize(
    ("url", "base", "sock"),
    [
        ("http://127.0.0.1:6443", "http://127.0.0.1:6443", None),
        ("https://api.example:443/", "https://api.example:443", None),
        ("unix:///run/knet/api.sock", "http://localhost", Path("/run/knet/api.sock")),
        ("http+unix://%2Frun%2Fknet%2Fapi.sock", "http://localhost", Path("/run/knet/api.sock")),
    ],
)
def test_parse_server(url: str, base: str, sock: Path | None) -> None:
    assert parse_server(url) == (base, sock)


@pytest.mark.parametrize(
    "url",
    ["", "ftp://x", "http://", "http://h:1/prefix", "unix://relative.sock", "http+unix://rel"],
)
def test_parse_server_rejects_what_it_cannot_reach(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_server(url)


def test_load_the_kubeconfig_knet_writes(tmp_path: Path) -> None:
    path = kubeconfig.write(tmp_path / "kc", "http://127.0.0.1:7000")
    cfg = load_kubeconfig(path)
    assert cfg.base_url == "http://127.0.0.1:7000"
    assert cfg.unix_socket is None
    assert cfg.namespace == "default"
    assert cfg.ssl_context() is True


def test_kubeconfig_context_namespace_token_and_ca(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret\n")
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "a",
        "clusters": [
            {"name": "c1", "cluster": {"server": "unix:///tmp/kt-x.sock"}},
            {
                "name": "c2",
                "cluster": {
                    "server": "https://h:6443",
                    "certificate-authority-data": base64.b64encode(b"PEM").decode(),
                },
            },
        ],
        "users": [{"name": "u", "user": {"tokenFile": "token"}}],
        "contexts": [
            {"name": "a", "context": {"cluster": "c1", "user": "u", "namespace": "team"}},
            {"name": "b", "context": {"cluster": "c2"}},
        ],
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    a = load_kubeconfig(path)
    assert (a.unix_socket, a.namespace, a.token) == (Path("/tmp/kt-x.sock"), "team", "s3cret")
    b = load_kubeconfig(path, context="b")
    assert (b.base_url, b.namespace, b.ca_pem, b.token) == (
        "https://h:6443",
        "default",
        "PEM",
        None,
    )
    with pytest.raises(ConfigError, match="no contexts entry named 'zzz'"):
        load_kubeconfig(path, context="zzz")


def test_kubeconfig_errors_are_readable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read kubeconfig"):
        load_kubeconfig(tmp_path / "missing")
    bad = tmp_path / "bad"
    bad.write_text("a: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_kubeconfig(bad)
    certs = tmp_path / "certs"
    certs.write_text(
        yaml.safe_dump(
            {
                "current-context": "x",
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "clusters": [{"name": "c", "cluster": {"server": "https://h"}}],
                "users": [{"name": "u", "user": {"client-certificate": "/c.pem"}}],
            }
        )
    )
    with pytest.raises(ConfigError, match="client certificate needs its key"):
        load_kubeconfig(certs)


def test_client_certificates_from_a_kubeconfig(tmp_path: Path) -> None:
    """Inline (-data) identities, as knet.pki writes them, load into the TLS context."""
    pki = bundle.ensure(tmp_path / "pki", ["127.0.0.1"])
    path = bundle.write_kubeconfig(tmp_path / "kc", pki, "https://127.0.0.1:6443", "admin")
    cfg = load_kubeconfig(path)
    assert cfg.client_cert is not None and cfg.client_key is not None
    assert cfg.client_cert.read_bytes() == pki.client("admin")[0].read_bytes()
    assert stat.S_IMODE(cfg.client_key.stat().st_mode) == 0o600
    ctx = cfg.ssl_context()
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED


def test_paths_follow_the_registry() -> None:
    pods, nodes, deploys = (registry.by_kind(k) for k in ("Pod", "Node", "Deployment"))
    assert collection_path(pods, None) == "/api/v1/pods"
    assert collection_path(pods, "ns") == "/api/v1/namespaces/ns/pods"
    assert item_path(pods, "ns", "p", "binding") == "/api/v1/namespaces/ns/pods/p/binding"
    assert item_path(nodes, None, "n1", "status") == "/api/v1/nodes/n1/status"
    assert (
        item_path(deploys, "ns", "d", "scale") == "/apis/apps/v1/namespaces/ns/deployments/d/scale"
    )
    lease = resource_info("Lease")
    assert collection_path(lease, "kube-system") == (
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
    )


def test_paths_refuse_bad_input() -> None:
    pods, nodes = registry.by_kind("Pod"), registry.by_kind("Node")
    with pytest.raises(ValueError, match="unknown kind 'Pdo'"):
        resource_info("Pdo")
    with pytest.raises(ValueError, match="cluster-scoped"):
        collection_path(nodes, "ns")
    with pytest.raises(ValueError, match="namespace is required"):
        item_path(pods, None, "p")
    with pytest.raises(ValueError, match="no subresource 'scale'"):
        item_path(pods, "ns", "p", "scale")
    with pytest.raises(ValueError, match="invalid name"):
        item_path(pods, "ns", "a/b")


def test_errors_from_status_bodies() -> None:
    body = (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"pods \\"x\\" not found","reason":"NotFound",'
        b'"details":{"name":"x","kind":"pods"},"code":404}'
    )
    e = ApiError.from_response(404, body)
    assert (e.code, e.reason, e.message) == (404, "NotFound", 'pods "x" not found')
    assert e.details == {"name": "x", "kind": "pods"}
    assert is_not_found(e) and not is_conflict(e)
    exists = ApiError.from_status({"kind": "Status", "reason": "AlreadyExists", "code": 409})
    conflict = ApiError.from_status({"kind": "Status", "reason": "Conflict", "code": 409})
    assert is_already_exists(exists) and not is_conflict(exists)
    assert is_conflict(conflict) and not is_already_exists(conflict)
    assert isinstance(ApiError.from_status({"kind": "Status", "code": 410}), ExpiredError)
    assert not is_not_found(ValueError("x"))


def test_errors_from_non_status_bodies() -> None:
    e = ApiError.from_response(502, b"bad gateway")
    assert (e.code, e.reason) == (502, "Unknown")
    assert "bad gateway" in e.message
    assert ApiError.from_response(404, b"").reason == "NotFound"
    assert isinstance(ApiError.from_response(410, b"gone"), ExpiredError)
