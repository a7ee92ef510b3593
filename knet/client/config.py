"""Where the API server is and how to reach it: from a URL or a kubeconfig file.

Besides `http(s)://host:port`, two spellings reach a server on a unix socket (node agents use one
so they need no port in the root namespace):

    unix:///run/knet/apiserver.sock
    http+unix://%2Frun%2Fknet%2Fapiserver.sock      (the socket path percent-encoded, as
                                                      requests-unixsocket writes it)

Parsing is pure; `load_kubeconfig` only reads the file.
"""

from __future__ import annotations

import atexit
import base64
import os
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

DEFAULT_NAMESPACE = "default"


class ConfigError(ValueError):
    """A server URL or kubeconfig the client cannot use; the message says why."""


@dataclass(frozen=True)
class ClientConfig:
    # Scheme, host and port (no path); "http://localhost" when going through a unix socket.
    base_url: str
    unix_socket: Path | None = None
    namespace: str = DEFAULT_NAMESPACE
    token: str | None = None
    # PEM text of the CA to trust for https; None means the system's trust store.
    ca_pem: str | None = None
    insecure_skip_tls_verify: bool = False
    # A client certificate and its key (files), presented when the server asks for one.
    client_cert: Path | None = None
    client_key: Path | None = None

    def ssl_context(self) -> ssl.SSLContext | bool:
        """What aiohttp's `ssl=` wants: True for default verification, False to skip it."""
        if self.client_cert is None and self.insecure_skip_tls_verify:
            return False
        if self.ca_pem is None and self.client_cert is None:
            return True
        ctx = ssl.create_default_context(cadata=self.ca_pem)
        if self.insecure_skip_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.client_cert is not None:
            ctx.load_cert_chain(str(self.client_cert), str(self.client_key or self.client_cert))
        return ctx


def parse_server(url: str) -> tuple[str, Path | None]:
    """(base URL for requests, unix socket path or None) for a server URL."""
    if not url:
        raise ConfigError("the server URL is empty")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "unix":
        path = parts.path or parts.netloc
        if not path.startswith("/"):
            raise ConfigError(f"unix socket URL {url!r} must name an absolute path (unix:///path)")
        return "http://localhost", Path(path)
    if scheme == "http+unix":
        path = unquote(parts.netloc)
        if not path.startswith("/"):
            raise ConfigError(
                f"http+unix URL {url!r} must carry a percent-encoded absolute socket path, "
                "e.g. http+unix://%2Frun%2Fknet%2Fapiserver.sock"
            )
        return "http://localhost", Path(path)
    if scheme in ("http", "https"):
        if not parts.netloc:
            raise ConfigError(f"server URL {url!r} has no host")
        if parts.path not in ("", "/") or parts.query:
            # A path prefix (a proxy mount point) would need joining into every request path.
            raise ConfigError(f"server URL {url!r} must not have a path or query")
        return f"{scheme}://{parts.netloc}", None
    raise ConfigError(
        f"unsupported server URL {url!r}: use http://, https://, unix:// or http+unix://"
    )


def config_from_url(url: str, namespace: str = DEFAULT_NAMESPACE) -> ClientConfig:
    base, sock = parse_server(url)
    return ClientConfig(base_url=base, unix_socket=sock, namespace=namespace)


def default_kubeconfig_path() -> Path:
    """$KUBECONFIG's first entry, else ~/.kube/config, as kubectl looks."""
    env = os.environ.get("KUBECONFIG", "")
    for entry in env.split(os.pathsep):
        if entry:
            return Path(entry)
    return Path.home() / ".kube" / "config"


def _named(doc: dict[str, Any], section: str, name: str, field: str) -> dict[str, Any]:
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(field) or {}
            if not isinstance(body, dict):
                raise ConfigError(f"kubeconfig {section} entry {name!r} is not a mapping")
            return body
    raise ConfigError(f"kubeconfig has no {section} entry named {name!r}")


