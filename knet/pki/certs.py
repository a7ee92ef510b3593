"""Making X.509 certificates and keys with `cryptography`. Pure: nothing touches the disk.

The shapes follow kubeadm's: a self-signed CA (10 years), serving certificates with SANs and
client certificates whose CN is the user and whose O fields are its groups (1 year), all on
ECDSA P-256 keys (fast to make and verify; upstream accepts them everywhere).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 365
# Backdated a little: clocks across nodes disagree, and a certificate "not yet valid" by a
# second fails a handshake for no reason.
_BACKDATE = dt.timedelta(minutes=5)

PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class CertKey:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def new_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    days: int,
    not_before: dt.datetime | None = None,
) -> x509.CertificateBuilder:
    now = not_before + _BACKDATE if not_before is not None else dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def new_ca(common_name: str = "kubernetes", days: int = CA_DAYS) -> CertKey:
    """A self-signed CA that may sign leaves only (path length 0)."""
    key = new_key()
    name = _name(common_name)
    cert = (
        _builder(name, name, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return CertKey(cert, key)


def _usage(*, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not cert_sign,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf(
    ca: CertKey,
    subject: x509.Name,
    usages: Iterable[x509.ObjectIdentifier],
    sans: Sequence[x509.GeneralName] = (),
    days: int = LEAF_DAYS,
    not_before: dt.datetime | None = None,
) -> CertKey:
    key = new_key()
    # not_before: tests make certificates not yet valid, or already expired.
    builder = (
        _builder(subject, ca.cert.subject, key.public_key(), days, not_before)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return CertKey(builder.sign(ca.key, hashes.SHA256()), key)


def general_names(names: Iterable[str]) -> list[x509.GeneralName]:
    """IP addresses as IP SANs, everything else as DNS SANs."""
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def serving_cert(
    ca: CertKey, common_name: str, sans: Iterable[str], days: int = LEAF_DAYS
) -> CertKey:
    """A TLS server certificate for these names and addresses."""
    return _leaf(
        ca, _name(common_name), [ExtendedKeyUsageOID.SERVER_AUTH], general_names(sans), days
    )


def peer_cert(ca: CertKey, common_name: str, sans: Iterable[str], days: int = LEAF_DAYS) -> CertKey:
    """A certificate for both ends of TLS, as etcd members use one to serve clients and to
    dial their peers."""
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    return _leaf(ca, _name(common_name), usages, general_names(sans), days)


def client_cert(
    ca: CertKey,
    user: str,
    groups: Sequence[str] = (),
    days: int = LEAF_DAYS,
    not_before: dt.datetime | None = None,
) -> CertKey:
    """A TLS client certificate: CN is the user name, each O a group (as upstream's x509
    authenticator reads them)."""
    return _leaf(
        ca,
        _name(user, groups),
        [ExtendedKeyUsageOID.CLIENT_AUTH],
        days=days,
        not_before=not_before,
    )


def subject_of(cert: x509.Certificate) -> tuple[str, list[str]]:
    """(user, groups) as the x509 authenticator maps a client certificate's subject."""
    subject = cert.subject
    cns = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    user = str(cns[0].value) if cns else ""
    groups = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return user, groups


def load_cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def load_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the key is not an ECDSA key")
    return key
