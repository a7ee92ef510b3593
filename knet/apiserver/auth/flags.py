"""The chain's flags, under kube-apiserver's names."""

from __future__ import annotations

import argparse
from pathlib import Path

from knet.apiserver.auth_config import DEFAULT_ISSUER, MODES, AuthConfig


def _bool(text: str) -> bool:
    value = {"true": True, "1": True, "t": True, "false": False, "0": False, "f": False}
    if text.lower() not in value:
        raise argparse.ArgumentTypeError(f"invalid boolean {text!r}: want true or false")
    return value[text.lower()]


def add_auth_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tls-cert-file", type=Path, default=None, help="serve HTTPS with this cert")
    p.add_argument("--tls-private-key-file", type=Path, default=None)
    p.add_argument(
        "--client-ca-file",
        type=Path,
        default=None,
        help="accept client certificates signed by this CA (CN: user, O: groups)",
    )
    p.add_argument(
        "--authorization-mode",
        default="AlwaysAllow",
        help="comma-separated authorizers in order: AlwaysAllow, RBAC, Node",
    )
    p.add_argument(
        "--service-account-key-file",
        type=Path,
        action="append",
        default=[],
        help="a PEM key whose public half verifies ServiceAccount tokens (repeatable)",
    )
    p.add_argument("--service-account-signing-key-file", type=Path, default=None)
    p.add_argument("--service-account-issuer", default=DEFAULT_ISSUER)
    p.add_argument(
        "--anonymous-auth", type=_bool, nargs="?", const=True, default=True, metavar="BOOL"
    )


def auth_config_from_args(args: argparse.Namespace) -> AuthConfig:
    modes = tuple(m.strip() for m in args.authorization_mode.split(",") if m.strip())
    return AuthConfig(
        tls_cert_file=args.tls_cert_file,
        tls_private_key_file=args.tls_private_key_file,
        client_ca_file=args.client_ca_file,
        authorization_modes=modes,
        service_account_key_files=tuple(args.service_account_key_file),
        service_account_signing_key_file=args.service_account_signing_key_file,
        service_account_issuer=args.service_account_issuer,
        anonymous_auth=args.anonymous_auth,
    )


def check_auth_config(c: AuthConfig) -> str | None:
    """What is wrong with the chain's flags, in one line; None if nothing."""
    unknown = [m for m in c.authorization_modes if m not in MODES]
    if unknown or not c.authorization_modes:
        return f"invalid --authorization-mode {unknown or ''}: want some of {', '.join(MODES)}"
    if (c.tls_cert_file is None) != (c.tls_private_key_file is None):
        return "--tls-cert-file and --tls-private-key-file go together"
    if c.client_ca_file is not None and c.tls_cert_file is None:
        return "--client-ca-file needs TLS (--tls-cert-file, --tls-private-key-file)"
    for path in (
        c.tls_cert_file,
        c.tls_private_key_file,
        c.client_ca_file,
        c.service_account_signing_key_file,
        *c.service_account_key_files,
    ):
        if path is not None and not path.is_file():
            return f"cannot read {path}"
    return None
