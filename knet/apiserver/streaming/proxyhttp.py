"""The pure parts of ``pods/proxy`` and ``services/proxy``: reading ``[scheme:]name[:port]``,
picking a ready endpoint as upstream does, and one HTTP/1.0 exchange written and read as bytes
(it travels over a port-forward channel, not a socket of ours).

HTTP/1.0 with ``Connection: close`` keeps the answer simple to relay: no chunking, the body
ends when the connection does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from knet.apiserver import errors
from knet.apiserver.errors import ApiError

# Hop-by-hop headers (RFC 9110 7.6.1) and the length, which the relay sets itself.
NOT_RELAYED = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "content-length",
}
MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Target:
    scheme: str
    name: str
    port: str


def split_scheme_name_port(raw: str) -> Target | None:
    """``name``, ``name:port``, ``scheme:name:port`` or ``scheme:name:`` (upstream's
    SplitSchemeNamePort); None when malformed."""
    parts = raw.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, name, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        return None
    if not name or scheme not in ("", "http", "https"):
        return None
    return Target(scheme, name, port)


def service_port_name(service: dict[str, Any], port: str) -> str:
    """The service port name a ``:port`` means (a number names the port that has it)."""
    if not port.isdigit():
        return port
    for p in (service.get("spec") or {}).get("ports") or []:
        if str(p.get("port")) == port:
            return str(p.get("name") or "")
    name = (service.get("metadata") or {}).get("name", "")
    raise ApiError(503, "ServiceUnavailable", f'no service port {port} found for service "{name}"')


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    pod: str  # the targetRef's name; "" when the endpoint names no pod
    namespace: str


def ready_endpoints(slices: list[dict[str, Any]], port_name: str) -> list[Endpoint]:
    found = []
    for sl in slices:
        ports = [p for p in sl.get("ports") or [] if str(p.get("name") or "") == port_name]
        for p in ports:
            for ep in sl.get("endpoints") or []:
                if (ep.get("conditions") or {}).get("ready") is False:
                    continue
                ref = ep.get("targetRef") or {}
                for ip in ep.get("addresses") or []:
                    found.append(
                        Endpoint(
                            ip,
                            int(p.get("port") or 0),
                            ref.get("name", ""),
                            ref.get("namespace", ""),
                        )
                    )
    return found


def pick_endpoint(
    service: dict[str, Any], slices: list[dict[str, Any]], raw: str, rng: random.Random
) -> Endpoint:
    """A ready endpoint of the service for the request's ``:port``, or upstream's 503."""
    target = split_scheme_name_port(raw)
    assert target is not None
    eps = [e for e in ready_endpoints(slices, service_port_name(service, target.port)) if e.pod]
    if not eps:
        raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{raw}"')
    return rng.choice(eps)


def request_bytes(
    method: str, path: str, query: str, host: str, headers: dict[str, str], body: bytes
) -> bytes:
    target = "/" + path.lstrip("/") + (f"?{query}" if query else "")
    lines = [f"{method} {target} HTTP/1.0", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass(frozen=True)
class Head:
    status: int
    headers: list[tuple[str, str]]


def parse_head(raw: bytes) -> Head:
    """The status line and headers of an HTTP/1.x answer (without the blank line)."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise errors.bad_request(f"the backend did not answer HTTP: {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() not in NOT_RELAYED:
            headers.append((name.strip(), value.strip()))
    return Head(int(parts[1]), headers)
