"""The chain's settings, under kube-apiserver's flag names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MODES = ("AlwaysAllow", "RBAC", "Node")
DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass(frozen=True)
class AuthConfig:
    tls_cert_file: Path | None = None
    tls_private_key_file: Path | None = None
    client_ca_file: Path | None = None
    # Upstream's default is AlwaysAllow too; a secure cluster passes Node,RBAC.
    authorization_modes: tuple[str, ...] = ("AlwaysAllow",)
    service_account_key_files: tuple[Path, ...] = ()
    service_account_signing_key_file: Path | None = None
    service_account_issuer: str = DEFAULT_ISSUER
    anonymous_auth: bool = True

    @property
    def authenticates(self) -> bool:
        """Whether any credential is checked (else every request is let through, as before)."""
        return self.client_ca_file is not None or bool(self.verification_keys)

    @property
    def verification_keys(self) -> tuple[Path, ...]:
        keys = self.service_account_key_files
        if not keys and self.service_account_signing_key_file is not None:
            keys = (self.service_account_signing_key_file,)
        return keys

    @property
    def rbac(self) -> bool:
        return "RBAC" in self.authorization_modes

    @property
    def active(self) -> bool:
        return self.authenticates or self.authorization_modes != ("AlwaysAllow",)
