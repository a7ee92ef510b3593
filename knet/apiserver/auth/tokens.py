"""ServiceAccount tokens: JWTs signed with the service-account key (ES256 or RS256 by the key),
upstream's claims (iss, sub, aud, exp, iat, nbf, and `kubernetes.io` naming the ServiceAccount
and the object the token is bound to), and their verification. The lookups of the bound objects
happen in `authn.py`; this module is pure apart from reading the keys once."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

MIN_EXPIRATION = 600  # upstream refuses shorter TokenRequests
DEFAULT_EXPIRATION = 3600

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class TokenError(Exception):
    """Not a valid token; the message says why (for TokenReview's status.error)."""


def key_id(pub: PublicKey) -> str:
    """Upstream's kid: the SHA-256 of the DER public key, base64url without padding."""
    der = pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def _alg(key: Any) -> str:
    return (
        "ES256"
        if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey)
        else "RS256"
    )


def load_public_keys(paths: Sequence[Path]) -> list[PublicKey]:
    """Public keys from PEM files, each a public or a private key (--service-account-key-file)."""
    out: list[PublicKey] = []
    for path in paths:
        data = path.read_bytes()
        try:
            key: Any = serialization.load_pem_public_key(data)
        except ValueError:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise ValueError(f"{path}: not an EC or RSA key")
        out.append(key)
    return out


@dataclass(frozen=True)
class BoundObject:
    kind: str  # Pod, Secret
    name: str
    uid: str


@dataclass(frozen=True)
class Claims:
    namespace: str
    service_account: str
    service_account_uid: str
    bound: BoundObject | None
    audiences: tuple[str, ...]
    expires: int


class Signer:
    def __init__(self, key_file: Path, issuer: str) -> None:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"{key_file}: not an EC or RSA private key")
        self.key = key
        self.issuer = issuer
        self.kid = key_id(key.public_key())

    def issue(
        self,
        namespace: str,
        sa_name: str,
        sa_uid: str,
        audiences: Sequence[str],
        expiration_seconds: int,
        bound: BoundObject | None = None,
        now: int | None = None,
    ) -> tuple[str, int]:
        """(token, expiry as Unix seconds)."""
        issued = int(time.time()) if now is None else now
        exp = issued + expiration_seconds
        k8s: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {"name": sa_name, "uid": sa_uid},
        }
        if bound is not None:
            k8s[bound.kind.lower()] = {"name": bound.name, "uid": bound.uid}
        claims = {
            "iss": self.issuer,
            "sub": f"system:serviceaccount:{namespace}:{sa_name}",
            "aud": list(audiences),
            "exp": exp,
            "iat": issued,
            "nbf": issued,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": k8s,
        }
        token = jwt.encode(claims, self.key, algorithm=_alg(self.key), headers={"kid": self.kid})
        return token, exp


class Verifier:
    def __init__(self, keys: Sequence[PublicKey], issuer: str, audiences: Sequence[str]) -> None:
        self.keys = list(keys)
        self.issuer = issuer
        self.audiences = list(audiences)

    def verify(self, token: str, audiences: Sequence[str] | None = None) -> Claims:
        """The token's claims if a key of ours signed it, for our issuer and one of the
        audiences, and it has not expired; else TokenError. `alg: none` never verifies."""
        want = list(audiences) if audiences else self.audiences
        last: Exception | None = None
        for key in self.keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[_alg(key)],
                    audience=want,
                    issuer=self.issuer,
                    options={"require": ["exp", "iss", "sub", "aud"]},
                    leeway=0,
                )
            except jwt.InvalidSignatureError as e:
                last = e
                continue
            except jwt.PyJWTError as e:
                raise TokenError(str(e)) from None
            return _claims(claims)
        raise TokenError(str(last) if last else "no key to verify the token with")

    def jwks(self) -> dict[str, Any]:
        keys = []
        for pub in self.keys:
            jwk = (
                jwt.algorithms.ECAlgorithm.to_jwk(pub, as_dict=True)
                if isinstance(pub, ec.EllipticCurvePublicKey)
                else jwt.algorithms.RSAAlgorithm.to_jwk(pub, as_dict=True)
            )
            jwk.update({"use": "sig", "kid": key_id(pub), "alg": _alg(pub)})
            keys.append(jwk)
        return {"keys": keys}


def _claims(claims: dict[str, Any]) -> Claims:
    k8s = claims.get("kubernetes.io")
    if not isinstance(k8s, dict) or not isinstance(k8s.get("serviceaccount"), dict):
        raise TokenError("the token names no service account")
    sa = k8s["serviceaccount"]
    bound = None
    for kind in ("pod", "secret"):
        ref = k8s.get(kind)
        if isinstance(ref, dict):
            bound = BoundObject(
                kind.capitalize(), str(ref.get("name", "")), str(ref.get("uid", ""))
            )
    aud = claims.get("aud")
    return Claims(
        namespace=str(k8s.get("namespace", "")),
        service_account=str(sa.get("name", "")),
        service_account_uid=str(sa.get("uid", "")),
        bound=bound,
        audiences=tuple(aud) if isinstance(aud, list) else (str(aud),),
        expires=int(claims["exp"]),
    )
