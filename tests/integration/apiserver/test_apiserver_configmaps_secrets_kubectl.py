"""ConfigMaps and Secrets through the machine's real kubectl against a real `knet apiserver`.

kubectl's typed `create configmap|secret` commands send protobuf; `get` reads the server's Table;
`patch` sends a strategic merge patch. Every assertion is on what kubectl printed or on what the
server stored afterwards.
"""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
from pathlib import Path

import pytest
from _apiserver_http import Kubectl, table_header, table_rows, write_manifest

from knet.testing.apiserver import ApiServerProcess

pytestmark = pytest.mark.kubectl

TOO_LONG = "Too long: may not be more than 1048576 bytes"
IMMUTABLE = "Forbidden: field is immutable when `immutable` is set"


def b64decode(text: str) -> str:
    return base64.b64decode(text).decode()


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate and key (PEM), for `kubectl create secret tls`:
    with the `cryptography` package when it is installed (it comes with the kubernetes
    client), else with the openssl CLI."""
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "1", "-subj", "/CN=kt.example",
             "-keyout", str(key_path), "-out", str(cert_path)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kt.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


# ------------------------------------------------------------------------------ ConfigMaps


def test_configmap_create_get_patch_delete(kubectl: Kubectl, tmp_path: Path) -> None:
    conf = tmp_path / "app.conf"
    conf.write_text("listen 80\nroot /srv\n")
    out = kubectl.ok("create", "configmap", "kt-cfg", "--from-literal=a=1", f"--from-file={conf}")
    assert out.strip() == "configmap/kt-cfg created"

    listing = kubectl.ok("get", "cm")
    assert table_header(listing) == ["NAME", "DATA", "AGE"]
    assert [row[:2] for row in table_rows(listing)] == [["kt-cfg", "2"]]

    stored = kubectl.json("get", "configmap", "kt-cfg")
    assert stored["data"] == {"a": "1", "app.conf": "listen 80\nroot /srv\n"}
    assert stored["metadata"]["namespace"] == "default"
    assert "generation" not in stored["metadata"]
    as_yaml = kubectl.ok("get", "cm", "kt-cfg", "-o", "yaml")
    assert "kind: ConfigMap" in as_yaml and "app.conf: |" in as_yaml

    kubectl.ok("patch", "cm", "kt-cfg", "-p", '{"data": {"b": "2", "a": null}}')
    assert kubectl.json("get", "cm", "kt-cfg")["data"] == {
        "app.conf": "listen 80\nroot /srv\n",
        "b": "2",
    }

    assert kubectl.ok("delete", "cm", "kt-cfg").strip() == 'configmap "kt-cfg" deleted'
    err = kubectl.fails("get", "cm", "kt-cfg")
    assert 'configmaps "kt-cfg" not found' in err


def test_immutable_configmap_refuses_changes(kubectl: Kubectl) -> None:
    kubectl.ok("create", "configmap", "kt-frozen", "--from-literal=a=1")
    kubectl.ok("patch", "cm", "kt-frozen", "-p", '{"immutable": true}')
    err = kubectl.fails("patch", "cm", "kt-frozen", "-p", '{"data": {"a": "2"}}')
    assert f'The ConfigMap "kt-frozen" is invalid: data: {IMMUTABLE}' in err
    err = kubectl.fails("patch", "cm", "kt-frozen", "-p", '{"immutable": false}')
    assert f"immutable: {IMMUTABLE}" in err
    # Metadata still changes; the data did not.
    kubectl.ok("label", "cm", "kt-frozen", "tier=web")
    stored = kubectl.json("get", "cm", "kt-frozen")
    assert stored["data"] == {"a": "1"}
    assert stored["metadata"]["labels"] == {"tier": "web"}
    kubectl.ok("delete", "cm", "kt-frozen")


def test_oversized_configmap_and_secret_are_refused(kubectl: Kubectl, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (1024 * 1024 + 1))
    err = kubectl.fails("create", "configmap", "kt-big", f"--from-file={big}")
    assert f'failed to create configmap: ConfigMap "kt-big" is invalid: []: {TOO_LONG}' in err
    err = kubectl.fails("create", "secret", "generic", "kt-big", f"--from-file={big}")
    assert f'Secret "kt-big" is invalid: data: {TOO_LONG}' in err
    # Exactly the limit is fine.
    big.write_bytes(b"x" * (1024 * 1024))
    kubectl.ok("create", "configmap", "kt-big", f"--from-file={big}")
    assert table_rows(kubectl.ok("get", "cm", "kt-big"))[0][:2] == ["kt-big", "1"]


# ------------------------------------------------------------------------------ Secrets


def test_secret_generic_tls_and_docker_registry(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl.ok("create", "secret", "generic", "kt-gen", "--from-literal=user=admin")
    cert, key = self_signed(tmp_path)
    kubectl.ok("create", "secret", "tls", "kt-tls", f"--cert={cert}", f"--key={key}")
    kubectl.ok(
        "create", "secret", "docker-registry", "kt-reg",
        "--docker-server=registry.kt.example", "--docker-username=u", "--docker-password=p",
    )  # fmt: skip

    listing = kubectl.ok("get", "secrets")
    assert table_header(listing) == ["NAME", "TYPE", "DATA", "AGE"]
    assert sorted(row[:3] for row in table_rows(listing)) == [
        ["kt-gen", "Opaque", "1"],
        ["kt-reg", "kubernetes.io/dockerconfigjson", "1"],
        ["kt-tls", "kubernetes.io/tls", "2"],
    ]

    assert b64decode(kubectl.json("get", "secret", "kt-gen")["data"]["user"]) == "admin"
    tls = kubectl.json("get", "secret", "kt-tls")["data"]
    assert b64decode(tls["tls.crt"]) == cert.read_text()
    assert b64decode(tls["tls.key"]) == key.read_text()
    config = json.loads(
        b64decode(kubectl.json("get", "secret", "kt-reg")["data"][".dockerconfigjson"])
    )
    assert config["auths"]["registry.kt.example"]["username"] == "u"

    only_tls = kubectl.ok("get", "secrets", "--field-selector", "type=kubernetes.io/tls")
    assert [row[0] for row in table_rows(only_tls)] == ["kt-tls"]
    kubectl.ok("delete", "secret", "kt-gen", "kt-tls", "kt-reg")
    assert "No resources found" in kubectl.run("get", "secrets").stderr


def test_secret_string_data_is_write_only(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path / "s.yaml",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "kt-str"},
            "data": {"a": base64.b64encode(b"from-data").decode()},
            "stringData": {"a": "from-stringData", "b": "plain"},
        },
    )
    kubectl.ok("apply", "-f", str(manifest))
    stored = kubectl.json("get", "secret", "kt-str")
    assert "stringData" not in stored
    assert stored["type"] == "Opaque"
    assert {k: b64decode(v) for k, v in stored["data"].items()} == {
        "a": "from-stringData",
        "b": "plain",
    }
    # A later stringData patch lands in data too.
    kubectl.ok("patch", "secret", "kt-str", "-p", '{"stringData": {"c": "new"}}')
    assert b64decode(kubectl.json("get", "secret", "kt-str")["data"]["c"]) == "new"


def test_secret_type_rules_and_type_immutability(kubectl: Kubectl) -> None:
    err = kubectl.fails(
        "create", "secret", "generic", "kt-bad-tls", "--type=kubernetes.io/tls",
        "--from-literal=a=b",
    )  # fmt: skip
    assert (
        'Secret "kt-bad-tls" is invalid: '
        "[data[tls.crt]: Required value, data[tls.key]: Required value]"
    ) in err

    err = kubectl.fails(
        "create", "secret", "generic", "kt-bad-docker", "--type=kubernetes.io/dockerconfigjson",
        "--from-literal=.dockerconfigjson={nope",
    )  # fmt: skip
    assert 'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>"' in err

    kubectl.ok("create", "secret", "generic", "kt-typed", "--from-literal=username=u")
    err = kubectl.fails("patch", "secret", "kt-typed", "-p", '{"type": "kubernetes.io/basic-auth"}')
    assert 'type: Invalid value: "kubernetes.io/basic-auth": field is immutable' in err


def test_discovery_and_explain_names(kubectl: Kubectl) -> None:
    resources = kubectl.ok("api-resources", "--api-group=", "--no-headers")
    rows = {line.split()[0]: line.split() for line in resources.splitlines()}
    assert rows["configmaps"] == ["configmaps", "cm", "v1", "true", "ConfigMap"]
    assert rows["secrets"] == ["secrets", "v1", "true", "Secret"]


def test_invalid_key_from_a_manifest(
    kubectl: Kubectl, apiserver: ApiServerProcess, tmp_path: Path
) -> None:
    del apiserver
    manifest = write_manifest(
        tmp_path / "cm.yaml",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kt-k"},
            "data": {"..x": "1"},
        },
    )
    err = kubectl.fails("create", "-f", str(manifest))
    assert 'The ConfigMap "kt-k" is invalid: data[..x]: Invalid value: "..x": ' in err
    assert "must not start with '..'" in err
