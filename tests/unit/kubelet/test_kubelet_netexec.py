"""The built-in agnhost netexec and web servers, served on loopback only."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import pytest

from kubelet_lite.runtime.images import netexec, static
from kubelet_lite.runtime.images.httpserve import serve_http


async def get(port: int, path: str, method: str = "GET") -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


@pytest.fixture
async def server() -> AsyncIterator[int]:
    srv = await serve_http("127.0.0.1", 0, netexec.handle)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        srv.close()
        await srv.wait_closed()


async def test_http_endpoints(server: int) -> None:
    assert await get(server, "/hostname") == (200, socket.gethostname())
    assert await get(server, "/echo?msg=hello%20there") == (200, "hello there")
    assert (await get(server, "/echo?msg=x&code=503"))[0] == 503
    code, body = await get(server, "/clientip")
    assert code == 200 and body.startswith("127.0.0.1:")
    assert await get(server, "/healthz") == (200, "ok")
    assert (await get(server, "/"))[1].startswith("NOW: ")
    assert (await get(server, "/nope"))[0] == 404
    assert await get(server, "/hostname", "HEAD") == (200, "")


async def test_keep_alive_serves_several_requests(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    for msg in ("a", "b"):
        writer.write(f"GET /echo?msg={msg} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(h for h in head.split(b"\r\n") if h.startswith(b"Content-Length")).split()[1]
        )
        assert await reader.readexactly(length) == msg.encode()
    writer.close()


def test_udp_replies() -> None:
    peer = ("127.0.0.1", 4242)
    assert netexec.udp_reply("hostname\n", peer) == socket.gethostname()
    assert netexec.udp_reply("echo hi there", peer) == "hi there"
    assert netexec.udp_reply("clientip", peer) == "127.0.0.1:4242"
    assert netexec.udp_reply("what", peer) is None


async def test_dial_asks_another_netexec_over_http_and_udp(server: int) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(netexec._Udp, local_addr=("127.0.0.1", 0))
    udp_port = transport.get_extra_info("sockname")[1]
    try:
        code, body = await get(
            server, f"/dial?request=hostname&host=127.0.0.1&port={server}&protocol=http&tries=2"
        )
        assert code == 200
        assert json.loads(body) == {"responses": [socket.gethostname()] * 2, "errors": []}
        _, body = await get(
            server, f"/dial?request=echo%20x&host=127.0.0.1&port={udp_port}&protocol=udp&tries=1"
        )
        assert json.loads(body) == {"responses": ["x"], "errors": []}
        code, _ = await get(server, "/dial?request=hostname&host=127.0.0.1&port=x")
        assert code == 400
    finally:
        transport.close()


async def test_static_page_handlers() -> None:
    srv = await serve_http("127.0.0.1", 0, static.page_handler(static.NGINX_INDEX))
    port = srv.sockets[0].getsockname()[1]
    try:
        code, body = await get(port, "/")
        assert code == 200 and "Welcome to nginx!" in body
        assert (await get(port, "/missing"))[0] == 404
        assert (await get(port, "/", "DELETE"))[0] == 405
    finally:
        srv.close()


async def test_port_in_use_is_an_error_exit(capsys: pytest.CaptureFixture[str]) -> None:
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        code = await netexec.serve(netexec.parse_args([f"--http-port={port}", "--udp-port=0"]))
    finally:
        holder.close()
    assert code == 1
    assert f"listen tcp :{port}: bind: address already in use" in capsys.readouterr().err


def test_bad_flags_exit_nonzero() -> None:
    assert netexec.main(["--no-such-flag"]) == 2
