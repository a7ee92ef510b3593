"""agnhost netexec, as Kubernetes' e2e tests use it (standard library only).

HTTP (``--http-port``, default 8080):
  /              ``NOW: <time>``
  /hostname      the hostname (the pod's name)
  /echo?msg=X    X (``&code=N`` answers with status N)
  /clientip      the client's ``ip:port``
  /header?key=K  the request's header K
  /healthz       200 ``ok``
  /exit?code=N   exit with code N
  /shutdown      exit 0 after answering
  /dial?request=R&host=H&port=P&protocol=http|udp&tries=N
                 ask another netexec, JSON ``{"responses": [...], "errors": [...]}``
UDP (``--udp-port``, default 8081): ``hostname`` → the hostname, ``echo X`` → X,
``clientip`` → the client's ``ip:port``.

Run with ``python -m kubelet_lite.runtime.images.netexec [flags]``; the runtime runs it in a
process forked from the zygote instead, which is the same program without the start-up cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any

from kubelet_lite.runtime.images.httpserve import Request, Response, serve_http, text


def reason(exc: OSError) -> str:
    """``address already in use``, as Go's net package words it."""
    return os.strerror(exc.errno).lower() if exc.errno else str(exc)


def hostname() -> str:
    return socket.gethostname()


def udp_reply(message: str, peer: tuple[str, int]) -> str | None:
    msg = message.strip()
    if msg == "hostname":
        return hostname()
    if msg.startswith("echo "):
        return msg[5:]
    if msg == "clientip":
        return f"{peer[0]}:{peer[1]}"
    return None


class _Udp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: Any = (
            None  # asyncio's datagram transport (not a DatagramTransport subclass)
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = udp_reply(data.decode(errors="replace"), addr)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply.encode(), addr)


async def _http_get(host: str, port: int, path: str, timeout: float) -> str:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        req = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
        writer.write(req.encode())
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1] if head.count(b" ") >= 1 else b"?"
    if not status.startswith(b"2"):
        raise OSError(f"status {status.decode()}")
    return body.decode(errors="replace")


class _UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


async def _udp_ask(host: str, port: int, message: str, timeout: float) -> str:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_UdpClient, remote_addr=(host, port))
    try:
        transport.sendto(message.encode())
        return (await asyncio.wait_for(proto.reply, timeout)).decode(errors="replace")
    finally:
        transport.close()


async def dial(req: Request) -> Response:
    host, port_s = req.arg("host"), req.arg("port")
    protocol, request = req.arg("protocol", "http"), req.arg("request")
    try:
        port, tries = int(port_s), int(req.arg("tries", "1"))
    except ValueError:
        return text("port and tries must be integers\n", 400)
    if not host or not request or tries < 1:
        return text("dial needs host, port, request and tries >= 1\n", 400)
    responses: list[str] = []
    errors: list[str] = []
    for _ in range(tries):
        try:
            if protocol == "http":
                path = request if request.startswith("/") else "/" + request
                responses.append(await _http_get(host, port, path, 5.0))
            elif protocol == "udp":
                responses.append(await _udp_ask(host, port, request, 5.0))
            else:
                return text(f"unsupported protocol {protocol!r}\n", 400)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    body = json.dumps({"responses": responses, "errors": errors})
    return Response(200, body.encode(), "application/json")


def _exit_later(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


async def handle(req: Request) -> Response:
    path = req.path
    if path == "/":
        return text(f"NOW: {time.strftime('%Y-%m-%d %H:%M:%S %z')}")
    if path in ("/hostname", "/hostName"):
        return text(hostname())
    if path == "/echo":
        code = int(req.arg("code", "200") or "200")
        return text(req.arg("msg"), code)
    if path == "/clientip":
        return text(f"{req.peer[0]}:{req.peer[1]}")
    if path == "/header":
        return text(req.headers.get(req.arg("key").lower(), ""))
    if path == "/healthz":
        return text("ok")
    if path == "/exit":
        code = int(req.arg("code", "0") or "0")
        return Response(200, b"", after=lambda: _exit_later(code))
    if path == "/shutdown":
        return Response(200, b"", after=lambda: _exit_later(0))
    if path == "/dial":
        return await dial(req)
    return text("404 page not found\n", 404)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="agnhost netexec", allow_abbrev=False)
    p.add_argument("--http-port", type=int, default=8080)
    p.add_argument("--udp-port", type=int, default=8081)
    p.add_argument("--sctp-port", type=int, default=-1)
    p.add_argument("--udp-listen-addresses", default="")
    p.add_argument("--http-override", default="")
    p.add_argument("--delay-shutdown", type=int, default=0)
    return p


# Built once, in the zygote that imports this: each container only parses (parsing leaves the
# parser as it was).
_PARSER = _parser()


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    return _PARSER.parse_args(list(argv))


async def serve(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    if args.delay_shutdown > 0:
        # Only then does agnhost catch SIGTERM; otherwise the signal ends it (exit 143).
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        server = await serve_http("0.0.0.0", args.http_port, handle)
    except OSError as exc:
        print(f"listen tcp :{args.http_port}: bind: {reason(exc)}", file=sys.stderr)
        return 1
    print(f"Started HTTP server on port {args.http_port}", flush=True)
    if args.udp_port > 0:
        try:
            await loop.create_datagram_endpoint(_Udp, local_addr=("0.0.0.0", args.udp_port))
        except OSError as exc:
            print(f"listen udp :{args.udp_port}: bind: {reason(exc)}", file=sys.stderr)
            return 1
        print(f"Started UDP server on port {args.udp_port}", flush=True)
    await stop.wait()
    if args.delay_shutdown > 0:
        print(f"Sleeping {args.delay_shutdown} seconds before terminating...", flush=True)
        await asyncio.sleep(args.delay_shutdown)
    server.close()
    return 0


def main(argv: Sequence[str]) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
