"""Small programs the lab runs inside its pod namespaces (via nsenter). Standard library only.

serve --port P                       accept TCP connections, send one greeting byte, read
                                     each to EOF, close; prints "ready" once listening
connect --target IP:PORT ... --samples N
                                     N TCP connects per target, round robin, each timed
                                     from connect() to the handshake's completion ("us")
                                     and to the greeting's arrival ("ttfb_us");
                                     JSON {target: {"us": [...], "ttfb_us": [...],
                                     "failures": n, "error": s}}
throughput --target IP:PORT --bytes B --seconds S
                                     send up to B bytes for at most S seconds, then wait
                                     for the server to finish; JSON {"bytes", "seconds"}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import sys
import time
from collections.abc import Sequence
from typing import Any

# Close with RST (linger 0): no TIME_WAIT pile-up on either side over thousands of samples.
_LINGER_RESET = struct.pack("ii", 1, 0)
# The server speaks first. In userspace mode the handshake completes in the node's kernel (the
# proxy's listen queue), so only this byte's arrival shows the proxy's own hop to the pod.
GREETING = b"!"


def parse_target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"target {text!r} is not IP:PORT")
    socket.inet_aton(host)
    return host, int(port)


async def _drain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        writer.write(GREETING)
        while await reader.read(1 << 18):
            pass
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _serve(port: int) -> None:
    server = await asyncio.start_server(_drain, "0.0.0.0", port, backlog=4096, reuse_address=True)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def connect_samples(
    targets: Sequence[tuple[str, int]],
    samples: int,
    warmup: int,
    timeout: float,
    deadline: float,
) -> dict[str, dict[str, Any]]:
    """Round robin over ``targets`` so slow drift affects each alike; stops at ``deadline``."""
    out: dict[str, dict[str, Any]] = {
        f"{h}:{p}": {"us": [], "ttfb_us": [], "failures": 0, "error": ""} for h, p in targets
    }
    stop = time.monotonic() + deadline
    for k in range(warmup + samples):
        if time.monotonic() > stop:
            break
        for host, port in targets:
            entry = out[f"{host}:{port}"]
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                sock.settimeout(timeout)
                started = time.perf_counter_ns()
                sock.connect((host, port))
                connected = time.perf_counter_ns()
                if sock.recv(1) != GREETING:
                    raise ConnectionError("closed without the greeting")
                greeted = time.perf_counter_ns()
                if k >= warmup:  # the first connects pay for ARP and cold caches
                    entry["us"].append((connected - started) / 1000)
                    entry["ttfb_us"].append((greeted - started) / 1000)
            except OSError as e:
                entry["failures"] += 1
                entry["error"] = entry["error"] or f"{type(e).__name__}: {e}"
            finally:
                sock.close()
    return out


def throughput(target: tuple[str, int], total: int, seconds: float) -> dict[str, float]:
    chunk = b"\0" * (1 << 18)
    sent = 0
    with socket.create_connection(target, timeout=10) as sock:
        started = time.perf_counter()
        stop = started + seconds
        while sent < total and time.perf_counter() < stop:
            sock.sendall(chunk)
            sent += len(chunk)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(1 << 16):  # the server closes once it has read everything
            pass
        elapsed = time.perf_counter() - started
    return {"bytes": sent, "seconds": elapsed}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kproxy.lab.agent", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    c = sub.add_parser("connect")
    c.add_argument("--target", action="append", required=True)
    c.add_argument("--samples", type=int, default=1000)
    c.add_argument("--warmup", type=int, default=20)
    c.add_argument("--timeout", type=float, default=2.0)
    c.add_argument("--deadline", type=float, default=60.0)
    t = sub.add_parser("throughput")
    t.add_argument("--target", required=True)
    t.add_argument("--bytes", type=int, default=1 << 30)
    t.add_argument("--seconds", type=float, default=2.0)
    args = p.parse_args(argv)
    if args.command == "serve":
        asyncio.run(_serve(args.port))
        return 0
    try:
        if args.command == "connect":
            targets = [parse_target(x) for x in args.target]
            result: Any = connect_samples(
                targets, args.samples, args.warmup, args.timeout, args.deadline
            )
        else:
            result = throughput(parse_target(args.target), args.bytes, args.seconds)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