def _read_relative(base: Path, value: str) -> str:
    path = Path(value)
    if not path.is_absolute():
        path = base.parent / path  # kubectl resolves paths against the kubeconfig's directory
    return path.read_text()


def config_from_kubeconfig(
    doc: dict[str, Any], source: Path, context: str | None = None
) -> ClientConfig:
    """The ClientConfig of a parsed kubeconfig (`source` locates relative file references)."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: a kubeconfig must be a YAML mapping")
    ctx_name = context or doc.get("current-context")
    if not ctx_name:
        raise ConfigError(f"{source}: no context given and no current-context set")
    ctx = _named(doc, "contexts", ctx_name, "context")
    cluster_name = ctx.get("cluster")
    if not cluster_name:
        raise ConfigError(f"{source}: context {ctx_name!r} names no cluster")
    cluster = _named(doc, "clusters", cluster_name, "cluster")
    server = cluster.get("server")
    if not isinstance(server, str):
        raise ConfigError(f"{source}: cluster {cluster_name!r} has no server URL")
    user: dict[str, Any] = {}
    if ctx.get("user"):
        user = _named(doc, "users", ctx["user"], "user")
    client_cert, client_key = _client_identity(user, source)
    token = user.get("token")
    if token is None and user.get("tokenFile"):
        token = _read_relative(source, user["tokenFile"]).strip()
    ca_pem: str | None = None
    if cluster.get("certificate-authority-data"):
        ca_pem = base64.b64decode(cluster["certificate-authority-data"]).decode()
    elif cluster.get("certificate-authority"):
        ca_pem = _read_relative(source, cluster["certificate-authority"])
    base, sock = parse_server(server)
    return ClientConfig(
        base_url=base,
        unix_socket=sock,
        namespace=ctx.get("namespace") or DEFAULT_NAMESPACE,
        token=token if isinstance(token, str) else None,
        ca_pem=ca_pem,
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
        client_cert=client_cert,
        client_key=client_key,
    )


def _client_identity(user: dict[str, Any], source: Path) -> tuple[Path | None, Path | None]:
    """The user's client certificate and key as files: ssl loads them only from files, so the
    inline (-data) forms are written once into a private directory (0700, files 0600)."""
    paths: list[Path | None] = []
    for field in ("client-certificate", "client-key"):
        if user.get(field):
            path = Path(str(user[field]))
            paths.append(path if path.is_absolute() else source.parent / path)
        elif user.get(f"{field}-data"):
            try:
                data = base64.b64decode(user[f"{field}-data"])
            except (ValueError, TypeError) as e:
                raise ConfigError(f"{source}: {field}-data is not base64: {e}") from None
            paths.append(_private_file(data, field))
        else:
            paths.append(None)
    cert, key = paths
    if (cert is None) != (key is None):
        raise ConfigError(
            f"{source}: a client certificate needs its key, and a key its certificate"
        )
    return cert, key


_PRIVATE_DIR: list[Path] = []


def _private_file(data: bytes, name: str) -> Path:
    if not _PRIVATE_DIR:
        _PRIVATE_DIR.append(Path(tempfile.mkdtemp(prefix="knet-client-")))
        # Key material does not outlive the process.
        atexit.register(shutil.rmtree, _PRIVATE_DIR[0], ignore_errors=True)
    fd, path = tempfile.mkstemp(prefix=name, dir=_PRIVATE_DIR[0])
    with os.fdopen(fd, "wb") as f:  # mkstemp creates it 0600
        f.write(data)
    return Path(path)


def load_kubeconfig(path: Path | str | None = None, context: str | None = None) -> ClientConfig:
    source = Path(path) if path is not None else default_kubeconfig_path()
    try:
        text = source.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read kubeconfig {source}: {e.strerror or e}") from e
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source} is not valid YAML: {e}") from e
    return config_from_kubeconfig(doc, source, context)
