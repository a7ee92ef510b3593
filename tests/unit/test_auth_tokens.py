"""ServiceAccount JWTs: what is signed verifies; alg none, another key, another audience,
another issuer, expired or not-yet-valid tokens do not."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from knet.apiserver.auth.tokens import BoundObject, Signer, TokenError, Verifier, key_id
from knet.pki.files import write_key_file

ISSUER = "https://kubernetes.default.svc.cluster.local"


def _key_file(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_key_file(path, pem)
    return path


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return Signer(_key_file(tmp_path / "sa.key"), ISSUER)


def _verifier(signer: Signer, audiences: list[str] | None = None) -> Verifier:
    return Verifier([signer.key.public_key()], ISSUER, audiences or [ISSUER])


def test_signed_token_verifies_with_its_claims(signer: Signer) -> None:
    bound = BoundObject("Pod", "web", "uid-pod")
    token, exp = signer.issue("team", "robot", "uid-sa", [ISSUER], 3600, bound)
    claims = _verifier(signer).verify(token)
    assert (claims.namespace, claims.service_account, claims.service_account_uid) == (
        "team",
        "robot",
        "uid-sa",
    )
    assert claims.bound == bound
    assert claims.expires == exp
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["kid"] == key_id(signer.key.public_key())


def _b64(doc: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def test_alg_none_is_refused(signer: Signer) -> None:
    token, _ = signer.issue("team", "robot", "uid", [ISSUER], 3600)
    payload = token.split(".")[1]
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."
    with pytest.raises(TokenError):
        _verifier(signer).verify(unsigned)


def test_other_key_is_refused(signer: Signer, tmp_path: Path) -> None:
    other = Signer(_key_file(tmp_path / "other.key"), ISSUER)
    token, _ = other.issue("team", "robot", "uid", [ISSUER], 3600)
    with pytest.raises(TokenError):
        _verifier(signer).verify(token)


def test_wrong_audience_and_issuer_are_refused(signer: Signer, tmp_path: Path) -> None:
    token, _ = signer.issue("team", "robot", "uid", ["vault"], 3600)
    with pytest.raises(TokenError, match=r"(?i)audience"):
        _verifier(signer).verify(token)
    assert _verifier(signer).verify(token, ["vault"]).audiences == ("vault",)
    foreign = Signer(_key_file(tmp_path / "f.key"), "https://x")
    foreign.key = signer.key
    token, _ = foreign.issue("team", "robot", "uid", [ISSUER], 3600)
    with pytest.raises(TokenError, match=r"(?i)issuer"):
        _verifier(signer).verify(token)


def test_expired_and_future_tokens_are_refused(signer: Signer) -> None:
    old, _ = signer.issue("team", "robot", "uid", [ISSUER], 600, now=int(time.time()) - 1200)
    with pytest.raises(TokenError, match=r"(?i)expired"):
        _verifier(signer).verify(old)
    future, _ = signer.issue("team", "robot", "uid", [ISSUER], 600, now=int(time.time()) + 300)
    with pytest.raises(TokenError, match=r"(?i)not yet valid"):
        _verifier(signer).verify(future)


def test_jwks_publishes_the_verification_key(signer: Signer) -> None:
    keys = _verifier(signer).jwks()["keys"]
    assert len(keys) == 1 and keys[0]["kid"] == signer.kid and keys[0]["alg"] == "ES256"
    pub = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(keys[0]))
    token, _ = signer.issue("team", "robot", "uid", [ISSUER], 3600)
    assert jwt.decode(token, pub, algorithms=["ES256"], audience=ISSUER)["sub"] == (
        "system:serviceaccount:team:robot"
    )
