"""Certificates and keys on disk: certificates 0644, keys 0600 from the moment they exist
(created with that mode, never chmod-ed after a window of being readable)."""

from __future__ import annotations

import os
from pathlib import Path

from knet.pki.certs import CertKey, load_cert, load_key

KEY_MODE = 0o600
CERT_MODE = 0o644


def write_file(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed it; never widened beyond `mode`
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_key_file(path: Path, pem: bytes) -> None:
    write_file(path, pem, KEY_MODE)


def write_pair(base: Path, pair: CertKey) -> tuple[Path, Path]:
    """`<base>.crt` and `<base>.key`, as kubeadm names them."""
    crt, key = base.with_suffix(".crt"), base.with_suffix(".key")
    write_key_file(key, pair.key_pem())
    write_file(crt, pair.cert_pem(), CERT_MODE)
    return crt, key


def read_pair(base: Path) -> CertKey:
    crt, key = base.with_suffix(".crt"), base.with_suffix(".key")
    return CertKey(load_cert(crt.read_bytes()), load_key(key.read_bytes()))
