"""kubectl on the host reaches the control plane machine without anything added to the root
network namespace: this process listens on 127.0.0.1 (a socket, not a route or an address) and
opens each upstream connection from a socket created inside the underlay namespace (by a
throwaway thread that enters it: knet.netlink.nsthread), where 192.168.56.0/24 exists.

    python -m knet.machines.relay --port 40123 --netns km-knet-ul --to 192.168.56.10:6443
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys

from knet.netlink import netns
from knet.netlink.nsthread import call_in_netns

CHUNK = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


def upstream_socket(netns_path: str) -> socket.socket:
    """A TCP socket that belongs to the namespace at ``netns_path`` (for good)."""
    return call_in_netns(netns_path, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))


async def relay_one(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, netns_path: str, to: tuple[str, int]
) -> None:
    loop = asyncio.get_running_loop()
    up_reader: asyncio.StreamReader | None = None
    up_writer: asyncio.StreamWriter | None = None
    try:
        sock = upstream_socket(netns_path)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, to), timeout=10)
        except BaseException:
            sock.close()
            raise
        up_reader, up_writer = await asyncio.open_connection(sock=sock)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    except (OSError, TimeoutError):
        pass  # the client sees its connection closed, as with an unreachable server
    finally:
        for w in (writer, up_writer):
            if w is not None:
                w.close()


async def serve(port: int, netns_path: str, to: tuple[str, int]) -> None:
    server = await asyncio.start_server(
        lambda r, w: relay_one(r, w, netns_path, to), "127.0.0.1", port
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def parse_target(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"--to must be HOST:PORT, not {text!r}")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m knet.machines.relay", description=__doc__)
    p.add_argument("--port", type=int, required=True, help="port on 127.0.0.1")
    p.add_argument("--netns", required=True, help="namespace the upstream socket lives in")
    p.add_argument("--to", type=parse_target, required=True, metavar="HOST:PORT")
    args = p.parse_args(argv)
    try:
        asyncio.run(serve(args.port, netns.path(args.netns), args.to))
    except (OSError, ValueError) as exc:
        print(f"relay: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
