"""The PKI helper: a CA, leaf certificates it signs, PEM files that TLS accepts."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from knet import pki


def test_leaf_is_signed_by_the_ca_with_its_names_and_usages(tmp_path: Path) -> None:
    ca = pki.make_ca("test-ca")
    leaf = pki.issue(ca, "member-0", hosts=["127.0.0.1", "localhost"], server=True, client=True)
    leaf.cert.verify_directly_issued_by(ca.cert)  # raises if not
    sans = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    usages = leaf.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not leaf.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_files_load_into_an_ssl_context_and_back(tmp_path: Path) -> None:
    ca = pki.make_ca("test-ca")
    ca_files = pki.write(ca, tmp_path, "ca")
    leaf_files = pki.write(pki.issue(ca, "client", client=True), tmp_path, "client")
    assert leaf_files.key.stat().st_mode & 0o777 == 0o600
    ctx = ssl.create_default_context(cafile=str(ca_files.cert))
    ctx.load_cert_chain(str(leaf_files.cert), str(leaf_files.key))
    again = pki.load(ca_files)
    assert again.cert == ca.cert


def test_a_certificate_needs_a_purpose() -> None:
    with pytest.raises(ValueError, match="server, a client"):
        pki.issue(pki.make_ca("ca"), "nobody")


def test_another_ca_does_not_verify_the_leaf() -> None:
    ca, other = pki.make_ca("ca"), pki.make_ca("other")
    leaf = pki.issue(ca, "x", server=True, hosts=["127.0.0.1"])
    with pytest.raises(Exception):  # noqa: B017 - cryptography raises InvalidSignature or ValueError
        leaf.cert.verify_directly_issued_by(other.cert)
