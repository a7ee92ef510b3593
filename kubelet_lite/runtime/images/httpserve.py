"""A small HTTP/1.1 server on asyncio for the built-in images (standard library only).

Enough of HTTP for probes, curl and Kubernetes' e2e clients: GET/HEAD/POST, query strings,
keep-alive, Content-Length bodies. One handler function answers every request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    413: "Payload Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    peer: tuple[str, int]
    body: bytes = b""

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    # Run after the response went out (e.g. /shutdown exits only once the client has its reply).
    after: Callable[[], None] | None = None


Handler = Callable[[Request], Awaitable[Response]]


def text(body: str, status: int = 200) -> Response:
    return Response(status, body.encode())


async def _read_request(
    reader: asyncio.StreamReader, peer: tuple[str, int]
) -> tuple[Request, bool] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) != 3:
        raise ValueError("malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or "0")
    if length < 0 or length > MAX_BODY:
        raise ValueError("bad content length")
    body = await reader.readexactly(length) if length else b""
    url = urlsplit(target)
    conn = headers.get("connection", "").lower()
    keep = conn != "close" if version == "HTTP/1.1" else conn == "keep-alive"
    req = Request(method.upper(), url.path or "/", parse_qs(url.query), headers, peer, body)
    return req, keep


def _encode(resp: Response, head_only: bool, keep: bool) -> bytes:
    reason = REASONS.get(resp.status, "Unknown")
    hdrs = {
        "Content-Type": resp.content_type,
        "Content-Length": str(len(resp.body)),
        "Connection": "keep-alive" if keep else "close",
        **resp.headers,
    }
    head = f"HTTP/1.1 {resp.status} {reason}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    return head.encode("latin-1") + (b"" if head_only else resp.body)


async def serve_http(host: str, port: int, handler: Handler) -> asyncio.Server:
    """Listen on (host, port); raises OSError when the port is taken."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw_peer = writer.get_extra_info("peername") or ("", 0)
        peer = (str(raw_peer[0]), int(raw_peer[1]))
        try:
            while True:
                try:
                    got = await _read_request(reader, peer)
                except ValueError as exc:
                    writer.write(_encode(text(f"{exc}\n", 400), False, False))
                    break
                if got is None:
                    break
                req, keep = got
                try:
                    resp = await handler(req)
                except Exception as exc:
                    resp = text(f"{type(exc).__name__}: {exc}\n", 500)
                writer.write(_encode(resp, req.method == "HEAD", keep and resp.after is None))
                await writer.drain()
                if resp.after is not None:
                    writer.close()
                    with contextlib.suppress(Exception):
                        await writer.wait_closed()
                    resp.after()
                    return
                if not keep:
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()

    return await asyncio.start_server(on_client, host, port, limit=MAX_HEAD, reuse_address=True)
