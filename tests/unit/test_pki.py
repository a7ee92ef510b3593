"""knet.pki: the CA, serving and client certificates, key modes, and the cluster layout."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID

from knet.pki import bundle, certs
from knet.pki.certs import client_cert, new_ca, serving_cert, subject_of
from knet.pki.files import read_pair, write_pair


def test_ca_is_a_self_signed_ca() -> None:
    ca = new_ca("kt-ca")
    ca.cert.verify_directly_issued_by(ca.cert)
    basic = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca is True
    assert ca.cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign


def test_serving_cert_has_its_sans_and_server_usage() -> None:
    ca = new_ca()
    leaf = serving_cert(ca, "kube-apiserver", ["127.0.0.1", "10.96.0.1", "kubernetes"])
    leaf.cert.verify_directly_issued_by(ca.cert)
    sans = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == [
        "127.0.0.1",
        "10.96.0.1",
    ]
    assert sans.get_values_for_type(x509.DNSName) == ["kubernetes"]
    usage = leaf.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_client_cert_carries_user_and_groups() -> None:
    ca = new_ca()
    leaf = client_cert(ca, "system:node:kt-n1", ["system:nodes", "kt-extra"])
    leaf.cert.verify_directly_issued_by(ca.cert)
    assert subject_of(leaf.cert) == ("system:node:kt-n1", ["system:nodes", "kt-extra"])
    usage = leaf.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_client_cert_from_another_ca_does_not_verify() -> None:
    leaf = client_cert(new_ca(), "kt-user")
    with pytest.raises(InvalidSignature):
        leaf.cert.verify_directly_issued_by(new_ca().cert)


def test_not_before_is_honoured() -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    leaf = client_cert(new_ca(), "kt-user", not_before=later)
    assert leaf.cert.not_valid_before_utc > dt.datetime.now(dt.UTC)


def test_pairs_round_trip_with_key_0600(tmp_path: Path) -> None:
    ca = new_ca()
    crt, key = write_pair(tmp_path / "x" / "ca", ca)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(crt.stat().st_mode) == 0o644
    back = read_pair(tmp_path / "x" / "ca")
    assert back.cert == ca.cert
    assert back.key.private_numbers() == ca.key.private_numbers()


def test_cluster_bundle_is_complete_and_kept(tmp_path: Path) -> None:
    sans = bundle.apiserver_sans(["10.0.0.2"], "10.96.0.1", "cluster.local")
    assert "kubernetes.default.svc.cluster.local" in sans and "10.0.0.2" in sans
    pki = bundle.ensure(tmp_path / "pki", sans, nodes=["kt-n1"])
    for ident, user, groups in (*bundle.COMPONENTS, bundle.node_identity("kt-n1")):
        crt, key = pki.client(ident)
        cert = x509.load_pem_x509_certificate(crt.read_bytes())
        cert.verify_directly_issued_by(pki.ca().cert)
        assert subject_of(cert) == (user, list(groups))
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(pki.sa_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(pki.serving[1].stat().st_mode) == 0o600
    before = pki.ca_cert.read_bytes(), pki.serving[0].read_bytes()
    again = bundle.ensure(tmp_path / "pki", sans, nodes=["kt-n1", "kt-n2"])
    assert (again.ca_cert.read_bytes(), again.serving[0].read_bytes()) == before
    assert again.client("node-kt-n2")[0].exists()


def test_kubeconfig_embeds_the_identity_and_is_0600(tmp_path: Path) -> None:
    pki = bundle.ensure(tmp_path / "pki", ["127.0.0.1"])
    path = bundle.write_kubeconfig(tmp_path / "admin.conf", pki, "https://127.0.0.1:1", "admin")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = yaml.safe_load(path.read_text())
    assert doc["clusters"][0]["cluster"]["certificate-authority-data"]
    assert doc["users"][0]["user"]["client-key-data"]
    # The files load into an ssl context the way a client would use them.
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    crt, key = pki.client("admin")
    ctx.load_cert_chain(str(crt), str(key))


def test_peer_certificate_serves_and_dials_for_its_names() -> None:
    # etcd members use one certificate to serve clients and to dial their peers.
    ca = certs.new_ca("test-ca")
    leaf = certs.peer_cert(ca, "member-0", ["127.0.0.1", "localhost"])
    leaf.cert.verify_directly_issued_by(ca.cert)  # raises if not
    sans = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    usages = leaf.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    other = certs.new_ca("other")
    with pytest.raises(Exception):  # noqa: B017 - InvalidSignature or ValueError
        leaf.cert.verify_directly_issued_by(other.cert)
