"""The cluster's PKI: a CA, serving certificates, client certificates, keys kept 0600.

`certs.py` makes certificates and keys (pure, in memory); `files.py` writes and reads them with
the right modes; `bundle.py` lays out a cluster's whole set the kubeadm way.
"""

from knet.pki.certs import (
    CertKey,
    client_cert,
    new_ca,
    serving_cert,
    subject_of,
)

__all__ = ["CertKey", "client_cert", "new_ca", "serving_cert", "subject_of"]
